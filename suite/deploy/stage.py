"""A case's deployment stage: each format asked for exported, measured from its file, and made a row.

``deploy_case`` runs after the Keras model is measured. The reference row
(``keras``: the saved ``.keras`` file, reloaded) comes first; each format then
becomes a row of its own, ``ok``, ``skipped`` (its package is missing: the row
names the install command) or ``failed`` (the converter's or runtime's first
error line). A format never fails the case. Formats already ``ok`` in
``formats.csv`` for the same case key and seed are not done again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from suite.data import training_images
from suite.data.pipeline import make_input, per_class_subset
from suite.deploy import formats as catalogue
from suite.deploy.measure import Images, check_file, measure_file, predict_all
from suite.deploy.runtimes import runtime_version, tf_threads
from suite.errors import one_line
from suite.measure.timing import compiled_call
from suite.profiles import MeasureBudget

log = logging.getLogger(__name__)

BEST_FORMAT_MAX_DROP_POINTS = 1.0  # best_format: the fastest format at most this far below Keras' accuracy


def case_images(case, raw, side: int, seed: int) -> Images:
    """The case's test split (as its ``test_accuracy`` is measured) and calibration images from its *training*
    split, unshuffled and unaugmented, both preprocessed for its architecture. A ``train_per_class`` case
    calibrates on its own cut: a label-efficiency row's model has seen no other image."""

    def arrays(split, limit: int) -> tuple[np.ndarray, np.ndarray]:
        data = make_input(split.take(limit), arch=case.arch, side=side, num_classes=raw.num_classes, batch_size=256)
        pairs = [(x.numpy(), y.numpy().argmax(axis=1)) for x, y in data]
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    test, labels = arrays(raw.test, case.eval_limit or raw.sizes["test"])
    train = per_class_subset(raw, case.train_per_class, seed) if case.train_per_class else raw.train
    calibrated = training_images(case, raw.sizes["train"], raw.num_classes)
    calibration, _ = arrays(train, min(catalogue.CALIBRATION_IMAGES, calibrated))
    return Images(test=test, labels=labels, calibration=calibration)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What one case deploys: its Keras ``model`` and that model's saved ``keras_path``, the ``folder`` its
    exports go to, and the ``images`` and ``budget`` every format is measured with."""

    model: Any
    keras_path: Path
    folder: Path
    images: Images
    budget: MeasureBudget


def deploy_case(
    deployment: Deployment,
    names: tuple[str, ...],
    *,
    identity: dict,
    earlier: dict[str, dict],
    append: Callable[[dict], None],
) -> list[dict]:
    """Exports the model to each of ``names`` in the deployment's folder and measures every file, Keras' own first.

    ``identity``: the columns every row shares (case, seed, machine); ``earlier``: rows already ``ok`` for this
    case key and seed, by format (not redone); ``append`` stores each new row as soon as it is made.
    Returns the ``ok`` rows, earlier ones included. ``export_case`` then ``measure_case``, which a run calls apart
    so that only the second holds the cores alone (``suite.run.parallel``).
    """
    exported = export_case(deployment, names, earlier)
    return measure_case(deployment, exported, identity=identity, earlier=earlier, append=append)


@dataclass
class Exported:
    """A case's files, exported and not yet measured: per format, its path and export seconds or why it has no
    file (``status``/``error``), and the Keras model's probabilities on the test images, to compare them with."""

    files: dict[str, dict]
    reference: np.ndarray


def export_case(deployment: Deployment, names: tuple[str, ...], earlier: dict[str, dict]) -> Exported:
    """Exports the model to each of ``names`` not already ``ok`` in ``earlier`` (``keras`` is its saved file)."""
    Path(deployment.folder).mkdir(parents=True, exist_ok=True)
    call = compiled_call(deployment.model)
    reference = predict_all(lambda x: call(x).numpy(), deployment.images.test)
    todo = [name for name in ("keras", *names) if name not in earlier]
    return Exported({name: _export(deployment, catalogue.FORMATS[name]) for name in todo}, reference)


def measure_case(
    deployment: Deployment,
    exported: Exported,
    *,
    identity: dict,
    earlier: dict[str, dict],
    append: Callable,
    timed: bool = True,
) -> list[dict]:
    """Measures every exported file, Keras' own first, appending a row for each; returns the ``ok`` rows, earlier
    ones included. Not ``timed``: each file's accuracy and agreement only (``check_file``)."""
    threads = tf_threads()
    rows = dict(earlier)
    for name, file in exported.files.items():
        fmt = catalogue.FORMATS[name]
        row = {**identity, "format": name, "runtime": fmt.runtime, "quantised": fmt.quantised, "started_at": _now()}
        row.update(
            file if "status" in file else _one_format(deployment, fmt, (threads, timed), exported.reference, file)
        )
        row.update(_against_keras(row, rows.get("keras")))
        row.update(runtime_version=runtime_version(fmt.runtime), finished_at=_now())
        append(row)
        _log(row)
        if row["status"] == "ok":
            rows[name] = row
    return list(rows.values())


def _export(deployment: Deployment, fmt: catalogue.Format) -> dict:
    """``{"path", "export_seconds"}`` of one format's file, or its ``skipped``/``failed`` status and reason."""
    missing = catalogue.missing_package(fmt)
    if missing:
        return {"status": "skipped", "error": missing}
    if not fmt.export_format:
        return {"path": Path(deployment.keras_path), "export_seconds": None}
    try:
        path, seconds = catalogue.export(deployment.model, fmt, Path(deployment.folder), deployment.images.calibration)
    except Exception as error:  # noqa: BLE001 - a converter's rejection is this format's row, not the case's
        return {"status": "failed", "error": f"export: {one_line(error)}"}
    return {"path": path, "export_seconds": seconds}


def _one_format(deployment: Deployment, fmt: catalogue.Format, how: tuple[int, bool], reference, file: dict) -> dict:
    """The measured columns of one exported file, or its ``failed`` status and one-line reason; ``how``: the
    runtime's threads, and whether the file is timed."""
    folder, images = Path(deployment.folder), deployment.images
    path, export_seconds = Path(file["path"]), file["export_seconds"]
    try:
        measure = measure_file if how[1] else check_file
        report = measure(fmt.runtime, path, how[0], images, deployment.budget, reference)
    except Exception as error:  # noqa: BLE001
        return {"status": "failed", "error": f"run: {one_line(error)}", "path": str(path)}
    if how[1]:
        report.samples.to_csv(folder / f"{fmt.name}-latency.csv", index=False)
    return {
        "status": "ok",
        "path": str(path),
        "file_mb": catalogue.file_mb(path),
        "export_seconds": export_seconds,
        **report.columns,
    }


def _against_keras(row: dict, keras: dict | None) -> dict:
    """Accuracy change in points and batch-1 speed-up against the case's Keras row (the row itself for Keras)."""
    keras = row if row["format"] == "keras" else keras
    if row.get("status") != "ok" or keras is None:
        return {}
    return {
        "keras_test_accuracy": keras["test_accuracy"],
        "accuracy_change_points": 100 * (float(row["test_accuracy"]) - float(keras["test_accuracy"])),
        "speedup_vs_keras": float(keras["latency_p50_ms"]) / float(row["latency_p50_ms"]) if _timed(row) else None,
    }


def _timed(row: dict) -> bool:
    """Whether a format row has a batch-1 latency (an untimed seed's rows have accuracy only)."""
    return pd.notna(row.get("latency_p50_ms"))


def best_format(rows: list[dict], max_drop_points: float = BEST_FORMAT_MAX_DROP_POINTS) -> dict:
    """``best_format`` and ``best_format_latency_p50_ms``: the fastest ``ok`` format at batch 1 whose accuracy is at
    most ``max_drop_points`` below Keras' (Keras itself qualifies); empty if there is no ok row."""
    fit = [
        r
        for r in rows
        if r.get("status") == "ok"
        and _timed(r)  # an untimed seed's files: accuracy only
        and float(r.get("accuracy_change_points") or 0) >= -max_drop_points
    ]
    if not fit:
        return {}
    best = min(fit, key=lambda r: float(r["latency_p50_ms"]))
    return {"best_format": best["format"], "best_format_latency_p50_ms": float(best["latency_p50_ms"])}


def _log(row: dict) -> None:
    if row["status"] != "ok":
        log.info("  format %s %s: %s", row["format"], row["status"], row.get("error", ""))
        return
    log.info(
        "  format %s: p50 %.3f ms (%.1fx Keras), accuracy %.4f (%+.2f points), agreement %.4f, %.2f MB",
        *(row["format"], row.get("latency_p50_ms", float("nan")), row.get("speedup_vs_keras") or float("nan")),
        row["test_accuracy"],
        *(row.get("accuracy_change_points") or 0.0, row["top1_agreement"], row["file_mb"]),
    )
