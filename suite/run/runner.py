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
import hashlib
import json
import logging
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from suite import storage
from suite.case import Case
from suite.data import parse_dataset
from suite.errors import PrerequisiteFailed, SuiteError, one_line
from suite.profiles import Profile
from suite.regimes import Regime
from suite.run import steps

log = logging.getLogger(__name__)

PROBE_STEPS = 4  # training steps a --budget probe times after its first
PROBE_WARMUP, PROBE_CALLS = 2, 5  # batch-1 calls a probe leaves untimed, then times


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def case_key(case: Case, env: dict[str, str]) -> str:
    """12 hex digits naming what a row was produced from: the case's fields, the suite version, the machine.

    A rerun skips a case whose key already has an ``ok`` row in the folder. A user architecture's builder
    hash joins them (only then, so built-in cases keep their keys): a changed builder is a new case.
    """
    from suite.models import builder_hash

    parts = [case.to_json(), env["suite_version"], env["fingerprint"]]
    identity = json.dumps(parts + ([builder_hash(case.arch)] if builder_hash(case.arch) else []))
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def base_row(case: Case, seed: int, profile: str, device: str) -> dict:
    """The identity and machine columns every row has, whatever became of the case."""
    from suite.environment import device_name, environment
    from suite.models import ARCHITECTURES

    env = environment()
    spec = ARCHITECTURES.get(case.arch)
    return {
        "case_id": case.id,
        "arch": case.arch,
        "arch_builder": spec.builder if spec else "",
        "arch_builder_hash": spec.builder_hash if spec else "",
        "regime": case.regime,
        "dataset": case.dataset,
        "seed": seed,
        "profile": profile,
        "case_key": case_key(case, env),
        "train_per_class": case.train_per_class,
        "batch_size": case.batch_size,
        "optimizer": case.optimizer,
        "learning_rate": case.learning_rate,
        "device": device,
        "device_name": device_name(device),
        "started_at": _now(),
        "case_json": case.to_json(),
        **env,
    }


def unrun_row(case: Case, seed: int, profile: str, device: str, error: str) -> dict:
    """The ``failed`` row of a job that gave none itself: its dataset was unusable, its worker died, Ray gave up."""
    return {**base_row(case, seed, profile, device), "status": "failed", "error": error, "finished_at": _now()}


class Datasets:
    """Each dataset's raw splits, loaded once per process (``suite.data.loaders``)."""

    def __init__(self, data_dir: str | None = None):
        self.data_dir = data_dir
        self._loaded: dict[tuple[str, int], object] = {}

    def __call__(self, name: str, side: int = 0):
        from suite.data.loaders import load

        key = (name, side if parse_dataset(name).kind != "digits" else 0)
        if key not in self._loaded:
            self._loaded[key] = load(name, data_dir=self.data_dir, side=side)
        return self._loaded[key]


def preflight(cases: list[Case], data_dir: str | None = None, dataset: Datasets | None = None) -> dict[str, str]:
    """Checks datasets, input sides, user architectures and weights files before any training; returns
    ``{dataset: why}`` of unusable datasets.

    Raises ``SuiteError`` for an ``image_size`` below the architecture's minimum or one that a TF-Hub module on
    this machine was not traced for (``suite.sides``), for a user architecture that doesn't build
    (``suite.models.user.check``, once per input side), for a ``train_per_class`` above the smallest class's
    count, for a weights file that is missing or doesn't fit,
    and for an unusable dataset when every case needs one. A dataset only
    some cases need (an unprepared CIFAR-10 beside digits) fails only those
    cases, as rows, so the rest of the night still runs. ``dataset`` keeps the splits it loaded for the caller.
    """
    import keras

    from suite import transfer
    from suite.data.pipeline import check_per_class, input_side
    from suite.models import ARCHITECTURES, build_backbone, user

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
    if unusable and all(case.dataset in unusable for case in cases):
        raise SuiteError(next(iter(unusable.values())))
    return unusable


class Runner:
    """Runs resolved cases into one results folder; what the steps (``suite.run.steps``) share within a process."""

    def __init__(
        self,
        profile: Profile,
        results_dir: Path,
        device: str = "auto",
        data_dir: str | None = None,
        formats: tuple[str, ...] | None = None,
    ):
        from suite.environment import configure_device

        self.profile, self.results_dir, self.data_dir = profile, Path(results_dir), data_dir
        self.formats = None if formats is None else tuple(formats)  # --formats for every case; None: the profile's
        self.device = configure_device(device)
        self.dataset = Datasets(data_dir)  # runner.dataset(name, side): the raw splits, loaded once

    def formats_for(self, case: Case) -> tuple[str, ...]:
        """The deployed formats (``suite.deploy``) ``case`` is exported to and measured in."""
        return self.profile.formats_for(case.id, self.formats)

    def run_case(self, case: Case, seed: int) -> dict:
        """Searches (tuned cases), trains, evaluates and measures one case for one seed; returns its row, never raises.

        If training runs out of memory (``ResourceExhaustedError``, a GPU OOM),
        it is built, trained and evaluated again with half the batch until it
        fits or the batch is 1 (a tuned case's search is not redone); the row
        keeps the final ``batch_size`` and the first ``train_oom_batch``.
        """
        row = base_row(case, seed, self.profile.name, self.device)
        started = time.perf_counter()
        try:
            searched = steps.search(self, case, seed)
            row.update(searched.columns)
            case = searched.case
            inputs = steps.resolve(self, case)
            row.update(inputs.columns)
            model = self._fit(case, searched.regime, seed, inputs, row)
            row.update(steps.measure(self, case, seed, inputs.side, model).columns)
            row.update(steps.formats(self, case, seed, inputs, model, row).columns)
            row["status"] = "ok"
            log.info(
                "  %s seed %d: test accuracy %.4f, latency p50 %.2f ms, %.0f images/s at batch %d",
                *(case.id, seed, row["test_accuracy"], row["latency_p50_ms"]),
                *(row["throughput_ips"], row["throughput_batch"]),
            )
        except Exception as error:  # a failed case is data, not a crash of the run
            row.update(status="skipped" if isinstance(error, PrerequisiteFailed) else "failed", error=one_line(error))
            self._keep_traceback(case, seed, row)
        row["finished_at"] = _now()
        row["case_seconds"] = round(time.perf_counter() - started, 1)
        return row

    def _fit(self, case: Case, regime: Regime, seed: int, inputs: steps.Inputs, row: dict):
        """Builds, trains and evaluates (``suite.run.steps``), at half the batch after each out-of-memory error, and
        once more without XLA if training under it raised a TensorFlow error; adds their columns to ``row`` and
        returns the model to measure."""
        import tensorflow as tf

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
        import keras
        import numpy as np

        from suite.measure import timing
        from suite.models import build_backbone, build_classifier
        from suite.train import make_optimizer

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
