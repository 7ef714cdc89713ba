"""Tables and charts rebuilt from the stored results alone (never by training).

``write_report(DIR)`` reads ``DIR/results.csv`` and writes ``DIR/summary.csv``
(one row per case: mean and spread over seeds) and
``DIR/charts/accuracy_vs_latency.png``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402

from suite import storage  # noqa: E402
from suite.environment import require_one_fingerprint  # noqa: E402

REGIME_MARKERS = {"scratch": "o", "frozen": "s", "finetune": "D", "freeze25": "v", "freeze50": "^", "freeze75": "<"}


def t_interval(std: pd.Series, n: pd.Series, level: float = 0.95) -> pd.Series:
    """Half-width of the Student-t confidence interval of a mean (NaN for one seed)."""
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, (n - 1).clip(lower=1)) * std / n.pow(0.5)
    return half.where(n > 1)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per ``ok`` case: accuracy mean, std, n and 95% interval over seeds; median speed figures."""
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame(columns=["case_id", "arch", "regime", "dataset", "weights", "seeds"])
    grouped = ok.groupby(["case_id", "arch", "regime", "dataset", "weights", "device_name"], sort=True)
    summary = grouped.agg(
        seeds=("seed", "nunique"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        latency_p50_ms=("latency_p50_ms", "median"),
        latency_p50_ci_low_ms=("latency_p50_ci_low_ms", "median"),
        latency_p50_ci_high_ms=("latency_p50_ci_high_ms", "median"),
        latency_p99_ms=("latency_p99_ms", "median"),
        xla=("xla", lambda column: bool(column.dropna().mode().iloc[0]) if column.notna().any() else None),
        throughput_ips=("throughput_ips", "median"),
        throughput_batch=("throughput_batch", "first"),
        params=("params", "first"),
        gflops_per_image=("gflops_per_image", "first"),
        train_seconds=("train_seconds", "mean"),
        time_to_target_s=("time_to_target_s", "median"),
    ).reset_index()
    summary["test_accuracy_ci95"] = t_interval(summary["test_accuracy_std"], summary["seeds"])
    summary["test_accuracy_std"] = summary["test_accuracy_std"].fillna(0.0)
    return summary


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows no other row beats on both lower ``x`` and higher ``y``, sorted by ``x``."""
    front, best = [], float("-inf")
    for _, row in points.sort_values([x, y], ascending=[True, False]).iterrows():
        if row[y] > best:
            front.append(row)
            best = row[y]
    return pd.DataFrame(front)


def accuracy_vs_latency(summary: pd.DataFrame, path: Path) -> Path:
    """Test accuracy against batch-1 latency p50 (log x), one panel per dataset, Pareto front labelled."""
    datasets = sorted(summary["dataset"].unique()) or ["(no ok cases)"]
    archs = sorted(summary["arch"].unique())
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(archs)}
    figure, axes = plt.subplots(1, len(datasets), figsize=(7.5 * len(datasets), 5.5), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        points = summary[summary["dataset"] == dataset]
        for _, row in points.iterrows():
            axis.errorbar(
                row["latency_p50_ms"],
                100 * row["test_accuracy_mean"],
                yerr=100 * row["test_accuracy_std"],
                fmt=REGIME_MARKERS.get(row["regime"], "o"),
                color=colours[row["arch"]],
                markersize=8,
                markeredgecolor="black",
                markeredgewidth=0.5,
                capsize=3,
                alpha=0.9,
            )
        if not points.empty:
            front = pareto_front(points, "latency_p50_ms", "test_accuracy_mean")
            axis.step(
                front["latency_p50_ms"],
                100 * front["test_accuracy_mean"],
                where="post",
                color="0.4",
                linestyle="--",
                linewidth=1,
                zorder=0,
            )
            for offset, (_, row) in enumerate(front.iterrows()):
                axis.annotate(
                    f"{row['arch']}.{row['regime']}",
                    (row["latency_p50_ms"], 100 * row["test_accuracy_mean"]),
                    xytext=(8, -12 - 10 * (offset % 2)),
                    textcoords="offset points",
                    fontsize=8,
                    arrowprops=dict(arrowstyle="-", color="0.5", linewidth=0.5),
                )
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(
            ticker.FuncFormatter(lambda value, _: f"{value:g}" if str(value)[0] in "25" else "")
        )
        axis.set_xlabel("latency p50 at batch 1 (ms, log scale)")
        axis.set_ylabel("test accuracy (%)")
        device = ", ".join(sorted(points["device_name"].unique())) if not points.empty else ""
        axis.set_title(f"{dataset}: accuracy against latency\n{device}", fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[a], marker="o", linestyle="", label=a) for a in archs]
    handles += [
        plt.Line2D([], [], color="0.3", marker=m, linestyle="", label=r)
        for r, m in REGIME_MARKERS.items()
        if r in set(summary["regime"])
    ]
    handles.append(plt.Line2D([], [], color="0.4", linestyle="--", label="Pareto front"))
    figure.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0, 0.85, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(results_dir: Path, force: bool = False) -> list[Path]:
    """Rebuilds ``summary.csv`` and the charts of ``results_dir`` from ``results.csv``; returns the paths.

    Refuses rows from different machine fingerprints unless ``force``.
    """
    results_dir = Path(results_dir)
    results = storage.read_results(results_dir)
    require_one_fingerprint(results[results["status"] == "ok"], force, f"the results in {results_dir}")
    summary = summarise(results)
    summary_path = results_dir / "summary.csv"
    summary.to_csv(summary_path, index=False)
    chart = accuracy_vs_latency(summary, results_dir / "charts" / "accuracy_vs_latency.png")
    return [summary_path, chart]
