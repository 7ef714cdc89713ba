"""The final lap's figures in place of each case's own timing, where the folder has a ``lap.csv``.

``suite.run.lap`` times every network and deployed format side by side after the cases trained; a case's own
figures were taken in its job, minutes apart from the others. Where the lap timed a case's network (and format),
the report reads the lap: the regimes of one network then carry one latency, and the front, the budget tables and
"what to ship" compare networks timed under one load. ``latency_source`` says which figure a row carries.
"""

from __future__ import annotations

import pandas as pd

LAP_FIGURES = (
    *("latency_p50_ms", "latency_p50_ci_low_ms", "latency_p50_ci_high_ms"),
    *("latency_p90_ms", "latency_p90_ci_low_ms", "latency_p90_ci_high_ms", "latency_p99_ms"),
    "drift_sd",  # the machine's drift in the intervals (suite.run.drift); comparisons within the lap take it out
)


def lap_figures(lap: pd.DataFrame) -> pd.DataFrame:
    """One row per (device_name, case_id, format) the lap covers, with its ``LAP_FIGURES``."""
    rows = [
        {"device_name": row["device_name"], "case_id": case_id, "format": row["format"],
         **{f: row.get(f, float("nan")) for f in LAP_FIGURES}}
        for _, row in lap.iterrows()
        for case_id in row["cases"]
    ]  # fmt: skip
    return pd.DataFrame(rows).drop_duplicates(["device_name", "case_id", "format"])


def with_lap(cases: pd.DataFrame, lap: pd.DataFrame | None) -> pd.DataFrame:
    """``cases`` (``per_case`` rows, or ``deployed.per_format`` rows with their ``format``) with the lap's figures
    for their network and format where it has them; ``latency_source`` is ``lap`` there, ``case`` elsewhere."""
    cases = cases.copy()
    cases["latency_source"] = "case"
    if lap is None or cases.empty:
        return cases
    figures = lap_figures(lap).set_index(["device_name", "case_id", "format"])
    formats = cases["format"] if "format" in cases else pd.Series("keras", index=cases.index)
    for index, key in zip(cases.index, zip(cases["device_name"], cases["case_id"], formats)):
        if key in figures.index:
            for figure in LAP_FIGURES:
                cases.loc[index, figure] = figures.loc[key, figure]
            cases.loc[index, "latency_source"] = "lap"
    return cases


def lap_caveat(lap: pd.DataFrame | None) -> str:
    """One line saying where the latencies come from."""
    if lap is None:
        return (
            "Latency: each case's own timing, taken in its job minutes apart from the others (no final lap in this "
            "folder), so a load swing between jobs can move one network against another."
        )
    rounds, calls = int(lap["rounds"].iloc[0]), int(lap["calls_per_round"].iloc[0])
    processes = int(lap["processes"].max()) if "processes" in lap and lap["processes"].notna().any() else 1
    networks = lap[lap["format"] == "keras"]
    text = (
        f"Latency: the final lap, which timed {len(networks)} network(s) and {len(lap) - len(networks)} deployed "
        f"file(s) side by side after training, in {processes} process(es) of {rounds} rounds of {calls} batch-1 "
        "calls in a new random order each round; intervals say where a rerun's figure falls (from the spread between "
        "rounds and between processes), and the regimes of one network share its figure."
    )
    text += drift_sentence(lap)
    spread = process_spread(lap)
    if spread is not None and spread >= DRIFT_WARNING:
        text += (
            f" The machine's speed changed during the lap: its processes' p50s were {spread:.2f}x apart (median over "
            "entries), so every figure moved together; the ranking holds, the milliseconds may not on a rerun."
        )
    return text


def drift_sentence(lap: pd.DataFrame) -> str:
    """What the machine's measured drift (``suite.run.drift``) added to the intervals; "" where none was measured."""
    if "drift_sd" not in lap or not lap["drift_sd"].fillna(0).gt(0).any():
        return ""
    sd, probes = float(lap["drift_sd"].max()), int(lap["drift_probes"].max())
    return (
        f" A fixed reference workload, timed in every timed job and lap process, varied by {100 * sd:.1f}% (log "
        f"standard deviation of this machine's {probes} newest probes, earlier runs' included): every interval "
        "includes that drift, since a rerun meets the machine at another moment; comparisons within the lap do not "
        "need it."
    )


DRIFT_WARNING = 1.2  # the processes' p50s this far apart (max/min, median over entries) say the machine drifted


def process_spread(lap: pd.DataFrame) -> float | None:
    """The median over the lap's entries of max/min of their per-process p50s; None without several processes.

    On one Zen 5 machine the whole machine drifted by up to 1.4x within a minute, every entry alike: six laps of
    one folder, back to back, were 1.00-1.39 times the fastest lap's figures (their median over entries)."""
    if "p50_by_process_ms" not in lap:
        return None
    ratios = []
    for text in lap["p50_by_process_ms"].dropna():
        values = [float(v) for v in str(text).split()]
        if len(values) > 1 and min(values) > 0:
            ratios.append(max(values) / min(values))
    return float(pd.Series(ratios).median()) if ratios else None
