"""Runs one case for one seed in this process, as the steps of ``suite.run.steps`` in order, into one row.

``Runner.run_case`` returns the row and never raises: a case that raises
becomes a ``failed`` row with a one-line error and its traceback in
``DIR/errors/``. Which cases run, in which process, and where their rows go is
``suite.run.schedule``'s business; ``preflight`` checks the input that would fail
every case (an unusable dataset, a weights file that is missing or doesn't
fit) before the first one starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import traceback
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from suite import storage, transfer
from suite.case import Case
from suite.data.datasets import Datasets
from suite.data.pipeline import check_per_class, input_side
from suite.environment import configure_device, job_threads
from suite.errors import PrerequisiteFailed, SuiteError, one_line
from suite.measure import timing
from suite.models import ARCHITECTURES, build_backbone, build_classifier, user
from suite.regimes import Regime
from suite.run import drift, parallel, rate_grid, steps
from suite.run.jobs import base_row, now
from suite.run.settings import RunSettings
from suite.train import make_optimizer

log = logging.getLogger(__name__)

PROBE_STEPS = 4  # training steps a --budget probe times after its first
PROBE_WARMUP, PROBE_CALLS = 2, 5  # batch-1 calls a probe leaves untimed, then times


def preflight(
    cases: list[Case],
    data_dir: str | None = None,
    dataset: Datasets | None = None,
    *,
    every_dataset_unusable_fails: bool = True,
) -> dict[str, str]:
    """Checks datasets, input sides, user architectures and weights files before any training; returns
    ``{dataset: why}`` of unusable datasets.

    Raises ``SuiteError`` for an ``image_size`` below the architecture's minimum or one that a TF-Hub module on
    this machine was not traced for (``suite.sides``), for a user architecture that doesn't build
    (``suite.models.user.check``, once per input side), for a ``train_per_class`` above the smallest class's
    count, for a weights file that is missing or doesn't fit,
    and for an unusable dataset when every case needs one (unless not ``every_dataset_unusable_fails``: the dry
    run notes it). A dataset only
    some cases need (an unprepared CIFAR-10 beside digits) fails only those
    cases, as rows, so the rest of the night still runs. ``dataset`` keeps the splits it loaded for the caller.
    """
    dataset = dataset or Datasets(data_dir)
    unusable: dict[str, str] = {}
    built: set[tuple[str, int]] = set()  # user architectures already built once, at each side
    for case in cases:
        if case.dataset in unusable:
            continue
        try:
            raw = dataset(case.dataset, case.image_size)
        except SuiteError as error:
            unusable[case.dataset] = str(error)
            continue
        if case.train_per_class:
            check_per_class(case, raw)
        # The weights as the case names them: ImageNet is never checked for here (it needs no file, and whether
        # it can be had decides only the side of a Keras application, which nothing below builds).
        side = input_side(case.arch, raw.side, case.image_size, case.handle, weights=case.weights, case_id=case.id)
        if ARCHITECTURES[case.arch].source == "user" and (case.arch, side) not in built:
            built.add((case.arch, side))
            user.check(case.arch, side)  # a builder that can't build is bad input, not a failed row per case
        if case.weights in ("auto", "none", "imagenet") or case.weights.startswith("source:"):
            continue
        path = Path(case.weights).expanduser()
        if not path.is_file():
            raise SuiteError(f"case {case.id}: weights file {case.weights} does not exist")
        backbone = build_backbone(case.arch, side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum)
        try:
            transfer.check_weights_file(backbone, path)
        except transfer.WeightsUnavailable as error:
            raise SuiteError(f"case {case.id}: {error}") from None
        finally:
            keras.backend.clear_session()
    if every_dataset_unusable_fails and unusable and all(case.dataset in unusable for case in cases):
        raise SuiteError(next(iter(unusable.values())))
    return unusable


def _speed(row: dict) -> str:
    """The log's speed figures of a finished row; an untimed seed's (``MeasureBudget.timed_seeds``) has none."""
    if row.get("latency_p50_ms") is None:
        return " (not timed: the final lap times the network)"
    p50, rate, batch = row["latency_p50_ms"], row["throughput_ips"], row["throughput_batch"]
    return f", latency p50 {p50:.2f} ms, {rate:.0f} images/s at batch {batch}"


class Runner:
    """Runs resolved cases into one results folder; what the steps (``suite.run.steps``) share within a process."""

    def __init__(self, settings: RunSettings, device: str | None = None):
        """``device``: where the executor resolved ``settings.device`` to (default: resolve it here)."""
        self.settings = settings
        self.profile, self.results_dir, self.data_dir = settings.profile, settings.results_dir, settings.data_dir
        self.device = configure_device(device or settings.device)
        self.dataset = Datasets(settings.data_dir)  # runner.dataset(name, side): the raw splits, loaded once
        self.formats_for = settings.formats_for  # the deployed formats (suite.deploy) a case is exported to

    def run_case(self, case: Case, seed: int) -> dict:
        """Searches (tuned cases), trains, evaluates and measures one case for one seed; returns its row, never raises.

        If training runs out of memory (``ResourceExhaustedError``, a GPU OOM),
        it is built, trained and evaluated again with half the batch until it
        fits or the batch is 1 (a tuned case's search is not redone); the row
        keeps the final ``batch_size`` and the first ``train_oom_batch``.
        """
        row = base_row(case, seed, self.profile.name, self.device)
        row["job_threads"] = job_threads() or len(os.sched_getaffinity(0))
        started, label = time.perf_counter(), f"{case.id} seed {seed}"
        try:
            with parallel.holding(self.results_dir, label, "train"):  # other jobs may train meanwhile, none times
                searched = steps.search(self, case, seed)
                row.update(searched.columns)
                case = searched.case
                inputs = steps.resolve(self, case)
                row.update(inputs.columns)
                case, chosen = rate_grid.choose_rate(self, case, searched.regime, seed, inputs)
                in_grid = chosen.pop(rate_grid.GRID_PRETRAIN, 0.0)  # a missing source is pretrained by the first rung
                row.update(chosen)
                model = self._fit(case, searched.regime, seed, inputs, row)
                if in_grid:
                    row["source_pretrain_seconds"] = in_grid + (row.get("source_pretrain_seconds") or 0.0)
            timed = self.settings.timed(seed)
            with parallel.holding(self.results_dir, label, "export"):  # converting times nothing: beside others
                exported = steps.export_formats(self, case, seed, inputs, model, row)
                if not timed:  # a later seed: its files' accuracy, which times nothing either
                    row.update(steps.time_formats(self, exported, timed=False).columns)
            if timed:
                with parallel.holding(self.results_dir, label, "time"):  # alone: no other job trains or times
                    row.update(steps.measure(self, case, seed, inputs.side, model).columns)
                    row.update(steps.time_formats(self, exported).columns)
                    drift.record("job", self.results_dir, row["fingerprint"])  # the machine's speed now
            row["status"] = "ok"
            log.info("  %s seed %d: test accuracy %.4f%s", case.id, seed, row["test_accuracy"], _speed(row))
        except Exception as error:  # a failed case is data, not a crash of the run
            row.update(status="skipped" if isinstance(error, PrerequisiteFailed) else "failed", error=one_line(error))
            self._keep_traceback(case, seed, row)
        row["finished_at"] = now()
        row["case_seconds"] = round(time.perf_counter() - started, 1)
        return row

    def _fit(self, case: Case, regime: Regime, seed: int, inputs: steps.Inputs, row: dict):
        """Builds, trains and evaluates (``suite.run.steps``), at half the batch after each out-of-memory error, and
        once more without XLA if training under it raised a TensorFlow error; adds their columns to ``row`` and
        returns the model to measure."""
        xla = True
        while True:
            built = None
            try:
                built = steps.build(self, case, seed, inputs, xla=xla)
                row.update(built.columns)  # a case that fails in training still says how it started
                trained = steps.train(self, case, seed, regime, inputs, built)
                evaluated = steps.evaluate(self, case, seed, built, trained)
                row.update({**trained.columns, **evaluated.columns})
                return evaluated.model
            except tf.errors.ResourceExhaustedError:
                if case.batch_size <= 1:
                    raise
                row.setdefault("train_oom_batch", case.batch_size)
                case = dataclasses.replace(case, batch_size=case.batch_size // 2)
                row["batch_size"] = case.batch_size
                log.warning("  %s seed %d: out of memory; retrying at batch %d", case.id, seed, case.batch_size)
            except tf.errors.OpError as error:
                if built is None or built.jit_compile is not True or not built.model.jit_compile:
                    raise
                xla = False  # the probe passed but the run didn't: the row says it trained without XLA
                why = one_line(error)
                log.warning("  %s seed %d: XLA failed in training (%s); again without it", case.id, seed, why)

    def _keep_traceback(self, case: Case, seed: int, row: dict) -> None:
        """Writes the traceback of the exception being handled to ``DIR/errors/`` (not at all on a full disk)."""
        trace = storage.case_file(self.results_dir, "errors", case.id, seed, ".txt")
        try:
            trace.write_text(traceback.format_exc())
        except OSError as unwritten:  # a full disk: the row still says what failed
            trace = f"not written: {unwritten.strerror}"
        log.error("  %s seed %d %s: %s (traceback: %s)", case.id, seed, row["status"], row["error"], trace)

    def probe(self, case: Case) -> dict:
        """Times a few training steps and batch-1 calls of ``case``'s model on random images, for budgets.

        Returns seconds: ``trace_s`` (first step), ``step_s`` (median later
        step), ``infer_trace_s``, ``infer_s`` (``timing.batch1_seconds``); and the case's image counts.
        """
        inputs = steps.resolve(self, case)  # the data, weights and side the case itself would run with
        raw, side = inputs.raw, inputs.side
        backbone = build_backbone(
            case.arch, side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum, handle=case.handle
        )
        model = build_classifier(backbone, raw.num_classes, dropout=case.dropout, l2=case.l2)
        model.compile(optimizer=make_optimizer(case, case.learning_rate), loss="categorical_crossentropy")
        images = timing.random_images(case.batch_size, side)
        labels = keras.utils.to_categorical(np.arange(case.batch_size) % raw.num_classes, raw.num_classes)

        def step() -> float:  # train_on_batch returns the loss as a Python float: the device is synchronised
            started = time.perf_counter()
            model.train_on_batch(images, labels)
            return time.perf_counter() - started

        trace_s = step()
        step_s = float(np.median([step() for _ in range(PROBE_STEPS)]))
        infer_trace_s, infer_s = timing.batch1_seconds(model, side, calls=PROBE_CALLS, warmup=PROBE_WARMUP)
        return {
            "trace_s": trace_s,
            "step_s": step_s,
            "infer_trace_s": infer_trace_s,
            "infer_s": infer_s,
            # A train_per_class cut trains as many steps as the whole split (steps.train repeats it): count those.
            "train_images": case.whole_train_images(raw.sizes["train"]),
            "eval_images": min(case.eval_limit or raw.sizes["val"], raw.sizes["val"])
            + min(case.eval_limit or raw.sizes["test"], raw.sizes["test"]),
        }
