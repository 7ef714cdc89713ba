"""The deployed formats (``formats.csv``): one row per case x format, a table per architecture, what to ship.

Read from the stored ``formats.csv`` alone (``suite.deploy`` wrote it; nothing here imports it). A case's
formats are compared with its own ``keras`` row, measured by the same protocol on the same test images:
speed-up = Keras p50 / format p50 (above 1: the format is faster), accuracy change = (format - Keras) x 100
points. Seeds combine as ``per_case`` combines them (accuracy: mean with its interval; speed: medians).
"""

from __future__ import annotations

import pandas as pd

from suite.report._figure import slug
from suite.report._format import Table, accuracy_texts, empty_table, facets, number
from suite.report.front import best_under_budgets, budget_columns, winner_text
from suite.report.summary import SUMMARY_KEYS, per_case

KERAS = "keras"  # the reference format: the case's saved .keras file, reloaded
SHIP_NOTE = (
    "For each budget (the headline's: the run's --budgets, else the 1-2-5 ladder over the measured range), the "
    "most accurate case x format whose batch-1 latency p90 is within it (its 95% interval wholly at or below; one "
    "that straddles the budget is named at the edge). Keras counts as a format: the saved .keras "
    "file reloaded and measured by the same protocol, on the same test images, as the files exported from it. "
    "Rows the accuracy test cannot separate from the most accurate one are named with it as 'tied' (formats keep "
    "no per-image outcomes, so this test is the unpaired one)."
)
ARCH_NOTE = (
    "Per case and format: batch-1 latency p50 (median over seeds), speed-up against the case's Keras row "
    "(Keras p50 / format p50: above 1 is faster), test accuracy (mean over seeds, 95% interval), its change "
    "from Keras in points ((format - Keras) x 100) and the file's size in MB (10^6 bytes)."
)


def case_keys(formats: pd.DataFrame) -> list[str]:
    """The columns that name one case on one device in ``formats`` (``SUMMARY_KEYS`` it has)."""
    return [k for k in SUMMARY_KEYS if k in formats]


def per_format(formats: pd.DataFrame) -> pd.DataFrame:
    """One row per ok case x format x device: ``per_case``'s figures over seeds, the size, and against Keras.

    Adds ``file_mb`` (median), ``quantised``, ``keras_test_accuracy_mean``, ``keras_latency_p50_ms``,
    ``speedup_vs_keras`` and ``accuracy_change_points``; a case without an ok Keras row has them empty.
    """
    keys = case_keys(formats)
    ok = formats[formats["status"] == "ok"]
    cases = per_case(ok, [*keys, "format"])
    if cases.empty:
        return cases
    extra = ok.groupby([*keys, "format"], dropna=False).agg(
        file_mb=("file_mb", "median"), quantised=("quantised", lambda q: q.astype(str).str.lower().eq("true").any())
    )
    cases = cases.join(extra, on=[*keys, "format"])
    keras = cases[cases["format"] == KERAS].set_index(keys)[["test_accuracy_mean", "latency_p50_ms"]]
    cases = cases.join(keras.add_prefix("keras_"), on=keys)
    cases["speedup_vs_keras"] = cases["keras_latency_p50_ms"] / cases["latency_p50_ms"]
    cases["accuracy_change_points"] = 100 * (cases["test_accuracy_mean"] - cases["keras_test_accuracy_mean"])
    keras_first = (cases["format"] != KERAS).astype(int)
    order = ["dataset", "device_name", "case_id"]
    return (
        cases.assign(_keras_first=keras_first)
        .sort_values([*order, "_keras_first", "latency_p50_ms"])
        .drop(columns="_keras_first")
        .reset_index(drop=True)
    )


def _signed(value, digits: int = 1) -> str:
    return "" if value is None or pd.isna(value) else f"{value:+.{digits}f}"


def arch_table(arch: str, rows: pd.DataFrame) -> Table:
    """One architecture's cases x formats: latency p50, speed-up against Keras, accuracy change, size."""
    columns = [*facets(rows), "case_id", "format", "quantised", "seeds", "latency_p50_ms", "latency_p90_ms",
               "speedup_vs_keras", "test_accuracy_mean", "accuracy_change_points", "file_mb"]  # fmt: skip
    frame = rows[columns].reset_index(drop=True)
    display = pd.DataFrame({c: frame[c] for c in facets(rows)})
    display["case"] = frame["case_id"]
    display["format"] = [f"{f} (quantised)" if q else f for f, q in zip(frame["format"], frame["quantised"])]
    display["latency p50 (ms)"] = [number(v, 3) for v in frame["latency_p50_ms"]]
    display["speed-up vs Keras (×)"] = [number(v, 3) for v in frame["speedup_vs_keras"]]
    display["test accuracy % [95% CI]"] = accuracy_texts(rows.reset_index(drop=True))
    display["accuracy change (points)"] = [_signed(v) for v in frame["accuracy_change_points"]]
    display["size (MB)"] = [number(v, 3) for v in frame["file_mb"]]
    return Table(
        name=f"formats_{slug(arch)}", title=f"Deployed formats: {arch}", frame=frame, display=display, note=ARCH_NOTE
    )


def arch_tables(deployed: pd.DataFrame) -> list[Table]:
    """A table per architecture (``arch_table``), or one empty table saying that no format ran ok."""
    if deployed.empty:
        return [empty_table("formats", "Deployed formats", "No format in formats.csv ran ok.")]
    return [arch_table(arch, rows) for arch, rows in deployed.groupby("arch", sort=True)]


def ship_frame(deployed: pd.DataFrame, budgets=None) -> pd.DataFrame:
    """``best_under_budgets`` of the deployed rows as text: device, dataset, budget, case, format, accuracy, p90,
    speed-up. ``budgets``: the folder's (``budgets.json``), else the ladder."""
    best = best_under_budgets(deployed, budgets)
    if best.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            **budget_columns(best, lambda budget: number(budget, 3)),
            "case (format)": [winner_text(row) for _, row in best.iterrows()],
            "test accuracy % [95% CI]": accuracy_texts(best),
            "accuracy change (points)": [_signed(v) for v in best["accuracy_change_points"]],
            "its p90 (ms)": [number(v, 3) for v in best["latency_p90_ms"]],
            "speed-up vs Keras (×)": [number(v, 3) for v in best["speedup_vs_keras"]],
        }
    )


def ship_table(deployed: pd.DataFrame, budgets=None) -> Table:
    """``ship_frame`` as a report table (``tables/formats_ship``); the numbers in its CSV."""
    title = "What to ship: the most accurate deployed format within a latency budget"
    best = best_under_budgets(deployed, budgets)
    if best.empty:
        return empty_table("formats_ship", title, "No ok format has both an accuracy and a latency p90.")
    columns = ["device_name", "dataset", "budget_ms", "case_id", "format", "test_accuracy_mean",
               "accuracy_change_points", "latency_p90_ms", "latency_p50_ms", "speedup_vs_keras"]  # fmt: skip
    display = ship_frame(deployed, budgets)
    return Table(name="formats_ship", title=title, frame=best[columns], display=display, note=SHIP_NOTE)
