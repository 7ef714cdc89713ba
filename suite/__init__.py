"""A Keras-native benchmark suite for image classifiers.

Which classifier, trained which way, gives the best accuracy for the latency you
can afford? The suite pairs architectures with training regimes and datasets
(``suite.registry``), trains and evaluates each case (``suite.run.runner``), measures
latency and throughput (``suite.measure``) and writes tables and charts
(``suite.storage``, ``suite.report``).
"""

from __future__ import annotations

from suite.version import __version__

__all__ = ["__version__", "register_architecture"]


def __getattr__(name: str):
    """``suite.register_architecture`` (``suite.plugins``), imported on first use: ``import suite`` stays light."""
    if name == "register_architecture":
        from suite.plugins import register_architecture

        return register_architecture
    raise AttributeError(f"module 'suite' has no attribute {name!r}")
