"""Label efficiency: test accuracy against training images per class, and where scratch catches up with transfer.

Only for results with more than one ``train_per_class`` (a ``label-efficiency`` run, or ``--set
train_per_class=N`` beside a whole-split run). A line is one case at its sizes (``arch.regime.dataset@N`` without
its ``@N``). Seeds combine as the mean and the sample standard deviation (0 for one seed); the chart's band is
mean ± std. "All" (``train_per_class`` 0) sits at its real per-class count: its training images over the classes,
the classes being a cut row's training images over its ``train_per_class`` (the largest such ratio of the dataset,
since ``train_limit`` can only lower it).

Scratch *holds its own* at a size when no transfer regime is more accurate there by the suite's one paired test
(``suite.stats``, through ``suite.report.intervals.difference``: on the seeds and test images both kept). Every
transfer regime is tested against scratch, not the best of them picked by its mean at each size, which would
favour transfer by picking the luckiest draw. The *crossover* is the smallest size from which scratch holds its
own at that size and every larger size measured; "never" when it does not at the largest.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from suite.case import split_size
from suite.regimes import REGIMES
from suite.report._figure import Style, finish, log_axis, panels
from suite.report._format import Table, empty_table, facets
from suite.report.intervals import difference
from suite.report.summary import regime_order
from suite.stats import Difference
from suite.storage import OUTCOME, by_seed

HEADING = "Label efficiency"
CHART = "label_efficiency"
TABLE = "label_efficiency_crossover"
KEYS = ["dataset", "device_name", "line", "arch", "regime", "train_per_class"]
DASHES = {"scratch": "-", "frozen": ":", "finetune": "--"}  # other regimes: "-."
CAPTION = (
    "Each line is one case (architecture × regime) at each training-set size: its mean test accuracy over seeds, "
    "with a band of ± one standard deviation across seeds. Log x axis; 'all' is plotted at the whole split's real "
    "images per class."
)
NOTE = (
    "Per architecture, the smallest training set (images per class) from which scratch holds its own at every "
    "larger size: no transfer regime is more accurate there by the paired test (same seeds, same test images; "
    "training variance and test sampling). 'never': a transfer regime is still more accurate at the largest size; "
    "the figures are then at that size. Accuracy in %, mean ± std across seeds; the interval is that of the "
    "strongest transfer regime minus scratch, in points."
)


def sized_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The ok rows with an accuracy and a training-image count; ``train_per_class`` 0 where a row predates it."""
    ok = results[results["status"] == "ok"].dropna(subset=["test_accuracy", "train_images"])
    sizes = ok["train_per_class"] if "train_per_class" in ok else pd.Series(0, index=ok.index)
    ok = ok.assign(train_per_class=sizes.fillna(0).astype(int))
    device = ok["device_name"].fillna("") if "device_name" in ok else ""
    return ok.assign(device_name=device, line=[split_size(str(c))[0] for c in ok["case_id"]])


def applies(results: pd.DataFrame) -> bool:
    """Whether the results hold more than one ``train_per_class``: the section appears only then."""
    return not results.empty and sized_rows(results)["train_per_class"].nunique() > 1


def curve_points(results: pd.DataFrame) -> pd.DataFrame:
    """One row per line and size on a dataset with two or more sizes: ``accuracy_mean``, ``accuracy_std``
    (0 for one seed), ``seeds``, ``per_class`` (real training images per class, the x axis) and ``test_images``
    (0 where rows don't say)."""
    rows = sized_rows(results)
    rows = rows[rows.groupby("dataset")["train_per_class"].transform("nunique") > 1]
    cut = rows[rows["train_per_class"] > 0]
    classes = (cut["train_images"] / cut["train_per_class"]).round().groupby(cut["dataset"]).max()
    rows = rows.assign(per_class=rows["train_images"] / rows["dataset"].map(classes))
    tested = rows["test_images"] if "test_images" in rows else pd.Series(float("nan"), index=rows.index)
    rows = rows.assign(test_images=pd.to_numeric(tested, errors="coerce"))  # a row without it doesn't count
    figures = dict(
        accuracy_mean=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        seeds=("seed", "nunique"),
        per_class=("per_class", "mean"),
        test_images=("test_images", "min"),
    )
    if OUTCOME in rows:
        figures["outcomes"] = (OUTCOME, by_seed)
    points = rows.groupby(KEYS, sort=True).agg(**figures)
    filled = {"accuracy_std": points["accuracy_std"].fillna(0.0), "test_images": points["test_images"].fillna(0)}
    return points.assign(**filled).reset_index()


def is_transfer(regime: str) -> bool:
    """A regime that starts pretrained (an unknown one: any but scratch)."""
    return REGIMES[regime].pretrained if regime in REGIMES else regime != "scratch"


def _as_case(point: pd.Series) -> dict:
    """A curve point in ``per_case``'s names, for ``suite.report.intervals.difference``."""
    return {
        "test_accuracy_mean": point["accuracy_mean"],
        "test_accuracy_std": point["accuracy_std"],
        "seeds": point["seeds"],
        "test_images": point["test_images"] or None,
        "outcomes": point.get("outcomes"),
    }


def _strongest(scratch: pd.Series, transfer: pd.DataFrame) -> tuple[pd.Series, Difference]:
    """The transfer regime at one size whose paired difference over scratch has the highest lower end."""
    tested = [(row, difference(_as_case(row), _as_case(scratch))) for _, row in transfer.iterrows()]
    return max(tested, key=lambda pair: (pair[1].low, pair[1].mean))


def crossover(points: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, device and architecture: the crossover size (NaN for never) and both sides' figures there.

    Columns: ``crossover_train_per_class`` (0 = all), ``at_train_per_class`` and ``at_per_class`` (where the
    figures are: the crossover, else the largest size), ``scratch_mean/std``, ``transfer_regime`` (the strongest
    there), ``transfer_mean/std``, ``gap_points`` (scratch - transfer, x 100), and ``transfer_minus_scratch_low``
    and ``_high`` (the paired test's 95% interval, in points) with ``paired``.
    """
    rows = []
    for (dataset, device, arch), group in points.groupby(["dataset", "device_name", "arch"], sort=True):
        scratch = group[group["regime"] == "scratch"].sort_values("accuracy_mean", ascending=False)
        scratch = scratch.drop_duplicates("train_per_class").set_index("train_per_class")  # its best line per size
        transfer = group[group["regime"].map(is_transfer)]
        sizes = sorted(set(scratch.index) & set(transfer["train_per_class"]), key=lambda s: scratch.loc[s, "per_class"])
        if not sizes:
            continue
        strongest = {s: _strongest(scratch.loc[s], transfer[transfer["train_per_class"] == s]) for s in sizes}
        holds = [strongest[s][1].verdict != "higher" for s in sizes]
        start = len(sizes)
        while start > 0 and holds[start - 1]:
            start -= 1
        at = sizes[start] if start < len(sizes) else sizes[-1]
        best, test = strongest[at]
        rows.append(
            {
                "dataset": dataset,
                "device_name": device,
                "arch": arch,
                "crossover_train_per_class": at if start < len(sizes) else float("nan"),
                "at_train_per_class": at,
                "at_per_class": scratch.loc[at, "per_class"],
                "scratch_mean": scratch.loc[at, "accuracy_mean"],
                "scratch_std": scratch.loc[at, "accuracy_std"],
                "transfer_regime": best["regime"],
                "transfer_mean": best["accuracy_mean"],
                "transfer_std": best["accuracy_std"],
                "gap_points": 100 * (scratch.loc[at, "accuracy_mean"] - best["accuracy_mean"]),
                "transfer_minus_scratch_low": 100 * test.low,
                "transfer_minus_scratch_high": 100 * test.high,
                "paired": test.paired,
            }
        )
    return pd.DataFrame(rows)


def size_label(train_per_class: int, per_class: float) -> str:
    """``"25"``, or ``"all (126)"`` for the whole split at its real images per class."""
    return str(int(train_per_class)) if train_per_class else f"all ({per_class:.0f})"


def _spread(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def crossover_table(points: pd.DataFrame) -> Table:
    """``crossover`` as a report table (``tables/label_efficiency_crossover``)."""
    title = "Label efficiency: where scratch holds its own against transfer"
    found = crossover(points)
    if found.empty:
        return empty_table(TABLE, title, "No architecture ran both scratch and a transfer regime at the same sizes.")
    display = pd.DataFrame({c: found[c] for c in facets(found)})
    display["architecture"] = found["arch"]
    crossed = zip(found["crossover_train_per_class"], found["at_per_class"])
    display["crossover (images per class)"] = ["never" if pd.isna(c) else size_label(c, x) for c, x in crossed]
    display["compared at"] = [size_label(s, x) for s, x in zip(found["at_train_per_class"], found["at_per_class"])]
    display["scratch %"] = [_spread(m, s) for m, s in zip(found["scratch_mean"], found["scratch_std"])]
    display["best transfer"] = found["transfer_regime"]
    display["transfer %"] = [_spread(m, s) for m, s in zip(found["transfer_mean"], found["transfer_std"])]
    display["scratch − transfer (points)"] = [f"{v:+.1f}" for v in found["gap_points"]]
    display["transfer − scratch, 95% interval (points)"] = [
        f"[{low:+.1f}, {high:+.1f}]{'' if paired else ' (unpaired)'}"
        for low, high, paired in zip(
            found["transfer_minus_scratch_low"], found["transfer_minus_scratch_high"], found["paired"]
        )
    ]
    return Table(name=TABLE, title=title, frame=found, display=display, note=NOTE)


def _line(axis, line: pd.DataFrame, colour, regime: str, marker: str) -> None:
    """One case's mean accuracy by size, with its ± std band."""
    line = line.sort_values("per_class")
    x, y, spread = line["per_class"], 100 * line["accuracy_mean"], 100 * line["accuracy_std"]
    axis.plot(x, y, color=colour, linestyle=DASHES.get(regime, "-."), marker=marker, markersize=4, linewidth=1.4)
    axis.fill_between(x, y - spread, y + spread, color=colour, alpha=0.15, linewidth=0)


def chart(points: pd.DataFrame, device: str, style: Style | None = None) -> Figure | None:
    """Test accuracy against training images per class (log x), a line and band per architecture x regime."""
    rows = points[points["device_name"] == device]
    if rows.empty:
        return None
    style = style or Style(rows["arch"], rows["regime"])
    datasets = sorted(rows["dataset"].unique())
    figure, axes = panels(len(datasets))
    for axis, dataset in zip(axes, datasets):
        here = rows[rows["dataset"] == dataset]
        for (_, arch, regime), line in here.groupby(["line", "arch", "regime"], sort=True):
            _line(axis, line, style.colours[arch], regime, style.markers[regime])
        log_axis(axis)
        ticks = here.groupby("train_per_class")["per_class"].mean().sort_values()
        axis.set_xticks(list(ticks), [size_label(s, x) for s, x in ticks.items()], fontsize=8)
        axis.xaxis.set_minor_formatter("")
        axis.set_xlabel("training images per class (log scale)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_title(dataset, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
    archs, regimes = sorted(rows["arch"].unique()), regime_order(rows["regime"].unique())
    handles = [Line2D([], [], color=style.colours[a], linewidth=2, label=a) for a in archs]
    handles += [
        Line2D([], [], color="0.35", linestyle=DASHES.get(r, "-."), marker=style.markers[r], label=r) for r in regimes
    ]
    handles.append(Patch(color="0.35", alpha=0.15, label="mean ± std across seeds"))
    finish(figure, f"Label efficiency: test accuracy against training images per class\n{device}", handles)
    return figure
