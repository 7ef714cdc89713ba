"""Deployment: the trained model exported to the formats people ship (``formats``), run on their own runtimes
(``runtimes``) and measured by one protocol (``measure``); ``stage`` makes a case's ``formats.csv`` rows.

A stage after ``suite.measure``; it never imports from ``suite.report``.
"""

from suite.deploy.formats import EXPORTED, FORMATS, Format, missing_package, parse_formats

__all__ = ["EXPORTED", "FORMATS", "Format", "missing_package", "parse_formats"]
