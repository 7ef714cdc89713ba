"""The ``tuned`` regime: a KerasTuner search over a case's training settings, then the best one trained.

Layered as KerasTuner is: ``space`` (what may vary, from the case), ``hypermodel``
(what a trial builds and how it trains and scores), ``search`` (the oracle and
tuner: running, resuming, the trials table) and ``distributed`` (KerasTuner's
chief/worker mode behind ``suite tune``). Importing this package is cheap;
KerasTuner is imported by the modules that need it.
"""
