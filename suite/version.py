"""The suite's version: part of every row's key (``suite.run.jobs.case_key``), so a new version reruns its cases."""

__version__ = "0.2.0"
