"""Runs one case for one seed in this process: data, model, weights, training, evaluation, measurement.

``Runner.run_case`` returns the row and never raises: a case that raises
becomes a ``failed`` row with a one-line error and its traceback in
``DIR/errors/``. Which cases run, in which process, and where their rows go is
``suite.schedule``'s business; ``preflight`` checks the input that would fail
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

from suite import progress, storage
from suite.data import parse_dataset
from suite.errors import SuiteError
from suite.profiles import Profile
from suite.regimes import REGIMES
from suite.registry import Case

log = logging.getLogger(__name__)


class PrerequisiteFailed(RuntimeError):
    """A case not attempted because something it needs already failed in this run (its row is ``skipped``)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def case_json(case: Case) -> str:
    """The resolved case as sorted JSON: what the row was produced from, and its identity for resume."""
    fields = {f.name: getattr(case, f.name) for f in dataclasses.fields(case) if f.name != "overrides"}
    return json.dumps(fields, sort_keys=True)


def case_key(case: Case, env: dict[str, str]) -> str:
    """12 hex digits naming what a row was produced from: the case's fields, the suite version, the machine.

    A rerun skips a case whose key already has an ``ok`` row in the folder.
    """
    identity = json.dumps([case_json(case), env["suite_version"], env["fingerprint"]])
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def base_row(case: Case, seed: int, profile: str, device: str) -> dict:
    """The identity and machine columns every row has, whatever became of the case."""
    from suite.environment import device_name, environment

    env = environment()
    return {
        "case_id": case.id,
        "arch": case.arch,
        "regime": case.regime,
        "dataset": case.dataset,
        "seed": seed,
        "profile": profile,
        "case_key": case_key(case, env),
        "batch_size": case.batch_size,
        "optimizer": case.optimizer,
        "learning_rate": case.learning_rate,
        "device": device,
        "device_name": device_name(device),
        "started_at": _now(),
        "case_json": case_json(case),
        **env,
    }


def unrun_row(case: Case, seed: int, profile: str, device: str, error: str) -> dict:
    """The ``failed`` row of a job that gave none itself: its dataset was unusable, its worker died, Ray gave up."""
    return {**base_row(case, seed, profile, device), "status": "failed", "error": error, "finished_at": _now()}


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``, for the ``error`` column."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class Runner:
    """Runs resolved cases into one results folder, loading each dataset once."""

    def __init__(self, profile: Profile, results_dir: Path, device: str = "auto", data_dir: str | None = None):
        from suite.environment import configure_device

        self.profile, self.results_dir, self.data_dir = profile, Path(results_dir), data_dir
        self.device = configure_device(device)
        self._datasets: dict[tuple[str, int], object] = {}
        # "arch@side" -> error: source pretraining that failed earlier in this run, so isn't retried
        self.failed_sources: dict[str, str] = {}

    def dataset(self, name: str, side: int = 0):
        """The raw splits of ``name``, loaded once per run."""
        from suite.data.loaders import load

        key = (name, side if parse_dataset(name).kind != "digits" else 0)
        if key not in self._datasets:
            self._datasets[key] = load(name, data_dir=self.data_dir, side=side)
        return self._datasets[key]

    def preflight(self, cases: list[Case]) -> dict[str, str]:
        """Checks datasets and weights files before any training; returns ``{dataset: why}`` of unusable datasets.

        Raises ``SuiteError`` for a weights file that is missing or doesn't fit,
        and for an unusable dataset when every case needs one. A dataset only
        some cases need (an unprepared CIFAR-10 beside digits) fails only those
        cases, as rows, so the rest of the night still runs.
        """
        import keras

        from suite import transfer
        from suite.data.pipeline import input_side
        from suite.models import build_backbone

        unusable: dict[str, str] = {}
        for case in cases:
            if case.dataset in unusable:
                continue
            try:
                raw = self.dataset(case.dataset, case.image_size)
            except SuiteError as error:
                unusable[case.dataset] = str(error)
                continue
            if case.weights in ("auto", "none", "imagenet") or case.weights.startswith("source:"):
                continue
            path = Path(case.weights).expanduser()
            if not path.is_file():
                raise SuiteError(f"case {case.id}: weights file {case.weights} does not exist")
            side = input_side(case.arch, raw.side, case.image_size)
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

    def run_case(self, case: Case, seed: int) -> dict:
        """Trains, evaluates and measures one case for one seed; returns its row (never raises).

        If training runs out of memory (``ResourceExhaustedError``, a GPU OOM),
        it is retried with half the batch until it fits or the batch is 1; the
        row keeps the final ``batch_size`` and the first ``train_oom_batch``.
        """
        import tensorflow as tf

        row = base_row(case, seed, self.profile.name, self.device)
        started = time.perf_counter()
        try:
            attempt = case
            while True:
                try:
                    row.update(self._train_and_measure(attempt, seed, row))
                    break
                except tf.errors.ResourceExhaustedError:
                    if attempt.batch_size <= 1:
                        raise
                    row.setdefault("train_oom_batch", attempt.batch_size)
                    attempt = dataclasses.replace(attempt, batch_size=attempt.batch_size // 2)
                    row["batch_size"] = attempt.batch_size
                    log.warning("  %s seed %d: out of memory; retrying at batch %d", case.id, seed, attempt.batch_size)
            row["status"] = "ok"
        except Exception as error:  # a failed case is data, not a crash of the run
            row.update(status="skipped" if isinstance(error, PrerequisiteFailed) else "failed", error=one_line(error))
            trace = storage.case_file(self.results_dir, "errors", case.id, seed, ".txt")
            try:
                trace.write_text(traceback.format_exc())
            except OSError as unwritten:  # a full disk: the row still says what failed
                trace = f"not written: {unwritten.strerror}"
            log.error("  %s seed %d %s: %s (traceback: %s)", case.id, seed, row["status"], row["error"], trace)
        row["finished_at"] = _now()
        row["case_seconds"] = round(time.perf_counter() - started, 1)
        return row

    def probe(self, case: Case, steps: int = 4) -> dict:
        """Times a few training steps and batch-1 calls of ``case``'s model on random images, for budgets.

        Returns seconds: ``trace_s`` (first step), ``step_s`` (median later
        step), ``infer_trace_s``, ``infer_s``; and the case's image counts.
        """
        import keras
        import numpy as np

        from suite.data.pipeline import input_side
        from suite.measure import timing
        from suite.models import build_backbone, build_classifier
        from suite.train import make_optimizer

        raw = self.dataset(case.dataset, case.image_size)
        side = input_side(case.arch, raw.side, case.image_size, case.handle)
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
        step_s = float(np.median([step() for _ in range(steps)]))
        call = timing.compiled_call(model, xla=False)
        one = timing.random_images(1, side)
        infer_trace_s = timing.timed(call, one)
        infer_s = float(np.median([timing.timed(call, one) for _ in range(5)]))
        return {
            "trace_s": trace_s,
            "step_s": step_s,
            "infer_trace_s": infer_trace_s,
            "infer_s": infer_s,
            "train_images": min(case.train_limit or raw.sizes["train"], raw.sizes["train"]),
            "eval_images": min(case.eval_limit or raw.sizes["val"], raw.sizes["val"])
            + min(case.eval_limit or raw.sizes["test"], raw.sizes["test"]),
        }

    def _train_and_measure(self, case: Case, seed: int, row: dict) -> dict:
        import keras

        from suite import measure, transfer
        from suite.data.pipeline import case_split, input_side
        from suite.distribute import make_strategy, scaled
        from suite.models import build_backbone, build_classifier
        from suite.train import train

        regime = REGIMES[case.regime]
        if regime.searched:  # suite.tuning: search first, then train the best configuration like any other case
            from suite.models import ARCHITECTURES
            from suite.tuning.search import search

            if ARCHITECTURES[case.arch].hub:  # an unreachable module fails the case now, not trial by trial
                from suite.models.hub import load_module

                load_module(case.handle or ARCHITECTURES[case.arch].handle)

            found = search(self, case, seed)
            case, regime = found.case, found.regime
            row.update(found.row())
        keras.backend.clear_session()
        measure.model_facts.reset_gpu_peak()
        keras.utils.set_random_seed(seed)
        raw = self.dataset(case.dataset, case.image_size)
        side = input_side(case.arch, raw.side, case.image_size, case.handle)
        row["image_size"] = side
        weights = transfer.resolve_weights(case, self.profile)
        row["weights"] = weights

        # Built, compiled, trained and evaluated under the case's strategy (suite.distribute), measured on one device.
        strategy = make_strategy(case)
        row["strategy"], row["replicas"] = case.strategy, strategy.num_replicas_in_sync
        run = scaled(case, strategy.num_replicas_in_sync)  # global batch and peak learning rate
        with strategy.scope():
            backbone = build_backbone(
                case.arch, side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum, handle=case.handle
            )
            if weights.startswith("source:"):
                key = f"{case.arch}@{side}"
                if key in self.failed_sources:
                    raise PrerequisiteFailed(
                        f"source pretraining of {case.arch} failed earlier in this run: {self.failed_sources[key]}"
                    )
                started = time.perf_counter()
                progress.emit(stage="weights", message=weights)
                cached = transfer.source_weights_path(case.arch, side, case, self.profile.source).is_file()
                try:
                    transfer.load_weights(backbone, weights, case.arch, case, self.profile.source)
                except Exception as error:
                    self.failed_sources[key] = one_line(error)
                    raise
                row["source_pretrain_seconds"] = 0.0 if cached else round(time.perf_counter() - started, 2)
                row["source_accuracy"] = transfer.source_accuracy(case.arch, side, case, self.profile.source)
            else:
                row["weights"] = transfer.load_weights(backbone, weights, case.arch, case, self.profile.source)
            keras.utils.set_random_seed(seed)
            model = build_classifier(backbone, raw.num_classes, dropout=case.dropout, l2=case.l2)

            inputs = dict(side=side, seed=seed, batch_size=run.batch_size)
            train_ds, train_images = case_split(case, raw, "train", **inputs)
            val_ds, _ = case_split(case, raw, "val", **inputs)
            test_ds, test_images = case_split(case, raw, "test", **inputs)
            log.info(
                "  %s seed %d: %s at %dpx, weights %s, %d train images",
                case.id,
                seed,
                case.arch,
                side,
                row["weights"],
                train_images,
            )
            result = train(model, backbone, regime, run, train_ds, val_ds, train_images)
            result.history.to_csv(storage.case_file(self.results_dir, "history", case.id, seed, ".csv"), index=False)
            progress.emit(stage="evaluate")
            val_accuracy = model.evaluate(val_ds, verbose=0, return_dict=True)["accuracy"]
            test_accuracy = model.evaluate(test_ds, verbose=0, return_dict=True)["accuracy"]
        model_path = storage.case_file(self.results_dir, "models", case.id, seed, ".keras")
        model.save(model_path)
        # Measurement is single-device: a mirrored model is reloaded outside the strategy's scope.
        measured = model if case.strategy == "none" else keras.models.load_model(model_path, compile=False)

        progress.emit(stage="measure")
        inference = measure.measure_inference(measured, side, self.profile.measure, self.device)
        inference.samples.to_csv(storage.case_file(self.results_dir, "latency", case.id, seed, ".csv"), index=False)
        inference.points.to_csv(storage.case_file(self.results_dir, "throughput", case.id, seed, ".csv"), index=False)
        log.info(
            "  %s seed %d: test accuracy %.4f, latency p50 %.2f ms, %.0f images/s at batch %d",
            case.id,
            seed,
            test_accuracy,
            inference.row["latency_p50_ms"],
            inference.row["throughput_ips"],
            inference.row["throughput_batch"],
        )
        return {
            "epochs": result.epochs,
            "train_seconds": round(result.seconds, 2),
            "train_images_per_s": round(result.images_per_s, 1),
            "time_to_target_s": None if result.time_to_target_s is None else round(result.time_to_target_s, 2),
            "target_accuracy": case.target,
            "train_images": train_images,
            "val_accuracy": round(float(val_accuracy), 5),
            "test_accuracy": round(float(test_accuracy), 5),
            "test_images": test_images,
            "params": model.count_params(),
            "trainable_params": measure.model_facts.trainable_params(model),
            "model_mb": measure.model_facts.weights_mb(model),
            "checkpoint_mb": measure.model_facts.serialized_mb(model_path),
            **inference.row,
            "peak_rss_mb": measure.model_facts.peak_rss_mb(),
            "peak_gpu_mb": measure.model_facts.peak_gpu_mb(),
        }
