"""Two runs' deployed formats side by side: per case x format x device, latency p50 and accuracy, B minus A.

Read from each run's ``formats.csv`` (``suite.report.deployed.per_format`` combines its seeds); a case x format
in one run only is left out. Accuracy is compared in points, latency in % of A, as ``compare`` does for cases.
"""

from __future__ import annotations

import pandas as pd

from suite.report._format import Table, empty_table, number
from suite.report.deployed import per_format
from suite.report.folder import ResultsFolder

KEYS = ["case_id", "device", "format"]
FIGURES = ["test_accuracy_mean", "latency_p50_ms", "speedup_vs_keras"]
TITLE = "Deployed formats, A → B"


def format_deltas(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The case x format x device rows ok in both runs' ``formats.csv`` rows, their figures (``_a``, ``_b``) and
    ``accuracy_delta_points`` (B - A, x 100) and ``latency_delta_percent`` (100 x (B / A - 1))."""
    sides = []
    for rows in (a, b):
        frame = per_format(rows)
        if frame.empty:
            return pd.DataFrame()
        frame["device"] = frame["device"].fillna("") if "device" in frame else ""
        sides.append(frame.set_index(KEYS)[FIGURES])
    both = sides[0].join(sides[1], how="inner", lsuffix="_a", rsuffix="_b").reset_index()
    both["accuracy_delta_points"] = 100 * (both["test_accuracy_mean_b"] - both["test_accuracy_mean_a"])
    both["latency_delta_percent"] = 100 * (both["latency_p50_ms_b"] / both["latency_p50_ms_a"] - 1)
    return both.sort_values(KEYS).reset_index(drop=True)


def formats_table(a: ResultsFolder, b: ResultsFolder) -> Table | None:
    """The side-by-side table of both runs' formats; None where neither run deployed any (no formats.csv)."""
    rows_a, rows_b = a.formats(), b.formats()
    if rows_a is None and rows_b is None:
        return None
    if rows_a is None or rows_b is None:
        return empty_table("compare_formats", TITLE, f"Only {'B' if rows_a is None else 'A'} has a formats.csv.")
    frame = format_deltas(rows_a, rows_b)
    if frame.empty:
        return empty_table("compare_formats", TITLE, "No case x format ran ok in both runs.")
    display = pd.DataFrame({"case": frame["case_id"], "format": frame["format"]})
    if frame["device"].nunique() > 1:
        display.insert(1, "device", frame["device"])
    for side in ("a", "b"):
        display[f"accuracy {side.upper()} (%)"] = [f"{100 * v:.1f}" for v in frame[f"test_accuracy_mean_{side}"]]
    display["Δ accuracy (points)"] = [f"{v:+.1f}" for v in frame["accuracy_delta_points"]]
    for side in ("a", "b"):
        display[f"latency p50 {side.upper()} (ms)"] = [number(v, 3) for v in frame[f"latency_p50_ms_{side}"]]
    display["Δ latency (%)"] = [f"{v:+.1f}" if pd.notna(v) else "" for v in frame["latency_delta_percent"]]
    note = (
        "Each deployed format of each case in both runs (formats.csv): test accuracy (mean over seeds) and "
        "batch-1 latency p50 (median over seeds); Δ is B minus A (accuracy in points, latency in % of A)."
    )
    return Table(name="compare_formats", title=TITLE, frame=frame, display=display, note=note)
