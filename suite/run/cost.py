"""What a job costs before it runs, by its FLOPs: the prior of the one time estimator (``suite.run.estimate``).

A job's seconds are its GFLOPs per image at the job's side (from the folder's earlier rows of the architecture,
else this machine's ``suite archs`` count, else the project's count, scaled by side squared:
``suite.measure.arch_facts``) times the images each phase passes (forward 1, backward 2 for what trains), at a
training rate measured from the folder's earlier rows or, failing those, an assumed one; plus start-up, tracing,
evaluation, the profile's measurement budget, the deployed formats, a search's trials, and source pretraining not
cached yet. ``work`` is the same count without the fixed costs: GFLOPs, on which the estimator fits this run's
finished jobs (``suite.run.order.work_gflop``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

import pandas as pd

from suite import transfer
from suite.case import Case, grid_rungs
from suite.data import training_images
from suite.data.datasets import Datasets
from suite.data.pipeline import case_side, input_side
from suite.errors import SuiteError
from suite.measure import arch_facts
from suite.measure.roof import theoretical_peak_gflops
from suite.models import ARCHITECTURES
from suite.profiles import MeasureBudget, Profile, SourceBudget
from suite.regimes import REGIMES
from suite.run import order
from suite.run.jobs import Job, priced_case
from suite.run.settings import RunSettings
from suite.sides import Side, SideRequest

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, kw_only=True)
class Rate:
    """A training rate in GFLOP/s and where it comes from."""

    gflops_per_s: float
    source: str

    @property
    def measured(self) -> bool:
        return self.source.startswith("measured")


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
    """The images ``case`` trains on (``suite.data.training_images``: its ``train_per_class`` cut where set, else
    the split cut to ``train_limit``); a cut repeats for the whole split's optimizer steps, so it costs as much."""
    return training_images(case, sizes["train"], sizes.get("classes", 0))


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
            return Rate(
                gflops_per_s=median(rates),
                source=f"measured: median of {len(rates)} earlier row(s) {whose}in the results folder",
            )
    if arch:
        return None
    if device == "gpu":
        return Rate(
            gflops_per_s=ASSUMED_GPU_GFLOPS,
            source="assumed for a data-centre GPU (no earlier rows on gpu to measure it from)",
        )
    peak = theoretical_peak_gflops()
    if peak:
        return Rate(
            gflops_per_s=ASSUMED_CPU_SHARE * peak,
            source=f"assumed: {ASSUMED_CPU_SHARE:.0%} of this CPU's theoretical peak of {peak:,.0f} GFLOP/s "
            "(no earlier rows on cpu to measure it from)",
        )
    return Rate(
        gflops_per_s=ASSUMED_CPU_GFLOPS, source="assumed (no earlier rows on cpu, and this CPU's peak can't be read)"
    )


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


def source_seconds(budget: SourceBudget, gflops: float, rate: float) -> float:
    """Pretraining one backbone on the made glyphs (``suite.source``), not cached yet: at most, since training
    stops early once the held-out accuracy reaches ``budget.target_accuracy``. Each check runs the two
    held-out sets forward."""
    checks = math.ceil(budget.max_images / budget.check_images)
    heldout = checks * 2 * budget.heldout_per_class * GLYPH_CLASSES
    return TRACE_S + (budget.max_images * train_factor(0.0) + heldout) * gflops / rate


@dataclass(frozen=True, kw_only=True)
class Rates:
    """The training rates a job is priced at: its architecture's own where the folder has rows of it, else the
    run's; and the CPU rate of the deployed formats' runtimes."""

    train: Rate
    cpu: Rate


def job_seconds(
    case: Case, gflops: float, sizes: dict[str, int], settings: RunSettings, where: tuple[str, Rates], timed=True
) -> float:
    """One job by FLOPs: startup, a search's trials, training, evaluation, measurement and the formats.

    ``where``: the device that trains and the rates. The deployed formats run on CPU runtimes (LiteRT, ONNX
    Runtime, OpenVINO), each over the whole test split, at the CPU rate, whatever device trains. Not ``timed``
    (``RunSettings.timed``): no measurement, and the formats' accuracy only.
    """
    device, rates = where
    rate, cpu_rate = rates.train.gflops_per_s, rates.cpu.gflops_per_s
    train = case.whole_train_images(sizes["train"])
    val = min(case.eval_limit or sizes["val"], sizes["val"])
    test = min(case.eval_limit or sizes["test"], sizes["test"])
    regime = REGIMES[case.regime]
    phases = [p for run in (*grid_rungs(case), case) for p in regime.phases(run)]  # the rate grid's rungs first
    passes = sum(p.epochs * train * train_factor(p.freeze_fraction) for p in phases)
    passes += sum(p.epochs for p in phases) * val + val + test  # validation each epoch, then the final evaluation
    if regime.searched:  # each trial: the head and trial_epochs, half the backbone training on average
        passes += case.trials * ((case.head_epochs + case.trial_epochs) * train * train_factor(0.5) + val)
    seconds = STARTUP_S + TRACE_S * (len(phases) + 2) + passes * gflops / rate
    budget = settings.profile.measure
    seconds += measure_seconds(budget, gflops, rate, device) if timed else 0.0
    formats = len(settings.formats_for(case))
    deploy = FORMAT_EXPORT_S + test * gflops / cpu_rate + (sum(mode_seconds(budget, gflops, cpu_rate)) if timed else 0)
    return seconds + formats * deploy


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    """What planning knows of a case before it runs: its input side and weights, its dataset's split sizes."""

    side: Side
    weights: str
    sizes: dict[str, int] | None  # None: the dataset can't be read here, nor is it EXPECTED
    unreadable: str  # why the dataset can't be read here; "" if it can


@dataclass(frozen=True, kw_only=True)
class Priced:
    """A job's FLOPs estimate: seconds, and where they come from."""

    seconds: float
    basis: str  # "FLOPs 0.5 G (counted here) at 40 GFLOP/s (simple_cnn's rows)"
    extra: tuple[str, ...] = ()  # what it includes beyond the job itself: source pretraining


class FlopPrior:
    """Prices jobs by their FLOPs before any of them has run (see the module's docstring); ``prior(job)``."""

    def __init__(self, earlier: pd.DataFrame, settings: RunSettings, device: str, datasets: Datasets):
        self.earlier, self.settings, self.device, self.datasets = earlier, settings, device, datasets
        self.profile = settings.profile
        self.rate = training_rate(earlier, device)
        self.cpu = self.rate if device == "cpu" else training_rate(earlier, "cpu")  # the formats' runtimes
        self._facts: dict[str, CaseFacts] = {}
        self._rates: dict[str, Rate | None] = {}  # each architecture's own rate, where the folder has rows of it
        self._sources: dict[tuple[str, int], float] = {}  # uncached (arch, side) sources: their pretraining seconds
        self._payers: set[tuple[str, int]] = set()  # (key, seed) of the first job to need each uncached source

    def facts(self, case: Case) -> CaseFacts:
        """The case's side, weights and split sizes, read as preflight reads them (once per case)."""
        if case.id not in self._facts:
            dataset_side, sizes, why = dataset_facts(case.dataset, case.image_size, self.datasets)
            weights = transfer.resolve_weights(case, self.profile)
            side = job_side(case, dataset_side, weights, self.profile)
            self._facts[case.id] = CaseFacts(side=side, weights=weights, sizes=sizes, unreadable=why)
        return self._facts[case.id]

    def __call__(self, job: Job) -> Priced | None:
        """``job``'s seconds by FLOPs, with the source pretraining it pays (see ``charge_sources``); None where its
        FLOPs or its dataset's sizes are unknown."""
        case, facts = priced_case(job, self.settings.seeds[0]), self.facts(job.case)
        gflops = self._gflops(case.arch, facts.side.pixels)
        if gflops is None or facts.sizes is None:
            return None
        (gflops, counted), own = gflops, self._rate(case.arch)
        rates = Rates(train=own, cpu=self.cpu)
        timed = self.settings.timed(job.seed)
        seconds = job_seconds(case, gflops, facts.sizes, self.settings, (self.device, rates), timed)
        whose = f"{case.arch}'s rows" if self._rates[case.arch] else "all rows" if self.rate.measured else "assumed"
        basis = f"FLOPs {gflops:.3g} G ({counted}) at {own.gflops_per_s:,.0f} GFLOP/s ({whose})"
        if (job.key, job.seed) in self._payers:
            seconds += self._sources[(case.arch, facts.side.pixels)]
            return Priced(seconds=seconds, basis=basis, extra=("source pretraining (at most)",))
        return Priced(seconds=seconds, basis=basis)

    def charge_sources(self, ordered: list[Job]) -> None:
        """The first of ``ordered`` (the jobs to run, in order) to need each source backbone that is not cached
        yet pays its pretraining: the run pretrains it then, once per architecture and side."""
        for job in ordered:
            case, facts = job.case, self.facts(job.case)
            where = (case.arch, facts.side.pixels)
            if not facts.weights.startswith("source:") or where in self._sources:
                continue
            budget = self.profile.source_for(case.arch)
            gflops = self._gflops(*where)
            if gflops is None or transfer.source_weights_path(case.arch, where[1], case, budget).is_file():
                continue
            self._sources[where] = source_seconds(budget, gflops[0], self._rate(case.arch).gflops_per_s)
            self._payers.add((job.key, job.seed))

    def _gflops(self, arch: str, side: int) -> tuple[float, str] | None:
        """GFLOPs per image at ``side`` and where the count is from: earlier rows, else the counted table."""
        counted = earlier_gflops(self.earlier, arch, side)
        return (counted, "earlier rows") if counted is not None else arch_facts.gflops_at(arch, side)

    def _rate(self, arch: str) -> Rate:
        if arch not in self._rates:
            self._rates[arch] = training_rate(self.earlier, self.device, arch)
        return self._rates[arch] or self.rate


def job_side(case: Case, dataset_side: int, weights: str, profile: Profile) -> Side:
    """The job's input side and why, by the run's own rule (``suite.sides`` through the pipeline)."""
    return case_side(SideRequest.of(case, weights, profile.transfer_side), dataset_side)


def make_work(datasets: Datasets, first_seed: int = 0) -> Callable[[Job], float | None]:
    """A job's estimated GFLOPs (``suite.run.order.work_gflop``) from its architecture's known count
    (``suite.measure.arch_facts.known``: this machine's cache, else the figure shipped for this row and Keras,
    the same count) and its dataset's split sizes (``datasets``, loaded by preflight); None if unknown, and for a
    dataset that can't be read. Only the suite's own small networks are counted here when neither is known (a
    second each); anything else is built by `suite archs --count`. A seed after ``first_seed`` trains no rate-grid
    rungs (``suite.run.jobs.priced_case``)."""

    def work(job: Job) -> float | None:
        case, known = priced_case(job, first_seed), arch_facts.known(job.case.arch)
        counts = known[0] if known else None
        if counts is None and ARCHITECTURES[case.arch].source == "suite":
            try:
                counts = arch_facts.counted(case.arch)
            except Exception as error:  # an order without this estimate beats no run at all
                log.warning("%s's GFLOPs not counted for the run order: %s", case.arch, error)
        if not counts or not math.isfinite(counts["gflops"]):
            return None
        try:
            raw = datasets(case.dataset, case.image_size)
        except SuiteError:  # a dataset that can't be read here: its jobs have no work to scale
            return None
        spec = ARCHITECTURES[case.arch]
        counted_at = arch_facts.flops_side(spec)
        side = counted_at if spec.hub else input_side(case.arch, raw.side, case.image_size)
        train = case.whole_train_images(raw.sizes["train"])
        held_out = sum(min(case.eval_limit or raw.sizes[split], raw.sizes[split]) for split in ("val", "test"))
        return order.work_gflop(case, counts["gflops"] * (side / counted_at) ** 2, train, held_out)

    return work
