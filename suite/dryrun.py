"""``suite run --dry-run``: what a run would do and about how long it would take, training and writing nothing.

For every case and seed: the input side and why (``suite.sides``), the weights it would start from
(``suite.transfer.resolve_weights``: the same answer the run gets, so ImageNet weights that can't be had here show
as ``source:glyphs`` at the dataset's side), epochs per phase (``Regime.phases``), batch size and training images;
the formats every job exports to; an estimate of each job's time and of the total.

Estimates, in order of preference, each labelled in the table:

- ``earlier run``: the median ``case_seconds`` of ok rows of the same case (same key, or the same id, profile,
  side and weights) in the results folder;
- ``FLOPs``: GFLOPs per image at the job's side (from earlier rows of the architecture, else this machine's
  ``suite archs`` count, else the project's count, scaled by side squared: ``suite.measure.arch_facts``) times
  the images each phase passes (forward 1, backward 2 for what trains), at a training rate measured from the
  folder's earlier rows or, failing those, an assumed one; plus evaluation, the profile's measurement budget,
  the formats, a search's trials and source pretraining not cached yet.

The run's own preflight checks (``suite.runner.preflight``: user architectures build, weights files fit, sides
are allowed) run on the cases whose dataset can be read, so bad input exits 2 here as it would there; an unprepared
tfds set is noted, not fatal. No other model is built (FLOPs are scaled from counts), nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import pandas as pd

from suite.case import Case
from suite.data import training_images
from suite.errors import SuiteError
from suite.profiles import MeasureBudget, Profile, SourceBudget
from suite.regimes import REGIMES
from suite.sides import Side, SideRequest

# Fixed costs in seconds, assumed (near what the quick and mobile profiles' rows show on 2 CPU cores):
STARTUP_S = 15.0  # a worker process: Python, TensorFlow, the dataset
TRACE_S = 2.0  # tracing (and XLA compiling) a model's function the first time; a new batch size a quarter of it
CALL_OVERHEAD_S = 1e-3  # a model call's fixed cost above its FLOPs
FORMAT_EXPORT_S = 12.0  # exporting and loading one deployed format (litert_* 6-16 s, onnx 6-12 s for MobileNetV2)
# Training rates assumed where the results folder has no rows to measure one from, in GFLOP/s:
ASSUMED_GPU_GFLOPS = 20_000.0  # a data-centre GPU training ResNet50 at 224 px, float32 / TF32, batch 128
ASSUMED_CPU_SHARE = 0.2  # of the CPU's theoretical float32 peak (suite.measure.roof), what training gets
ASSUMED_CPU_GFLOPS = 50.0  # where the CPU's peak can't be read
# A split's sizes where the dataset can't be read here (an unprepared CIFAR-10): what the loader would give
# (50,000 training images, the last tenth kept for validation; 10,000 test), and its side.
EXPECTED = {"cifar10": (32, {"train": 45_000, "val": 5_000, "test": 10_000, "classes": 10})}
GLYPH_CLASSES = 52  # len(suite.data.glyphs.CLASSES), without importing Pillow (tests/test_dryrun.py checks)


@dataclass
class Rate:
    """A training rate in GFLOP/s and where it comes from."""

    gflops_per_s: float
    source: str

    @property
    def measured(self) -> bool:
        return self.source.startswith("measured")


@dataclass
class Line:
    """One case of the plan: the same for each of its seeds, but for which seeds are already done."""

    case: Case
    seeds: list[int]  # to run
    done: list[int]  # already ok in the results folder
    side: Side
    weights: str
    phases: str  # "head 5 + finetune 30"; a tuned case's search first
    train_images: int | None
    seconds: float | None  # one job
    basis: str  # what the estimate is from
    extra: list[str] = field(default_factory=list)  # what the estimate includes beyond training (source pretraining)
    formats: tuple[str, ...] = ()  # deployed formats the job exports to and measures


@dataclass
class DryRun:
    lines: list[Line]
    profile: Profile
    results_dir: Path
    device: str
    rate: Rate
    notes: list[str]  # datasets that can't be read here, and the like
    cpu: Rate | None = None  # the deployed formats' CPU runtimes, where training runs on a GPU

    @property
    def total_s(self) -> float | None:
        if any(line.seconds is None for line in self.lines if line.seeds):
            return None
        return sum(line.seconds * len(line.seeds) for line in self.lines if line.seeds)


def dataset_facts(name: str, image_size: int, datasets) -> tuple[int, dict[str, int] | None, str]:
    """``(side, split sizes, why not)`` of a dataset, read as preflight reads it; ``why not`` is "" if it reads.

    The sizes carry ``classes`` too, where the dataset reads (a ``train_per_class`` cut is that many times it)."""
    try:
        raw = datasets(name, image_size)
        return raw.side, {**raw.sizes, "classes": raw.num_classes}, ""
    except SuiteError as error:
        side, sizes = EXPECTED.get(name, (image_size or 64, None))
        return side, sizes, str(error)


def train_images_of(case: Case, sizes: dict[str, int]) -> int:
    """The images ``case`` trains on: its ``train_per_class`` cut where set (each epoch repeats it for the
    whole split's optimizer steps, so its cost is the whole split's), else the split cut to ``train_limit``."""
    return training_images(case, sizes["train"], sizes.get("classes", 0))


def phases_text(case: Case) -> str:
    """Epochs per phase as the run would train them; a tuned case's search first."""
    regime = REGIMES[case.regime]
    text = " + ".join(f"{phase.name} {phase.epochs}" for phase in regime.phases(case))
    if regime.searched:
        head = f"{case.head_epochs} head + " if case.head_epochs else ""
        text = f"search {case.trials} x ({head}{case.trial_epochs}); {text}"
    return text + ("*" if case.early_stopping else "")


def train_factor(fraction: float) -> float:
    """FLOPs of one training image relative to one forward pass: forward 1, backward 2 for the trainable share."""
    return 1.0 + 2.0 * (1.0 - fraction)


def row_factor(row) -> float:
    """The epoch-weighted ``train_factor`` of an earlier row's phases (from its ``case_json``)."""
    case = Case.from_json(row["case_json"])
    phases = REGIMES[case.regime].phases(case)
    epochs = sum(p.epochs for p in phases)
    return sum(p.epochs * train_factor(p.freeze_fraction) for p in phases) / epochs


def training_rate(earlier: pd.DataFrame, device: str, arch: str = "") -> Rate | None:
    """GFLOP/s that training achieved in the folder's earlier ok rows on ``device`` (of ``arch`` only, where
    given: a deep network of small layers gets far fewer FLOP/s than a wide one); else, without ``arch``, an
    assumed rate; with it, ``None``."""
    needed = {"status", "device", "gflops_per_image", "train_images_per_s", "case_json", "arch"}
    if needed <= set(earlier.columns):
        ok = earlier[(earlier["status"] == "ok") & (earlier["device"] == device)]
        ok = ok[ok["arch"] == arch] if arch else ok
        ok = ok.dropna(subset=["gflops_per_image", "train_images_per_s"])
        rates = []
        for _, row in ok.iterrows():
            try:
                rates.append(row_factor(row) * float(row["gflops_per_image"]) * float(row["train_images_per_s"]))
            except (TypeError, ValueError, KeyError):
                continue
        rates = [r for r in rates if r > 0 and math.isfinite(r)]
        if rates:
            whose = f"of {arch} " if arch else ""
            return Rate(median(rates), f"measured: median of {len(rates)} earlier row(s) {whose}in the results folder")
    if arch:
        return None
    if device == "gpu":
        return Rate(ASSUMED_GPU_GFLOPS, "assumed for a data-centre GPU (no earlier rows on gpu to measure it from)")
    from suite.measure.roof import theoretical_peak_gflops

    peak = theoretical_peak_gflops()
    if peak:
        return Rate(
            ASSUMED_CPU_SHARE * peak,
            f"assumed: {ASSUMED_CPU_SHARE:.0%} of this CPU's theoretical peak of {peak:,.0f} GFLOP/s "
            "(no earlier rows on cpu to measure it from)",
        )
    return Rate(ASSUMED_CPU_GFLOPS, "assumed (no earlier rows on cpu, and this CPU's peak can't be read)")


def earlier_gflops(earlier: pd.DataFrame, arch: str, side: int) -> float | None:
    """GFLOPs per image of ``arch`` at ``side`` from the folder's ok rows of it, scaled by side squared."""
    if not {"arch", "gflops_per_image", "image_size", "status"} <= set(earlier.columns):
        return None
    rows = earlier[(earlier["arch"] == arch) & (earlier["status"] == "ok")].dropna(
        subset=["gflops_per_image", "image_size"]
    )
    if not len(rows):
        return None
    nearest = rows.iloc[(rows["image_size"].astype(float) - side).abs().argsort().iloc[0]]
    return float(nearest["gflops_per_image"]) * (side / float(nearest["image_size"])) ** 2


def earlier_seconds(earlier: pd.DataFrame, key: str, case: Case, profile: str, side: int, weights: str):
    """Median ``case_seconds`` of ok rows of this case run as it would run now; None if there are none."""
    if not {"case_key", "case_seconds", "status", "image_size", "weights"} <= set(earlier.columns):
        return None
    ok = earlier[(earlier["status"] == "ok")].dropna(subset=["case_seconds"])
    same = ok["image_size"].astype(float).eq(side) & ok["weights"].astype(str).eq(weights)
    by_key = ok[same & ok["case_key"].eq(key)]
    if len(by_key):
        return float(by_key["case_seconds"].median())
    by_id = ok[same & ok["case_id"].eq(case.id) & ok["profile"].eq(profile)]
    return float(by_id["case_seconds"].median()) if len(by_id) else None


def mode_seconds(budget: MeasureBudget, gflops: float, rate: float) -> tuple[float, float]:
    """``(batch-1 latency, throughput sweep)`` seconds of one execution mode under the profile's budget."""
    one = CALL_OVERHEAD_S + gflops / rate
    latency = TRACE_S + budget.warmup_runs * one
    latency += min(budget.latency_max_s, max(budget.latency_min_s, budget.latency_runs * one))
    sweep = 0.0
    for batch in budget.batches:
        block = budget.throughput_runs * (CALL_OVERHEAD_S + batch * gflops / rate)
        sweep += TRACE_S / 4 + min(budget.throughput_max_s, max(budget.throughput_min_s, block))
    return latency, sweep


def measure_seconds(budget: MeasureBudget, gflops: float, rate: float, device: str) -> float:
    """About how long the profile's measurement of one model takes (``suite.measure.inference``): every mode in
    float32, and on a GPU each mixed precision at batch 1 and the probe batch."""
    latency, sweep = mode_seconds(budget, gflops, rate)
    mixed = len(budget.gpu_precisions) * len(budget.modes) * 2 * latency if device == "gpu" else 0.0
    return len(budget.modes) * (latency + sweep) + mixed


def job_seconds(
    case: Case,
    gflops: float,
    rate: float,
    sizes: dict[str, int],
    profile: Profile,
    device: str,
    formats: int,
    cpu_rate: float | None = None,
) -> float:
    """One job by FLOPs: startup, a search's trials, training, evaluation, measurement and the formats.

    The deployed formats run on CPU runtimes (LiteRT, ONNX Runtime, OpenVINO), each over the whole test split:
    at ``cpu_rate`` (default ``rate``), whatever device trains.
    """
    cpu_rate = cpu_rate or rate
    train = case.whole_train_images(sizes["train"])
    val = min(case.eval_limit or sizes["val"], sizes["val"])
    test = min(case.eval_limit or sizes["test"], sizes["test"])
    regime = REGIMES[case.regime]
    phases = regime.phases(case)
    passes = sum(p.epochs * train * train_factor(p.freeze_fraction) for p in phases)
    passes += sum(p.epochs for p in phases) * val + val + test  # validation each epoch, then the final evaluation
    if regime.searched:  # each trial: the head and trial_epochs, half the backbone training on average
        passes += case.trials * ((case.head_epochs + case.trial_epochs) * train * train_factor(0.5) + val)
    seconds = STARTUP_S + TRACE_S * (len(phases) + 2) + passes * gflops / rate
    seconds += measure_seconds(profile.measure, gflops, rate, device)
    deploy = FORMAT_EXPORT_S + test * gflops / cpu_rate + sum(mode_seconds(profile.measure, gflops, cpu_rate))
    return seconds + formats * deploy


def source_seconds(budget: SourceBudget, gflops: float, rate: float) -> float:
    """Pretraining one backbone on the made glyphs (``suite.source``), not cached yet: at most, since training
    stops early once the held-out accuracy reaches ``budget.target_accuracy``. Each check runs the two
    held-out sets forward."""
    checks = math.ceil(budget.max_images / budget.check_images)
    heldout = checks * 2 * budget.heldout_per_class * GLYPH_CLASSES
    return TRACE_S + (budget.max_images * train_factor(0.0) + heldout) * gflops / rate


def flops_estimate(line: Line, sizes: dict[str, int], earlier: pd.DataFrame, rates: dict, pretrained: set, how) -> None:
    """Fills ``line``'s estimate from FLOPs at its side (earlier rows, else the counted table) and a training
    rate (the architecture's rows, else all rows, else assumed), plus its backbone's source pretraining where
    that is not cached yet (once per architecture and side). ``how``: profile, device, formats, rate, CPU rate."""
    from suite import transfer
    from suite.measure.arch_facts import gflops_at

    profile, device, formats, rate, cpu = how
    case, side = line.case, line.side.pixels
    counted = earlier_gflops(earlier, case.arch, side)
    counted = (counted, "earlier rows") if counted is not None else gflops_at(case.arch, side)
    if counted is None:
        return
    gflops, source = counted
    if case.arch not in rates:
        rates[case.arch] = training_rate(earlier, device, case.arch)
    own = rates[case.arch] or rate
    line.seconds = job_seconds(case, gflops, own.gflops_per_s, sizes, profile, device, formats, cpu.gflops_per_s)
    whose = f"{case.arch}'s rows" if rates[case.arch] else "all rows" if rate.measured else "assumed"
    line.basis = f"FLOPs {gflops:.3g} G ({source}) at {own.gflops_per_s:,.0f} GFLOP/s ({whose})"
    if line.weights.startswith("source:") and (case.arch, side) not in pretrained:
        pretrained.add((case.arch, side))
        budget = profile.source_for(case.arch)
        if not transfer.source_weights_path(case.arch, side, case, budget).is_file() and line.seeds:
            line.seconds += source_seconds(budget, gflops, own.gflops_per_s)
            line.extra.append("source pretraining (at most)")


def plan(
    cases: Sequence[Case],
    profile: Profile,
    results_dir: Path,
    *,
    seeds: range,
    device: str = "auto",
    data_dir: str | None = None,
    formats: tuple[str, ...] | None = None,
    force: bool = False,
) -> DryRun:
    """The dry run of ``cases`` x ``seeds`` under ``profile`` into ``results_dir``: reads, never writes."""
    from suite import storage, transfer
    from suite.environment import environment
    from suite.runner import Datasets, case_key
    from suite.schedule import done_keys

    device = resolve_device(device)
    earlier = storage.read_results(results_dir) if storage.results_path(results_dir).is_file() else pd.DataFrame()
    done = set() if force or earlier.empty else done_keys(earlier)
    env = environment()
    rate = training_rate(earlier, device)
    cpu = rate if device == "cpu" else training_rate(earlier, "cpu")  # the rate of the formats' runtimes
    datasets = Datasets(data_dir)
    facts: dict[tuple[str, int], tuple[int, dict[str, int] | None, str]] = {}
    pretrained: set[tuple[str, int]] = set()
    rates: dict[str, Rate | None] = {}  # each architecture's own rate, where the folder has rows of it
    lines = []
    for case in cases:
        if (case.dataset, case.image_size) not in facts:
            facts[(case.dataset, case.image_size)] = dataset_facts(case.dataset, case.image_size, datasets)
        dataset_side, sizes, _ = facts[(case.dataset, case.image_size)]
        weights = transfer.resolve_weights(case, profile)
        side = job_side(case, dataset_side, weights, profile)
        key = case_key(case, env)
        line = Line(
            case,
            seeds=[s for s in seeds if force or (key, s) not in done],
            done=[s for s in seeds if not force and (key, s) in done],
            side=side,
            weights=weights,
            phases=phases_text(case),
            train_images=train_images_of(case, sizes) if sizes else None,
            seconds=None,
            basis="unknown",
            formats=profile.formats_for(case.id, formats),
        )
        seconds = earlier_seconds(earlier, key, case, profile.name, side.pixels, weights)
        if seconds is not None:
            line.seconds, line.basis = seconds, "earlier run"
        elif sizes is not None:
            flops_estimate(line, sizes, earlier, rates, pretrained, (profile, device, len(line.formats), rate, cpu))
        lines.append(line)
    notes = preflight_notes(cases, facts, data_dir)
    return DryRun(lines, profile, Path(results_dir), device, rate, notes, cpu)


def job_side(case: Case, dataset_side: int, weights: str, profile: Profile) -> Side:
    """The job's input side and why, by the run's own rule (``suite.sides`` through the pipeline)."""
    from suite.data.pipeline import case_side as side_of

    return side_of(SideRequest.of(case, weights, profile.transfer_side), dataset_side)


def preflight_notes(cases: Sequence[Case], facts: dict, data_dir: str | None) -> list[str]:
    """Runs the run's own checks before its first case (user architectures, weights files, sides) on the cases
    whose dataset can be read; a note per dataset that can't (raises ``SuiteError`` as the run would)."""
    from suite.runner import preflight

    unreadable = {name: why for (name, _), (_, _, why) in facts.items() if why}
    readable = [case for case in cases if case.dataset not in unreadable]
    if readable:
        preflight(readable, data_dir)
    what = "the run would stop before its first case" if not readable else "its jobs would fail"
    return [f"{name} can't be read here, so {what}: {why}" for name, why in sorted(unreadable.items())]


def resolve_device(device: str) -> str:
    """``cpu`` or ``gpu``: what ``--device`` would resolve to, without configuring TensorFlow."""
    if device in ("cpu", "gpu"):
        return device
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
