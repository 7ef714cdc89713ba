"""Runs cases: data, model, weights, training, evaluation, measurement, one row each.

A case that raises becomes a ``failed`` row with a one-line error and its
traceback in ``DIR/errors/``; the run goes on. Bad input that would fail every
case (an unusable dataset, a missing weights file) is checked before the first
case starts and stops the run with a ``SuiteError``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from suite import storage
from suite.data import parse_dataset
from suite.errors import SuiteError
from suite.profiles import Profile
from suite.regimes import REGIMES
from suite.registry import Case

log = logging.getLogger(__name__)


class PrerequisiteFailed(RuntimeError):
    """A case not attempted because something it needs already failed in this run (its row is ``skipped``)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def case_json(case: Case) -> str:
    """The resolved case as sorted JSON: what the row was produced from, and its identity for resume."""
    fields = {f.name: getattr(case, f.name) for f in dataclasses.fields(case) if f.name != "overrides"}
    return json.dumps(fields, sort_keys=True)


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
        self._failed_sources: dict[tuple[str, int], str] = {}

    def dataset(self, name: str, side: int = 0):
        """The raw splits of ``name``, loaded once per run."""
        from suite.data.loaders import load

        key = (name, side if parse_dataset(name).kind != "digits" else 0)
        if key not in self._datasets:
            self._datasets[key] = load(name, data_dir=self.data_dir, side=side)
        return self._datasets[key]

    def preflight(self, cases: list[Case]) -> None:
        """Fails fast, before any training, on input that would fail every case."""
        for case in cases:
            self.dataset(case.dataset, case.image_size)
            if case.weights not in ("auto", "none", "imagenet") and not case.weights.startswith("source:"):
                if not Path(case.weights).expanduser().is_file():
                    raise SuiteError(f"case {case.id}: weights file {case.weights} does not exist")

    def run_case(self, case: Case, seed: int) -> dict:
        """Trains, evaluates and measures one case for one seed; returns its row (never raises)."""
        from suite.environment import device_name, environment

        row: dict = {
            "case_id": case.id,
            "arch": case.arch,
            "regime": case.regime,
            "dataset": case.dataset,
            "seed": seed,
            "profile": self.profile.name,
            "batch_size": case.batch_size,
            "optimizer": case.optimizer,
            "learning_rate": case.learning_rate,
            "device": self.device,
            "device_name": device_name(self.device),
            "started_at": _now(),
            "case_json": case_json(case),
            **environment(),
        }
        try:
            row.update(self._train_and_measure(case, seed, row))
            row["status"] = "ok"
        except Exception as error:  # a failed case is data, not a crash of the run
            row.update(status="skipped" if isinstance(error, PrerequisiteFailed) else "failed", error=one_line(error))
            trace = storage.case_file(self.results_dir, "errors", case.id, seed, ".txt")
            trace.write_text(traceback.format_exc())
            log.error("  %s seed %d %s: %s (traceback: %s)", case.id, seed, row["status"], row["error"], trace)
        row["finished_at"] = _now()
        storage.append_row(self.results_dir, row)
        return row

    def _train_and_measure(self, case: Case, seed: int, row: dict) -> dict:
        import keras

        from suite import measure, transfer
        from suite.data.pipeline import input_side, make_input
        from suite.models import build_backbone, build_classifier
        from suite.train import train

        regime = REGIMES[case.regime]
        keras.backend.clear_session()
        measure.model_facts.reset_gpu_peak()
        keras.utils.set_random_seed(seed)
        raw = self.dataset(case.dataset, case.image_size)
        side = input_side(case.arch, raw.side, case.image_size, case.handle)
        row["image_size"] = side
        weights = transfer.resolve_weights(case, self.profile)
        row["weights"] = weights

        backbone = build_backbone(
            case.arch, side, depth=case.depth, l2=case.l2, bn_momentum=case.bn_momentum, handle=case.handle
        )
        if weights.startswith("source:"):
            key = (case.arch, side)
            if key in self._failed_sources:
                raise PrerequisiteFailed(
                    f"source pretraining of {case.arch} failed earlier in this run: {self._failed_sources[key]}"
                )
            started = time.perf_counter()
            cached = transfer.source_weights_path(case.arch, side, case, self.profile.source).is_file()
            try:
                transfer.load_weights(backbone, weights, case.arch, case, self.profile.source)
            except Exception as error:
                self._failed_sources[key] = one_line(error)
                raise
            row["source_pretrain_seconds"] = 0.0 if cached else round(time.perf_counter() - started, 2)
            row["source_accuracy"] = transfer.source_accuracy(case.arch, side, case, self.profile.source)
        else:
            row["weights"] = transfer.load_weights(backbone, weights, case.arch, case, self.profile.source)
        keras.utils.set_random_seed(seed)
        model = build_classifier(backbone, raw.num_classes, dropout=case.dropout, l2=case.l2)

        def split(ds, size: int, training: bool):
            limit = (case.train_limit if training else case.eval_limit) or size
            return make_input(
                ds,
                arch=case.arch,
                side=side,
                num_classes=raw.num_classes,
                batch_size=case.batch_size,
                training=training,
                augment=case.augment if training else 0.0,
                flip=raw.flip and training and case.augment > 0,
                limit=limit,
                seed=seed,
            ), min(limit, size)

        train_ds, train_images = split(raw.train, raw.sizes["train"], True)
        val_ds, _ = split(raw.val, raw.sizes["val"], False)
        test_ds, test_images = split(raw.test, raw.sizes["test"], False)
        log.info(
            "  %s seed %d: %s at %dpx, weights %s, %d train images",
            case.id,
            seed,
            case.arch,
            side,
            row["weights"],
            train_images,
        )
        result = train(model, backbone, regime, case, train_ds, val_ds, train_images)
        result.history.to_csv(storage.case_file(self.results_dir, "history", case.id, seed, ".csv"), index=False)
        val_accuracy = model.evaluate(val_ds, verbose=0, return_dict=True)["accuracy"]
        test_accuracy = model.evaluate(test_ds, verbose=0, return_dict=True)["accuracy"]
        model_path = storage.case_file(self.results_dir, "models", case.id, seed, ".keras")
        model.save(model_path)

        inference = measure.measure_inference(model, side, self.profile.measure, self.device)
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
            "model_mb": measure.model_facts.serialized_mb(model_path),
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in inference.row.items()},
            "peak_rss_mb": measure.model_facts.peak_rss_mb(),
            "peak_gpu_mb": measure.model_facts.peak_gpu_mb(),
        }


def done_keys(results_dir: Path) -> set[tuple[str, int, str]]:
    """``(case_id, seed, case_json)`` of the rows already ``ok`` in the folder: what a rerun may skip."""
    try:
        frame = storage.read_results(results_dir)
    except SuiteError:
        return set()
    ok = frame[frame["status"] == "ok"]
    return {(c, int(s), j) for c, s, j in zip(ok["case_id"], ok["seed"], ok["case_json"])}


def refuse_other_machines(results_dir: Path) -> None:
    """``SuiteError`` if ``results_dir`` already holds ok rows measured under another machine fingerprint."""
    import pandas as pd

    from suite.environment import differing_fields, environment

    ok = storage.read_results(results_dir)
    ok = ok[ok["status"] == "ok"]
    here = environment()
    others = ok[ok["fingerprint"] != here["fingerprint"]]
    if len(others):
        differing = differing_fields(pd.concat([others, pd.DataFrame([here])], ignore_index=True))
        raise SuiteError(
            f"{results_dir} holds {len(others)} row(s) measured under another machine fingerprint "
            f"(differing: {', '.join(differing)}); choose a new --results folder, "
            "or pass --force to add rows that are not comparable"
        )


def run_cases(
    cases: list[Case],
    profile: Profile,
    results_dir: Path,
    *,
    seeds: int,
    device: str = "auto",
    data_dir: str | None = None,
    force: bool = False,
) -> list[dict]:
    """Runs every resolved case for seeds ``0..seeds-1``; returns the rows written by this call."""
    storage.prepare(results_dir)
    runner = Runner(profile, results_dir, device=device, data_dir=data_dir)
    if not force:
        refuse_other_machines(results_dir)
    runner.preflight(cases)
    done = set() if force else done_keys(results_dir)
    jobs = [(case, seed) for case in cases for seed in range(seeds)]
    rows = []
    started = time.perf_counter()
    for number, (case, seed) in enumerate(jobs, start=1):
        if (case.id, seed, case_json(case)) in done:
            log.info(
                "[%d/%d] %s seed %d: already done in %s (use --force to redo)",
                number,
                len(jobs),
                case.id,
                seed,
                results_dir,
            )
            continue
        log.info("[%d/%d] %s seed %d (%.0f s elapsed)", number, len(jobs), case.id, seed, time.perf_counter() - started)
        rows.append(runner.run_case(case, seed))
    return rows
