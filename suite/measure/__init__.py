"""Measurement: timing (``timing``), the protocol that turns a model into a row (``inference``), static facts
(``model_facts``: parameters, FLOPs, memory; ``arch_facts``: the architecture table's counts) and the machine's
roof (``roof``).

The submodules are imported on first use (PEP 562), as they import TensorFlow: `suite archs` reads
``arch_facts``, which needs none, and lists at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suite.measure import model_facts, timing
    from suite.measure.inference import InferenceReport, measure_inference

__all__ = ["InferenceReport", "measure_inference", "model_facts", "timing"]
_FROM_INFERENCE = {"InferenceReport", "measure_inference"}


def __getattr__(name: str):
    """``suite.measure.measure_inference`` and the rest of ``__all__``, imported when first asked for."""
    if name in _FROM_INFERENCE:
        return getattr(importlib.import_module("suite.measure.inference"), name)
    if name in __all__:
        return importlib.import_module(f"suite.measure.{name}")
    raise AttributeError(f"module 'suite.measure' has no attribute {name!r}")
