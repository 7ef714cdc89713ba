"""Per-image test outcomes: ``DIR/predictions/<case>-s<seed>.csv``, what the paired accuracy test reads.

One row per test image, in the test split's order (which every seed and every case of a dataset share): its
``label`` and the model's ``predicted`` class. Written once, when the case's test accuracy is measured from it,
so the accuracy in ``results.csv`` and the outcomes the paired test (``suite.stats``) reads are the same reading
of the test set. A folder written before this file existed has none; its comparisons fall back to the unpaired
rule and say so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from suite.storage.folder import case_file

PREDICTIONS = "predictions"


def predictions_path(results_dir: Path, case_id: str, seed: int) -> Path:
    """``DIR/predictions/<case>-s<seed>.csv``."""
    return case_file(results_dir, PREDICTIONS, case_id, seed, ".csv")


def write_predictions(results_dir: Path, case_id: str, seed: int, labels, predicted) -> Path:
    """Writes one seed's labels and predicted classes (atomically: a reader never sees half a file)."""
    path = predictions_path(results_dir, case_id, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.partial")
    frame = pd.DataFrame({"label": np.asarray(labels, dtype=int), "predicted": np.asarray(predicted, dtype=int)})
    frame.to_csv(partial, index=False)
    partial.replace(path)
    return path


def read_correct(results_dir: Path, case_id: str, seed: int) -> np.ndarray | None:
    """One seed's outcomes, 1 where the prediction was right, in test order; None where none were kept."""
    path = predictions_path(results_dir, case_id, seed)
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
        return (frame["predicted"].to_numpy() == frame["label"].to_numpy()).astype(np.int8)
    except (OSError, ValueError, KeyError, pd.errors.ParserError):
        return None  # unreadable: the comparison falls back to the unpaired rule


OUTCOME = "outcome"  # the column ``with_outcomes`` adds: ``(seed, outcomes)`` or None; never written to a table


def _agrees(correct: np.ndarray, accuracy) -> bool:
    """Whether outcomes give the row's ``test_accuracy`` (stored to 5 decimals) to within half an image."""
    return pd.notna(accuracy) and abs(float(correct.mean()) - float(accuracy)) <= max(1e-4, 0.5 / len(correct))


def with_outcomes(results: pd.DataFrame, results_dir: Path) -> pd.DataFrame:
    """``results`` with each ok row's ``(seed, per-image outcomes)`` in ``OUTCOME`` (None where none were kept),
    so that the rows carry what the paired test needs wherever they go (``suite.report.summary.per_case``).

    Outcomes that don't give the row's own ``test_accuracy`` (a hand-edited row, a file from another run) are not
    the row's: it is tested unpaired, from its figures, rather than by outcomes that contradict them."""
    column = []
    for _, row in results.iterrows():
        ok = row.get("status") == "ok" and pd.notna(row.get("seed"))
        correct = read_correct(results_dir, str(row["case_id"]), int(row["seed"])) if ok else None
        if correct is not None and not _agrees(correct, row.get("test_accuracy")):
            correct = None
        column.append(None if correct is None else (int(row["seed"]), correct))
    return results.assign(**{OUTCOME: pd.Series(column, index=results.index, dtype=object)})


def by_seed(column) -> dict:
    """``{seed: per-image outcomes}`` from a group's ``OUTCOME`` cells (None cells skipped): how the rows of one
    case, or one point of a curve, carry their outcomes into the paired test."""
    return dict(pair for pair in column if isinstance(pair, tuple))
