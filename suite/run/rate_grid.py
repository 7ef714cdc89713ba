"""The same learning-rate search for every regime: a small log-spaced grid, chosen on validation.

Kornblith, Shlens and Le ("Do Better ImageNet Models Transfer Better?", CVPR 2019) gave scratch, frozen and
fine-tuned training the same hyperparameter search, chosen on validation, so that "transfer wins" is a finding
about the weights and not about a recipe. A case with ``lr_grid = k`` does the same: ``k`` rates spaced by
``suite.case.GRID_FACTOR`` around its ``learning_rate`` each train a short rung (``suite.case.RUNG_SHARE`` of
its epochs, its head epochs whole), from the same start and seed; the rate with the best validation accuracy
trains the full budget. That is successive halving with two rungs: k short runs, then one long one, about twice
one case's training for k = 3 (``suite.case.grid_rungs``; the dry run and the ETA price the rungs). The test set
plays no part. The rungs' scores go to ``DIR/rate_grid/<case>-s<seed>.csv`` and the chosen rate to the row's
``learning_rate``; the grid itself is the case's ``lr_grid`` and its ``learning_rate`` centre (``case_json``).
"""

from __future__ import annotations

import dataclasses
import logging
import math

import pandas as pd

from suite import progress, storage
from suite.case import Case, grid_rungs
from suite.regimes import Regime
from suite.run import steps

log = logging.getLogger(__name__)

FOLDER = "rate_grid"


def choose_rate(runner, case: Case, regime: Regime, seed: int, inputs: steps.Inputs) -> tuple[Case, dict]:
    """Trains each grid rate's rung and returns ``case`` at the rate with the best validation accuracy (ties: the
    one nearest the centre), and the row's columns. A case without a grid passes through."""
    if case.lr_grid <= 1:
        return case, {}
    scores = []
    for trial in grid_rungs(case):
        rate = trial.learning_rate
        progress.emit(stage="rate grid", message=f"learning rate {rate:.2g}")
        built = steps.build(runner, trial, seed, inputs)
        scores.append({"learning_rate": rate, "val_accuracy": steps.rehearse(trial, seed, regime, inputs, built)})
        log.info("  %s seed %d: rate %.3g reached validation %.4f", case.id, seed, rate, scores[-1]["val_accuracy"])
    frame = pd.DataFrame(scores)
    distance = (frame["learning_rate"] / case.learning_rate).map(lambda r: abs(math.log(r)))
    best = frame.assign(distance=distance).sort_values(["val_accuracy", "distance"], ascending=[False, True]).iloc[0]
    frame["chosen"] = frame["learning_rate"] == best["learning_rate"]
    path = storage.case_file(runner.results_dir, FOLDER, case.id, seed, ".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    chosen = float(best["learning_rate"])
    return dataclasses.replace(case, learning_rate=chosen), {"learning_rate": chosen}
