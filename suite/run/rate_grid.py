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

The grid runs once per case, on the run's first seed; the other seeds train at the rate it chose
(``learning_rate_seed`` says which seed chose it). A hyperparameter is chosen once and the seeds then measure the
training variance at it, as a paper reports its chosen setting over seeds; it also spares two of every three grids.
Every regime still gets the same grid on the same seed. The scheduler starts a case's later seeds only after its
first seed's job has ended; if that job failed before choosing, a later seed searches the grid on its own seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math

import pandas as pd

from suite import progress, storage
from suite.case import Case, grid_rungs
from suite.regimes import Regime
from suite.run import steps

log = logging.getLogger(__name__)

FOLDER = "rate_grid"
GRID_PRETRAIN = "grid_source_pretrain_seconds"  # not a row column: the runner adds it to source_pretrain_seconds


def choose_rate(runner, case: Case, regime: Regime, seed: int, inputs: steps.Inputs) -> tuple[Case, dict]:
    """Trains each grid rate's rung and returns ``case`` at the rate with the best validation accuracy (ties: the
    one nearest the centre), and the row's columns. A case without a grid passes through."""
    if case.lr_grid <= 1:
        return case, {}
    first = runner.settings.seeds[0] if runner.settings.seeds else seed
    chosen_earlier = chosen_on(runner.results_dir, case, first) if seed != first else None
    if chosen_earlier is not None:
        log.info("  %s seed %d: rate %.3g, chosen on seed %d's validation", case.id, seed, chosen_earlier, first)
        return dataclasses.replace(case, learning_rate=chosen_earlier), {
            "learning_rate": chosen_earlier,
            "learning_rate_seed": first,
        }
    scores, pretrained_s = [], 0.0
    for trial in grid_rungs(case):
        rate = trial.learning_rate
        progress.emit(stage="rate grid", message=f"learning rate {rate:.2g}")
        built = steps.build(runner, trial, seed, inputs)
        pretrained_s += built.columns.get("source_pretrain_seconds") or 0.0  # the first rung pays a missing source
        scores.append({"learning_rate": rate, "val_accuracy": steps.rehearse(trial, seed, regime, inputs, built)})
        log.info("  %s seed %d: rate %.3g reached validation %.4f", case.id, seed, rate, scores[-1]["val_accuracy"])
    frame = pd.DataFrame(scores)
    distance = (frame["learning_rate"] / case.learning_rate).map(lambda r: abs(math.log(r)))
    best = frame.assign(distance=distance).sort_values(["val_accuracy", "distance"], ascending=[False, True]).iloc[0]
    frame["chosen"] = frame["learning_rate"] == best["learning_rate"]
    frame["case_digest"] = digest(case)
    path = storage.case_file(runner.results_dir, FOLDER, case.id, seed, ".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    chosen = float(best["learning_rate"])
    columns = {"learning_rate": chosen, "learning_rate_seed": seed, GRID_PRETRAIN: pretrained_s}
    return dataclasses.replace(case, learning_rate=chosen), columns


def digest(case: Case) -> str:
    """12 hex digits of every field of ``case`` (its grid's centre included): a grid file of another case, or of
    this case before an edit, is never read as this one's."""
    return hashlib.sha256(case.to_json().encode()).hexdigest()[:12]


def chosen_on(results_dir, case: Case, seed: int) -> float | None:
    """The rate ``case``'s grid chose on ``seed`` in this folder, if that grid ran for this very case; else None."""
    path = storage.case_file(results_dir, FOLDER, case.id, seed, ".csv")
    try:
        frame = pd.read_csv(path, dtype={"case_digest": str})
    except (OSError, ValueError):
        return None
    if "case_digest" not in frame or not (frame["case_digest"] == digest(case)).all() or frame["chosen"].sum() != 1:
        return None
    return float(frame.loc[frame["chosen"], "learning_rate"].iloc[0])
