"""Serving under load (``serving.csv``, from ``suite.run.serve``): a table per network and format, and p99 against
offered load; and the Offline rate as the throughput the report ranks by.

Each (network, format) was served by MLPerf LoadGen in three scenarios after the final lap: SingleStream (its p90),
Offline (images per second) and a bisection of the Server rate (Poisson arrivals) for the highest rate whose p99
keeps within the bound. Every figure keeps LoadGen's VALID/INVALID verdict: the runs are shorter than MLPerf's,
so a verdict of INVALID (most often: too few queries for early stopping to pin the p99) says the figure is a
short run's, not that it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from suite.report._figure import Style, finish, log_axis, panels, slug
from suite.report._format import Table, empty_table, facets, number
from suite.report.deployed_chart import markers

HEADING = "Serving under load: p99 against offered load"
CHART = "serving_p99_vs_qps"
CAPTION = (
    "Each line is one network in one format served by MLPerf LoadGen's Server scenario: Poisson arrivals at the "
    "offered rate (x), the p99 latency LoadGen measured (y); the dashed line is the p99 bound, and the table's "
    "peak rate is the highest point at or under it. Filled markers: LoadGen said VALID; hollow: INVALID (a short "
    "run: too few queries for its early-stopping rule). It shows one client on this one machine calling the model "
    "in process, answered by one worker thread, with no network stack, batching or replicas: a one-replica "
    "server's queueing, not a deployment's capacity."
)
NOTE = (
    "Per network and format, from MLPerf LoadGen runs after the final lap (one worker thread, in process, no "
    "network stack): the highest Server rate (Poisson arrivals) tried whose p99 kept within the bound, with that "
    "run's p99 and verdict, and where a rerun's peak falls (up to the lowest rate that broke the bound, or the "
    "Offline rate where none did; down to one such search bracket below the peak, since a rerun's search keeps a "
    "rate on its own grid); SingleStream's p90 (one query in "
    "flight); Offline's images per second (every query at once, in batches), which is the throughput the other "
    "tables rank by where it exists. Runs are shorter than MLPerf's 600 s, so LoadGen may say INVALID; the figure "
    "is still the one it measured."
)


def scenario(rows: pd.DataFrame, name: str) -> pd.Series | None:
    """The one ok row of ``name`` among one (network, format)'s rows, or None."""
    found = rows[(rows["scenario"] == name) & (rows["status"] == "ok")]
    return found.iloc[0] if len(found) else None


def peak(rows: pd.DataFrame) -> pd.Series | None:
    """The Server run at the highest offered rate whose p99 kept within the bound, or None."""
    server = rows[(rows["scenario"] == "Server") & rows["within_bound"]]
    return server.loc[server["target_qps"].idxmax()] if len(server) else None


def ceiling(rows: pd.DataFrame, offline: pd.Series | None) -> float | None:
    """The search's upper end: the lowest offered rate whose p99 broke the bound, else the Offline rate (nothing
    is served faster than all at once). The peak lies between the highest rate kept and this: its interval."""
    broke = rows[(rows["scenario"] == "Server") & (rows["status"] == "ok") & ~rows["within_bound"].astype(bool)]
    if len(broke):
        return float(broke["target_qps"].min())
    return float(offline["samples_per_s"]) if offline is not None else None


def floor(peak_qps: float | None, ceiling_qps: float | None) -> float | None:
    """The low end of where a rerun's peak falls: one search bracket below this one's peak.

    A search reports the highest rate it kept on its own grid of rates (halvings of its own Offline rate), so a
    rerun that meets the same threshold reports any rate up to one bracket (``ceiling - peak``) below it; the
    rerun interval is ``[peak - bracket, ceiling]``. On two quick runs (Zen 5) it held the other run's peak both
    ways for 4 of 6 files; the bare bracket, for 1.
    """
    if peak_qps is None or ceiling_qps is None or pd.isna(peak_qps) or pd.isna(ceiling_qps):
        return None
    return max(0.0, peak_qps - (ceiling_qps - peak_qps))


def per_file(serving: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, dataset, network, format): peak Server rate, SingleStream p90, Offline rate, verdicts."""
    keys = ["device_name", "dataset", "network", "format"]
    rows = []
    for key, group in serving.groupby(keys, sort=True, dropna=False):
        single, offline, best = scenario(group, "SingleStream"), scenario(group, "Offline"), peak(group)
        failed = group[group["status"] != "ok"]
        rows.append({
            **dict(zip(keys, key)), "arch": group["arch"].iloc[0], "cases": " ".join(group["cases"].iloc[0]),
            "bound_ms": group["bound_ms"].iloc[0], "server_runs": int((group["scenario"] == "Server").sum()),
            "lowest_tried_qps": group.loc[group["scenario"] == "Server", "target_qps"].min(),
            "peak_qps": best["target_qps"] if best is not None else (0.0 if offline is not None else None),
            "peak_ceiling_qps": (top := ceiling(group, offline)),
            "peak_floor_qps": floor(best["target_qps"] if best is not None else None, top),
            "peak_p99_ms": best["latency_p99_ms"] if best is not None else None,
            "peak_result": best["loadgen_result"] if best is not None else "",
            "single_stream_p90_ms": single["latency_p90_ms"] if single is not None else None,
            "single_stream_result": single["loadgen_result"] if single is not None else "",
            "offline_ips": offline["samples_per_s"] if offline is not None else None,
            "offline_result": offline["loadgen_result"] if offline is not None else "",
            "error": str(failed["error"].iloc[0]) if len(failed) else "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def serving_table(serving: pd.DataFrame) -> Table:
    """The "Serving under load" table: see ``NOTE``."""
    title = "Serving under load (MLPerf LoadGen)"
    frame = per_file(serving)
    if frame.empty:
        return empty_table("serving", title, "serving.csv has no rows.")
    bound = number(frame["bound_ms"].iloc[0])
    display = pd.DataFrame({"network": frame["network"], "format": frame["format"]})
    for column in facets(frame):
        display.insert(0, column, frame[column])
    display[f"peak QPS at p99 ≤ {bound} ms"] = [
        f"below {number(low)}" if v == 0 and pd.notna(low) else number(v)
        for v, low in zip(frame["peak_qps"], frame["lowest_tried_qps"])
    ]
    display["rerun interval (QPS)"] = [
        f"[{number(low)}, {number(top)}]" if pd.notna(low) and pd.notna(top) else ""
        for low, top in zip(frame["peak_floor_qps"], frame["peak_ceiling_qps"])
    ]
    display["p99 there (ms)"] = [number(v, 3) for v in frame["peak_p99_ms"]]
    display["verdict"] = frame["peak_result"]
    display["SingleStream p90 (ms)"] = [number(v, 3) for v in frame["single_stream_p90_ms"]]
    display["SingleStream verdict"] = frame["single_stream_result"]
    display["Offline (images/s)"] = [number(v) for v in frame["offline_ips"]]
    display["Offline verdict"] = frame["offline_result"]
    if (frame["error"] != "").any():
        display["error"] = frame["error"]
    return Table(name="serving", title=title, frame=frame, display=display.fillna(""), note=NOTE, wrap=True)


def chart(serving: pd.DataFrame, device: str, style: Style) -> Figure | None:
    """p99 against offered rate of every Server search on ``device``: a panel per dataset, a line per file."""
    server = serving[(serving["scenario"] == "Server") & (serving["device_name"] == device)]
    server = server.dropna(subset=["target_qps", "latency_p99_ms"])
    if server.empty:
        return None
    datasets = sorted(server["dataset"].unique())
    figure, axes = panels(len(datasets))
    shapes = markers(server["format"])
    for axis, dataset in zip(axes, datasets):
        for (_network, fmt), runs in server[server["dataset"] == dataset].groupby(["network", "format"]):
            runs = runs.sort_values("target_qps")
            colour = style.colours.get(runs["arch"].iloc[0], "0.4")
            axis.plot(runs["target_qps"], runs["latency_p99_ms"], color=colour, linewidth=1, alpha=0.7)
            for valid, points in runs.groupby("loadgen_valid"):
                axis.scatter(points["target_qps"], points["latency_p99_ms"], marker=shapes[fmt], s=36, zorder=3,
                             edgecolors=colour, facecolors=colour if valid else "none")  # fmt: skip
        axis.axhline(server["bound_ms"].iloc[0], color="0.3", linestyle="--", linewidth=1)
        log_axis(axis, "x")
        log_axis(axis, "y")
        axis.set_xlabel("offered load (queries/s, Poisson arrivals, log scale)")
        axis.set_ylabel("p99 latency (ms, log scale)")
        axis.set_title(dataset, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
    handles = style.handles([a for a in server["arch"] if a in style.colours], [])
    handles += [Line2D([], [], color="0.35", marker=shapes[f], linestyle="", label=f) for f in sorted(shapes)]
    handles += [
        Line2D([], [], color="0.35", marker="o", linestyle="", label="LoadGen: VALID"),
        Line2D([], [], color="0.35", marker="o", markerfacecolor="none", linestyle="", label="LoadGen: INVALID"),
        Line2D([], [], color="0.3", linestyle="--", label=f"p99 bound {number(server['bound_ms'].iloc[0])} ms"),
    ]
    finish(figure, f"Serving under load: p99 against offered load\n{device}", handles)
    return figure


def draw(serving: pd.DataFrame, chart_dir: Path, style: Style, add: Callable) -> None:
    """Files one ``chart`` per device under ``HEADING`` with ``add(heading, stem, build, caption)`` (the report's
    ``_add``); the file is ``CHART`` plus ``-<device>`` where the rows hold more than one device."""
    devices = sorted(serving["device_name"].dropna().unique())
    for device in devices:
        stem = chart_dir / f"{CHART}{'' if len(devices) == 1 else '-' + slug(device)}"
        add(HEADING, stem, partial(chart, serving, device, style), CAPTION)


def with_serving(cases: pd.DataFrame, serving: pd.DataFrame | None) -> pd.DataFrame:
    """``cases`` (``per_case`` rows, or ``deployed.per_format`` rows) with LoadGen's Offline rate as
    ``throughput_ips`` where their network and format was served; the best timed block of the batch sweep stays as
    ``throughput_best_block_ips``, and ``throughput_source`` says which ``throughput_ips`` is."""
    cases = cases.copy()
    if "throughput_ips" in cases:
        cases["throughput_best_block_ips"] = cases["throughput_ips"]
    cases["throughput_source"] = "best block"
    if serving is None or cases.empty:
        return cases
    offline = serving[(serving["scenario"] == "Offline") & (serving["status"] == "ok")]
    rates = {(r["device_name"], case_id, r["format"]): r["samples_per_s"]
             for _, r in offline.iterrows() for case_id in r["cases"]}  # fmt: skip
    formats = cases["format"] if "format" in cases else pd.Series("keras", index=cases.index)
    for index, key in zip(cases.index, zip(cases["device_name"], cases["case_id"], formats)):
        if key in rates:
            cases.loc[index, ["throughput_ips", "throughput_source"]] = [rates[key], "offline"]
    return cases
