"""Runs a KerasTuner search for one tuned case, resumes it, and writes its trials table.

The tuner's state lives in ``DIR/tuning/<case_id>/<search>/`` where ``<search>``
hashes the resolved space with everything else that makes trials comparable
(the case's fields bar ``trials`` and ``epochs``, the weights, the seed): a
rerun with the same case reloads the oracle (``overwrite=False``) and runs only
the trials still missing, while a changed space starts a new folder instead
of failing to reload. ``DIR/tuning/<case_id>/trials.csv`` is rebuilt from the
tuners' own ``trial.json`` files after every search, so a trial appears once
however often the search was resumed.

A trial killed while running (KerasTuner issue #439) is left RUNNING in the
oracle's state; KerasTuner 1.4 puts such trials in its retry queue on reload
and runs them again under the same id. Each start is counted in the trial's
folder, and a trial that has already been started ``MAX_STARTS`` times is
failed without running, so a trial that kills its process every time cannot
loop the search forever. A trial that raises is failed at once
(``max_retries_per_trial=0``: trials are seeded, a rerun would fail alike);
``MAX_CONSECUTIVE_FAILURES`` failures in a row end the search with an error.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras_tuner
import pandas as pd
from keras_tuner.engine import base_tuner  # the public alias of keras_tuner.src.engine.base_tuner

from suite import progress, transfer
from suite.case import Case
from suite.models import builder_hash
from suite.regimes import REGIMES, Regime
from suite.registry import validate
from suite.search_space import configure, resolve_space, space_hash
from suite.train import tensorboard_dir
from suite.tuning.hypermodel import CaseHyperModel

log = logging.getLogger(__name__)

MAX_STARTS = 2  # a trial killed mid-run is run once more; killed again, it is failed
MAX_CONSECUTIVE_FAILURES = 3  # KerasTuner stops the search after this many failed trials in a row
HYPERBAND_FACTOR = 3
SEARCH_FILE = "search.json"  # what a search folder holds: case, tuner, space (for trials.csv and people)
TRIALS_FILE = "trials.csv"
CHECKPOINT = "checkpoint.weights.h5"  # Hyperband only: the next round warm-starts from it


class CaseTuner(base_tuner.BaseTuner):
    """Runs each trial through ``CaseHyperModel``; the oracle decides what comes next."""

    def __init__(self, oracle, hypermodel: CaseHyperModel, **kwargs):
        super().__init__(oracle, hypermodel, **kwargs)

    def _populate_initial_space(self) -> None:
        # The space has no conditional parts, so declaring it is enough; KerasTuner's default builds
        # the model (a full backbone with its weights) just to discover the hyperparameters.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def run_trial(self, trial, *args, **kwargs) -> dict[str, float]:
        trial_dir = Path(self.get_trial_dir(trial.trial_id))
        starts_file = trial_dir / "starts.txt"
        starts = int(starts_file.read_text()) if starts_file.is_file() else 0
        if starts >= MAX_STARTS:
            raise keras_tuner.errors.FailedTrialError(
                f"trial {trial.trial_id} was started {starts} times and never finished (its process was killed); "
                "given up"
            )
        starts_file.write_text(str(starts + 1))
        hypermodel: CaseHyperModel = self.hypermodel
        runner_dir = hypermodel.runner.results_dir
        board = tensorboard_dir(runner_dir, hypermodel.case.id, hypermodel.seed) / "trials" / str(trial.trial_id)
        hypermodel.board_dir = board  # KerasTuner's own Tuner gives each trial a TensorBoard folder the same way
        hp = trial.hyperparameters
        progress.emit(stage="search", message=f"trial {int(trial.trial_id) + 1}/{self.oracle.max_trials or '?'}")
        started = time.perf_counter()
        model = self.hypermodel.build(hp)
        epochs = hp.values.get("tuner/epochs")
        initial_epoch = 0
        previous = hp.values.get("tuner/trial_id")
        if previous is not None:  # Hyperband's next round: go on from the earlier round's weights if they are here
            checkpoint = Path(self.get_trial_dir(previous)) / CHECKPOINT
            if checkpoint.is_file():
                model.load_weights(checkpoint)
                initial_epoch = hp.values.get("tuner/initial_epoch", 0)
        metrics = self.hypermodel.fit(hp, model, epochs=epochs, initial_epoch=initial_epoch)
        if epochs is not None:
            model.save_weights(trial_dir / CHECKPOINT)
        metrics["trial_seconds"] = time.perf_counter() - started
        log.info(
            "  %s trial %s: score %.4f, val_acc %.4f%s, %.1f s",
            self.hypermodel.case.id,
            trial.trial_id,
            metrics["score"],
            metrics["val_accuracy"],
            f", {metrics['latency_ms']:.2f} ms" if "latency_ms" in metrics else "",
            metrics["trial_seconds"],
        )
        return metrics

    def save_model(self, trial_id, model, step=0) -> None:
        """Trial models are not kept (the best configuration is retrained); Hyperband keeps its own weights."""

    def load_model(self, trial):
        raise NotImplementedError("trial models are not kept; retrain the best hyperparameters")


def make_oracle(case: Case, seed: int):
    """The KerasTuner oracle of ``case.tuner`` over ``case.trials`` trials, maximising ``score``."""
    objective = keras_tuner.Objective("score", direction="max")
    common = dict(
        objective=objective,
        seed=seed,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=MAX_CONSECUTIVE_FAILURES,
    )
    if case.tuner == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(
            max_epochs=case.trial_epochs, factor=HYPERBAND_FACTOR, hyperband_iterations=1, **common
        )
        oracle.max_trials = case.trials  # Hyperband sizes its own brackets; the profile's trials still cap it
        return oracle
    if case.tuner == "bayesian":
        # A third of the trials random before the Gaussian process proposes (KerasTuner's default, 3 per
        # hyperparameter, would leave a small budget all random).
        initial = max(2, case.trials // 3)
        return keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=case.trials, num_initial_points=initial, **common
        )
    return keras_tuner.oracles.RandomSearchOracle(max_trials=case.trials, **common)


def case_dir(results_dir: Path, case: Case) -> Path:
    return Path(results_dir) / "tuning" / case.id


def search_name(case: Case, space: dict, weights: str, seed: int, transfer_side: int = 0) -> str:
    """The search's folder name: a hash of the space and of everything else its trials depend on (a profile's
    ``transfer_side`` only where set, so the names of earlier searches stay as they were)."""
    fields = json.loads(case.to_json())
    # Trials train on one device whatever the case's strategy and Ray reservation (suite.distribute, --executor ray).
    for not_in_trials in ("trials", "epochs", "search_space", "strategy", "task_cpus", "task_gpus"):
        fields.pop(not_in_trials)
    more = [builder_hash(case.arch)] if builder_hash(case.arch) else []  # a changed user builder: a new search
    more += [f"transfer_side={transfer_side}"] if transfer_side else []  # trials at another input side
    return space_hash(space, fields, weights, seed, *more)


def make_tuner(runner, case: Case, seed: int, directory: Path | None = None) -> CaseTuner:
    """The case's tuner, reloading an earlier search of the same space from its folder if there is one."""
    space = resolve_space(case)
    weights = transfer.resolve_weights(case, runner.profile)
    name = search_name(case, space, weights, seed, runner.profile.transfer_side)
    root = Path(directory) if directory else case_dir(runner.results_dir, case)
    root.mkdir(parents=True, exist_ok=True)
    hypermodel = CaseHyperModel(case, REGIMES[case.regime], space, runner, weights, seed)
    tuner = CaseTuner(make_oracle(case, seed), hypermodel, directory=str(root), project_name=name, overwrite=False)
    meta = {
        "case_id": case.id,
        "seed": seed,
        "tuner": case.tuner,
        "trials": case.trials,
        "trial_epochs": case.trial_epochs,
        "latency_budget_ms": case.latency_budget_ms,
        "weights": weights,
        "space": space,
    }
    (Path(tuner.project_dir) / SEARCH_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
    return tuner


@dataclass(kw_only=True)
class SearchResult:
    """What a finished search hands to the retraining and to the row."""

    case: Case  # the tuned case with the best settings
    regime: Regime  # the tuned regime with the best freeze_fraction
    best: dict[str, Any]  # the best trial's searched values (JSON-ready)
    trials: int  # trials the oracle holds, finished or failed
    seconds: float  # sum of the trials' own wall times: a resumed search counts each trial once
    table: Path  # trials.csv

    def row(self) -> dict:
        """The tuning columns of ``results.csv``."""
        return {
            "tuner": self.case.tuner,
            "tuner_trials": self.trials,
            "tuner_search_seconds": round(self.seconds, 2),
            "tuner_best_json": json.dumps(self.best, sort_keys=True),
            "tuner_latency_budget_ms": self.case.latency_budget_ms or None,
            "optimizer": self.case.optimizer,
            "learning_rate": self.case.learning_rate,
        }


def result_of(tuner: CaseTuner, case: Case, results_dir: Path) -> SearchResult:
    """The best trial as a case and regime to retrain; writes the trials table."""
    table = write_trials_table(case_dir(results_dir, case))
    trials = list(tuner.oracle.trials.values())
    best = tuner.oracle.get_best_trials(1)
    if not best or best[0].status != "COMPLETED":
        raise RuntimeError(f"the search of {case.id} finished no trial; see {table}")
    values = {k: v for k, v in best[0].hyperparameters.values.items() if not k.startswith("tuner/")}
    hypermodel: CaseHyperModel = tuner.hypermodel
    best_case, best_regime = configure(case, hypermodel.regime, hypermodel.space, values)
    seconds = sum(_metric(t, "trial_seconds") or 0.0 for t in trials)
    return SearchResult(
        case=validate(best_case), regime=best_regime, best=values, trials=len(trials), seconds=seconds, table=table
    )


def search(runner, case: Case, seed: int) -> SearchResult:
    """Searches (or finishes searching) ``case``'s space in this process; returns the best configuration."""
    tuner = make_tuner(runner, case, seed)
    started = time.perf_counter()
    log.info("  %s seed %d: %s search, %d trials, in %s", case.id, seed, case.tuner, case.trials, tuner.project_dir)
    try:
        tuner.search(verbose=0)
    finally:
        write_trials_table(case_dir(runner.results_dir, case))
    log.info("  %s seed %d: search done in %.0f s", case.id, seed, time.perf_counter() - started)
    return result_of(tuner, case, runner.results_dir)


def _metric(trial, name: str) -> float | None:
    return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None


def write_trials_table(folder: Path) -> Path:
    """``folder/trials.csv``: one row per trial of every search of the case, from the tuners' own state.

    Columns: ``search`` (folder hash), ``seed``, ``tuner``, ``trial`` (KerasTuner's
    id, in start order), ``status``, ``score`` (the objective), ``val_accuracy``,
    ``latency_ms`` (batch 1, with a budget only), ``latency_budget_ms``,
    ``feasible``, ``epochs``, ``train_seconds``, ``trial_seconds``, ``message``
    (a failed trial's last line), then one ``hp_<name>`` column per hyperparameter.
    """
    rows = []
    for trial_json in sorted(Path(folder).glob("*/trial_*/trial.json")):
        meta_file = trial_json.parent.parent / SEARCH_FILE
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        trial = keras_tuner.engine.trial.Trial.load(str(trial_json))
        metric = functools.partial(_metric, trial)
        budget = meta.get("latency_budget_ms") or None
        latency = metric("latency_ms")
        message = (trial.message or "").strip().splitlines()
        rows.append(
            {
                "search": trial_json.parent.parent.name,
                "seed": meta.get("seed"),
                "tuner": meta.get("tuner"),
                "trial": trial.trial_id,
                "status": trial.status,
                "score": trial.score,
                "val_accuracy": metric("val_accuracy"),
                "latency_ms": latency,
                "latency_budget_ms": budget,
                "feasible": None if budget is None or latency is None else latency <= budget,
                "epochs": metric("epochs"),
                "train_seconds": metric("train_seconds"),
                "trial_seconds": metric("trial_seconds"),
                "message": message[-1] if message else "",
                **{f"hp_{k.replace('/', '_')}": v for k, v in trial.hyperparameters.values.items()},
            }
        )
    path = Path(folder) / TRIALS_FILE
    Path(folder).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
