"""``suite run --dry-run``'s page: the plan of ``suite.run.dryrun`` as an aligned table and its notes."""

from __future__ import annotations

import textwrap

from suite.progress import duration
from suite.run.cost import STARTUP_S
from suite.run.dryrun import DryRun


def hours(seconds: float | None) -> str:
    """``duration``'s words up to 100 hours, whole hours beyond."""
    if seconds is not None and seconds >= 100 * 3600:
        return f"{seconds / 3600:,.0f} h"
    return duration(seconds)


def weights_text(weights: str) -> str:
    """The weights as the table shows them: a long hub handle by its last three parts (all in full below it)."""
    if weights.startswith("hub:") and len(weights) > 40:
        return "hub:.../" + "/".join(weights.rstrip("/").split("/")[-3:])
    return weights


def seed_text(seeds: list[int]) -> str:
    """``0-2``, ``1,2`` or ``-``."""
    if not seeds:
        return "-"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def row_cells(line) -> list[str]:
    """One plan line's cells, in ``render``'s header order."""
    total = hours(line.seconds * len(line.seeds)) if line.seconds is not None else "?"
    return [
        line.case.id,
        seed_text(line.seeds),
        seed_text(line.done),
        f"{line.side.pixels}",
        line.side.why,
        weights_text(line.weights),
        line.phases,
        str(line.case.batch_size),
        f"{line.train_images:,}" if line.train_images is not None else "?",
        hours(line.seconds),
        total if line.seeds else "done",
        line.basis + "".join(f" + {extra}" for extra in line.extra),
    ]


def render(run: DryRun) -> str:
    """The plan as an aligned text table, then the total and what the estimates are made of."""
    header = ["case", "seeds", "done", "side", "side from", "weights", "epochs per phase", "batch", "train imgs"]
    header += ["each (est.)", "all seeds (est.)", "estimate from"]
    rows = [row_cells(line) for line in run.lines]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    right = {3, 7, 8, 9, 10}  # numbers and durations

    def aligned(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    jobs = sum(len(line.seeds) for line in run.lines)
    done = sum(len(line.done) for line in run.lines)
    patience = sorted({line.case.early_stopping for line in run.lines if line.case.early_stopping})
    handles = sorted({line.weights for line in run.lines if weights_text(line.weights) != line.weights})
    explained = (
        "Every time is an estimate. 'earlier run': the median case_seconds of ok rows of the same case in "
        f"{run.results_dir}. 'FLOPs': GFLOPs per image at the job's side (earlier rows of the architecture, else "
        "this machine's `suite archs` count, else the project's count in docs/archs.md, scaled by side squared) x "
        "images x epochs x (1 forward + 2 backward for what trains), plus validation, a search's trials, the "
        f"profile's measurement and the formats, at the architecture's training rate measured from earlier rows, "
        f"else {run.rate.gflops_per_s:,.0f} GFLOP/s ({run.rate.source}), plus {STARTUP_S:.0f} s start-up per job."
        + (
            ""
            if run.cpu is run.rate
            else f" The formats run on CPU runtimes over the whole test split, at {run.cpu.gflops_per_s:,.0f} "
            f"GFLOP/s ({run.cpu.source})."
        )
        + (
            " A cut case (@N: N training images per class) repeats its images within each epoch for the whole "
            "split's optimizer steps, so it costs what the whole split does."
            if any(line.case.train_per_class for line in run.lines)
            else ""
        )
    )
    out = [
        f"suite run --dry-run: profile {run.profile.name}, {len(run.lines)} case(s), {jobs} job(s) to run"
        + (f", {done} already done in {run.results_dir}" if done else "")
        + f"; device {run.device}; nothing is trained or written",
        formats_text(run),
        "",
        aligned(header).rstrip(),
        aligned(["-" * w for w in widths]).rstrip(),
        *(aligned(row).rstrip() for row in rows),
        "",
        f"total (est.): {hours(run.total_s)} for {jobs} job(s), one at a time"
        + ("" if run.total_s is not None else " (some jobs have no estimate: see 'estimate from')"),
        "",
        *textwrap.wrap(explained, 120),
    ]
    if patience:
        patience_text = "/".join(map(str, patience))
        out.append(f"* early stopping (patience {patience_text} epochs) may end a phase sooner than its epochs.")
    out += [f"hub handle: {handle[4:]}" for handle in handles]
    out += [f"note: {note}" for note in run.notes]
    return "\n".join(out)


def formats_text(run) -> str:
    """The formats line: what every job exports to, or which cases export to what."""
    chosen = {line.formats for line in run.lines}
    if len(chosen) <= 1:
        return "formats every job exports to and measures: " + (", ".join(next(iter(chosen), ())) or "none")
    parts = []
    for formats in sorted(chosen, key=len, reverse=True):
        ids = [line.case.id for line in run.lines if line.formats == formats]
        parts.append(f"{', '.join(formats) or 'none'} for {len(ids)} case(s) ({', '.join(ids)})")
    return "formats the jobs export to and measure: " + "; ".join(parts)
