"""Measurement: timing (``timing``), the protocol that turns a model into a row (``inference``), static facts
(``model_facts``: parameters, FLOPs, memory) and the machine's roof (``roof``)."""

from suite.measure import model_facts, timing
from suite.measure.inference import InferenceReport, measure_inference

__all__ = ["InferenceReport", "measure_inference", "model_facts", "timing"]
