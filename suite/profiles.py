"""Profiles: which cases a plain ``suite run`` runs, and with what budgets.

A profile never changes what a case *is* (architecture, regime, dataset, the
optimiser); it sets how long it trains and how long it is measured, and the
learning rate where a short budget needs another one. Fields a user set
explicitly in TOML are re-applied afterwards, so they win.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from typing import Any

from suite.case import Case, sized
from suite.errors import SuiteError
from suite.registry import validate


@dataclass(frozen=True, kw_only=True)
class SourceBudget:
    """How the suite pretrains its own source weights where ImageNet weights can't be had (``suite.source``).

    A budget in images seen: training stops at the first check whose held-out accuracy reaches
    ``target_accuracy``, else after ``max_images``. Every field is part of the cache key.
    """

    dataset: str = "glyphs"  # the made source set (suite.data.glyphs); never the target set
    images_per_class: int = 100  # rendered training images per class, cycled and reshuffled each pass
    max_images: int = 10_400  # training images seen at most (2 passes over 100 per class)
    check_images: int = 2_048  # held-out accuracy is checked after every this many training images
    target_accuracy: float = 0.0  # held-out accuracy that ends training early; 0 = use the whole budget
    heldout_per_class: int = 10  # images per class in each held-out set (one decides stopping, one is reported)
    learning_rate: float = 1e-3  # Adam's peak, cosine-decayed to 0 over max_images
    batch_size: int = 64  # images per step
    label_smoothing: float = 0.0  # of the one-hot targets
    jit_compile: bool = False  # XLA for the training step


@dataclass(frozen=True, kw_only=True)
class MeasureBudget:
    """How long each case's inference is measured (``suite.measure``); defaults keep it well under 60 s on CPU."""

    warmup_runs: int = 5  # untimed calls after the first (tracing, compiling, allocator warm-up)
    latency_runs: int = 50  # timed batch-1 calls per mode, at least ...
    latency_min_s: float = 2.0  # ... and at least this many seconds of them ...
    latency_max_s: float = 20.0  # ... but no longer than this (slow models on slow machines)
    probe_batch: int = 32  # the batch at which every mode and precision is compared
    batches: tuple[int, ...] = (1, 8, 32, 128)  # the throughput sweep, in the chosen mode
    throughput_runs: int = 5  # timed blocks per batch size; the figure is the best block, the median is kept
    throughput_min_s: float = 1.0  # seconds of calls per batch size, split over the blocks ...
    throughput_max_s: float = 10.0  # ... and about this at most, however slow one call is (two blocks minimum)
    modes: tuple[str, ...] = ("graph", "xla")  # execution modes compared; the faster at batch 1 is the case's
    gpu_precisions: tuple[str, ...] = ("mixed_float16", "mixed_bfloat16")  # also measured on GPU
    # The final lap (suite.run.lap): after every case has trained, each network and deployed format is timed again,
    # side by side, in this many fresh processes one after another (their spread is what a rerun sees), each of this
    # many rounds of this many batch-1 calls; 0 rounds = no lap.
    lap_processes: int = 3
    lap_rounds: int = 10
    lap_calls: int = 20
    # Seeds timed in their job (latency, throughput, each file's speed): the run's first this many; 0 = every seed.
    timed_seeds: int = 1  # one network's seeds share a graph, which the lap times; later seeds check accuracy


@dataclass(frozen=True, kw_only=True)
class ServeBudget:
    """Serving under load after the final lap (``suite.run.serve``, ``suite.measure.serving``): which networks and
    formats, and how long each MLPerf LoadGen run lasts (MLPerf's own: 600 s and 270,336 queries per run)."""

    scope: str = "all"  # "all": every network and deployed format; "front": the latency front's networks; "off"
    min_duration_s: float = 5.0  # per LoadGen run
    min_queries: int = 100  # per LoadGen run
    bound_ms: float = 15.0  # the Server scenario's p99 bound (MLPerf's ResNet50 Server bound)
    search_runs: int = 4  # Server runs of the bisection, after the first at the Offline rate
    offline_batch: int = 32  # images per call in the Offline scenario
    total_s: float | None = None  # no (network, format) is started once the step has served this long


@dataclass(frozen=True, kw_only=True)
class Profile:
    """A named budget for a whole run."""

    name: str
    summary: str  # what it runs and how long it trains, in `suite run --help`
    patterns: tuple[str, ...]  # cases a run without patterns selects ...
    exclude: tuple[str, ...] = ()  # ... except these (globs over ids)
    seeds: int = 1  # seeds per case, 0..seeds-1
    transfer_weights: tuple[str, ...] = ("source:glyphs",)  # preference order behind weights="auto"
    # Input side of the cases that start from ImageNet or hub weights; 0 = the side those weights were trained at
    # (224, 299, ...). Scratch, source:glyphs and weights-file cases keep the dataset's side; a case's image_size
    # always wins (suite.sides).
    transfer_side: int = 0
    budgets: tuple[tuple[str, dict[str, Any]], ...] = ()  # (glob over case ids, case fields), later wins
    source: SourceBudget = SourceBudget()
    source_budgets: tuple[tuple[str, dict[str, Any]], ...] = ()  # (glob over architectures, SourceBudget fields)
    measure: MeasureBudget = MeasureBudget()
    serve: ServeBudget = ServeBudget()  # serving under load, after the final lap
    case_timeout_s: float = 3600.0  # a job still running after this is killed and recorded as failed
    formats: tuple[str, ...] = ()  # deployed formats each case is exported to and measured in (suite.deploy) ...
    format_cases: tuple[str, ...] = ("*",)  # ... if its id matches one of these globs; --formats: every case
    train_per_class: tuple[int, ...] = ()  # training images per class each case runs at (0 = all); () = as set
    latency_budgets_ms: tuple[float, ...] = ()  # the budgets the report answers for; () = its 1-2-5 ladder
    train_xla: str = "probe"  # "probe": XLA where a cached probe finds it faster (suite.train_jit); "auto": Keras'

    def variants(self, case: Case, sizes: tuple[int, ...] | None = None) -> list[Case]:
        """``case`` at each of ``sizes`` (default: the profile's ``train_per_class``), ids marked ``@N``.

        A case that sets ``train_per_class`` itself (TOML) keeps it, and so does every case when there are no sizes.
        """
        sizes = self.train_per_class if sizes is None else sizes
        if not sizes or "train_per_class" in dict(case.overrides):
            return [case]
        return [sized(case, size) for size in sizes]

    def formats_for(self, case_id: str, chosen: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The formats the case is exported to: ``chosen`` (``--formats``) for every case, else the profile's
        ``formats`` for the cases matching ``format_cases``."""
        if chosen is not None:
            return tuple(chosen)
        return self.formats if any(fnmatch.fnmatchcase(case_id, p) for p in self.format_cases) else ()

    def source_for(self, arch: str) -> SourceBudget:
        """The source budget for ``arch``: ``source`` with the fields of every matching ``source_budgets`` entry."""
        fields: dict[str, Any] = {}
        for pattern, changes in self.source_budgets:
            if fnmatch.fnmatchcase(arch, pattern):
                fields.update(changes)
        return dataclasses.replace(self.source, **fields)

    def apply(self, case: Case) -> Case:
        """The case with this profile's budgets, then the case's own explicit overrides."""
        budget: dict[str, Any] = {}
        for pattern, fields in self.budgets:
            if fnmatch.fnmatchcase(case.id, pattern):
                budget.update(fields)
        budget.update(dict(case.overrides))
        return validate(dataclasses.replace(case, **budget))


# The five networks the suite started with: what smoke and quick run, so that their time promises hold.
SEED_ARCHS = ("simple_cnn", "resnet_scratch", "resnet50", "inception_v3", "mobilenet_v2")
# The small networks people pick for a phone or a tight CPU budget (profile "mobile").
MOBILE_ARCHS = (
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_v2_b0",
    "nasnet_mobile",
    "mobilenet",
    "resnet_scratch",
    "simple_cnn",
)
# Keras applications left out of overnight: more than 30M parameters with a 10-class head, or ImageNet weights
# trained above 300 px (their native-side transfer costs several times ResNet50's). tests/test_archs.py counts them.
TOO_BIG_FOR_THE_NIGHT = (
    "convnext_small",
    "convnext_base",
    "convnext_large",
    "convnext_xlarge",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_s",
    "efficientnet_v2_m",
    "efficientnet_v2_l",
    "inception_resnet_v2",
    "nasnet_large",
    "resnet101",
    "resnet101_v2",
    "resnet152",
    "resnet152_v2",
)


def _each(archs: tuple[str, ...], *regimes: str, dataset: str = "digits") -> tuple[str, ...]:
    """Case-id patterns for every ``arch.regime.dataset`` combination."""
    return tuple(f"{arch}.{regime}.{dataset}" for arch in archs for regime in regimes)


# suite.deploy.formats.EXPORTED, in its order (tests/test_deploy.py checks it), without importing the deploy stage.
ALL_FORMATS = ("saved_model", "litert_fp32", "litert_fp16", "litert_dynamic_int8", "litert_int8", "onnx", "openvino")
QUICK_FORMATS = ("litert_fp32", "litert_int8", "onnx")

# The label-efficiency study: digits per class in the training split (0 = all of it, about 126 per class), on the
# suite's two networks and one Keras application, three seeds, so that it finishes within 150 minutes on 2 cores.
# Chosen from the per-job seconds of two quick runs (2026-12-07, AMD EPYC family 26 model 2 (AVX-512), 2 cores;
# the rate grid and the measurement included): simple_cnn 11-31 s, resnet_scratch 23-76 s, mobilenet_v2 about
# 100 s without its formats; 108 jobs at those rates are about 110 minutes, plus MobileNetV2's glyph source.
# Measured whole (2026-12-07, same CPU, CI runs sharing the cores): 108 ok in 1 h 44 min 56 s, of which the jobs'
# own seconds were simple_cnn 12.6 min, resnet_scratch 30.0 min and mobilenet_v2 42.4 min.
# ResNet50 (114 s a job at 3 epochs, more with a source) and InceptionV3 at 75 px (167 s) would each add about an
# hour; seed has them.
LABEL_EFFICIENCY_SIZES = (5, 10, 25, 0)
LABEL_EFFICIENCY_ARCHS = ("simple_cnn", "resnet_scratch", "mobilenet_v2")

# quick and mobile pretrain until the stopping set's accuracy reaches 90%, checked every 2,048 images, at most
# 26 checks (QUICK_SOURCE_BUDGETS gives mobilenet_v2 78 and resnet50 52); measured in docs/cases.md. Every budget
# here is read off the stopping set (STOP_SEED in suite.source); the reported set's figure, source_accuracy, is
# recorded and chooses nothing.
QUICK_SOURCE = SourceBudget(images_per_class=200, max_images=53_248, check_images=2_048, target_accuracy=0.9)
QUICK_SOURCE_BUDGETS = (
    # MobileNetV2 at 32 px learns glyphs slowly: the stopping set ended at 64.0% after quick's budget at batch 64
    # and 73.1% at batch 32 (docs/cases.md); 87.5% after 106,496 at a 3e-3 peak (on which held-out set was not
    # recorded); with 159,744 at 1e-3 the stopping set reached the 90% target after 77,824 (405 s).
    ("mobilenet_v2", dict(batch_size=32, max_images=159_744)),
    # ResNet50 ended short of the target after 53,248 images (86.7%; the set was not recorded). With 106,496 the
    # stopping set reached the shared 90% target (91.0%, 575 s), so the budget ends by the target, not by running
    # out. Its reported figure is what it is (87.5% in that run: the first check over a target is a lucky one).
    # An earlier 93% target, raised so that the reported figure would clear 90%, let the reported set choose.
    ("resnet50", dict(max_images=106_496)),
)

DEFAULT_PROFILE = "quick"  # what `suite run` and `suite tune` use without --profile

# seed: the five seed networks under scratch, frozen and finetune (the 5 x 3 matrix), every case deployed.
SEED_BUDGETS: tuple[tuple[str, dict[str, Any]], ...] = (
    # Fair regimes (Kornblith, Shlens and Le, CVPR 2019): scratch, frozen and finetune of one network train the
    # same last-phase epochs (finetune adds its one head epoch) and search the same learning-rate grid, 1e-3, 3e-3
    # and 9e-3 (lr_grid=3 around 3e-3; finetune's body at a tenth), each rate's rung a third of the epochs, the
    # rate chosen on validation (suite.run.rate_grid). The grid spans the rates set by hand before: 2e-3 for
    # resnet_scratch from scratch, 1e-2 for a linear probe, 1e-3 for the rest.
    ("*", dict(epochs=8, head_epochs=1, batch_size=64, learning_rate=3e-3, lr_grid=3)),
    # Each at its cost on 2 CPU cores. Epochs by the rule in docs/cases.md ("How budgets are chosen"): the fewest
    # whose seed-mean final validation accuracy (180 digits, seeds 0-2) is within 0.5 points of the best.
    # resnet_scratch from scratch, 2026-12-07, AMD EPYC family 26 model 2 (AVX-512), 2 cores shared (load 2-5):
    # 4 epochs 99.07% (98.3-99.4), 5: 99.63% (98.9-100), 6: 100%, 8: 99.63%, 10: 100%, 12: 100%; so 5 epochs,
    # 30.6-34.7 s of training, 95% validation after 17-29 s, at 2e-3.
    ("resnet_scratch.*", dict(epochs=5)),
    # The next three are capped by cost (quick's ten minutes), not by the rule. Their validation from scratch,
    # measured on the same machine and date, still rises at the last epoch:
    # mobilenet_v2 at 32 px, seeds 0-2: seed-mean 76.7% (70.0-88.9) at 6 epochs, 73.5% (64.4-78.3) at 5, within
    # the seed spread; 6 is the better of the two measured (28-45 s of training), more epochs were not tried.
    # resnet50 (seed 0): 44.4, 88.9, 90.6% by epoch (45 s); inception_v3 at 75 px: 20.0, 65.6, 93.3% (84 s).
    ("mobilenet_v2.*", dict(epochs=6)),
    ("resnet50.*", dict(epochs=3)),
    ("inception_v3.*", dict(epochs=3)),
    # A frozen backbone wants a higher rate (resnet_scratch.frozen on its glyph source, seed 0: 73.9% validation
    # at 1e-2 against 12.8% at 1e-3, 2026-12-07); the grid's 9e-3 covers it, so frozen has no rate of its own.
    ("*.tuned.*", dict(trials=8, trial_epochs=2, lr_grid=0)),  # a search chooses its own rate
)
# quick: every regime family on the suite's own two networks, whose glyph sources reach 90% in about two minutes,
# and one Keras application, MobileNetV2 from scratch, three seeds each: ten minutes on 2 CPU cores is the promise.
# ResNet50 and InceptionV3 from scratch were in it: with three seeds they took 13 of its 35 minutes on Zen 5 (114 and
# 167 s a job, 2026-12-07) and would take 3-4 times that on Zen 3, so they moved to seed, which runs all five
# families under every regime. quick's answer is about the networks a tight CPU budget affords.
QUICK_CASES = (
    *_each(("simple_cnn", "resnet_scratch"), "scratch", "frozen", "finetune"),
    *_each(("mobilenet_v2",), "scratch"),
)
# quick deploys the networks that ship to phones, once each; seed and --formats deploy every case.
QUICK_FORMAT_CASES = ("simple_cnn.scratch.*", "resnet_scratch.scratch.*", "mobilenet_v2.scratch.*")
SEED_MEASURE = MeasureBudget(latency_min_s=1.0, throughput_min_s=0.5)
# quick measures graph mode only, at three batches: on CPU Keras' jit_compile="auto" runs graph mode, and the
# XLA compiles per batch were half of a big network's measurement (resnet50: 42 s); seed and overnight keep XLA.
QUICK_MEASURE = dataclasses.replace(SEED_MEASURE, modes=("graph",), batches=(1, 32, 128))
# Serving (docs/report.md): quick serves the front's networks for a minute (runs of 1 s, 6 a file): 7 of 8 files
# of simple_cnn and resnet_scratch in 61-65 s, three times (2026-12-07, AMD EPYC family 26 model 2, 2 cores shared
# at load 2-4): a Keras model 12-15 s with its tracing, a LiteRT or ONNX file 4-9 s. Seed and mobile: every file.
SEED_SERVE = ServeBudget(min_duration_s=2.0, min_queries=64)
QUICK_SERVE = ServeBudget(scope="front", min_duration_s=1.0, min_queries=32, search_runs=3, total_s=60.0)


# Seeds of every profile whose report states an answer: the headline crowns a case, a budget picks one and a
# crossover is read only from an interval with training variance in it, which takes at least two seeds; three
# give the t interval 2 degrees of freedom (its 95% factor 4.3 against 12.7 for two). smoke, a plumbing check on
# 128 images, keeps one: its headline shows every case and crowns none.
ANSWER_SEEDS = 3


def _on_digits(**fields: Any) -> Profile:
    """A profile on the embedded digits (quick, seed, mobile, label-efficiency): ``fields`` over what they share.

    They share seed's budgets, so a case trains the same way in each (mobile sets its own); three seeds
    (``ANSWER_SEEDS``); glyph source weights
    pretrained to 90% (``QUICK_SOURCE``); and Keras' own XLA choice for training, as the probe's XLA compiles
    (20 s-3 min each on CPU) would add minutes to a first run and cost more than they save.
    """
    shared: dict[str, Any] = dict(
        budgets=SEED_BUDGETS,
        source=QUICK_SOURCE,
        source_budgets=QUICK_SOURCE_BUDGETS,
        train_xla="auto",
        seeds=ANSWER_SEEDS,
        serve=SEED_SERVE,
    )
    return Profile(**{**shared, **fields})


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="smoke",
            summary="the five seed networks on tiny subsets, one epoch, for tests and CI",
            patterns=_each(SEED_ARCHS, "scratch", "frozen", "finetune"),
            budgets=(
                ("*", dict(epochs=1, head_epochs=1, batch_size=32, train_limit=128, eval_limit=64)),
                ("*.tuned.*", dict(trials=3, trial_epochs=1)),
            ),
            source=SourceBudget(images_per_class=8, max_images=416, check_images=416, heldout_per_class=2),
            measure=MeasureBudget(
                warmup_runs=1,
                latency_runs=10,
                latency_min_s=0.0,
                probe_batch=8,
                batches=(1, 8, 16),
                throughput_runs=2,
                throughput_min_s=0.0,
                lap_processes=1,  # the run's own process: smoke checks the plumbing, not the figures
                lap_rounds=3,
                lap_calls=5,
            ),
            serve=ServeBudget(scope="front", min_duration_s=0.25, min_queries=16, search_runs=1, total_s=10.0),
            case_timeout_s=900.0,
            formats=("litert_fp32", "onnx"),
            format_cases=("simple_cnn.scratch.*",),  # one case exercises the deploy stage; the rest test the run
            train_xla="auto",  # compiling a training step under XLA: 20 s-3 min on CPU, more than a smoke case
        ),
        _on_digits(
            name="quick",
            summary="the embedded digits: the suite's ResNet and plain CNN under scratch, frozen and "
            "finetune, and MobileNetV2 from scratch, three seeds; 5-8 epochs by architecture",
            patterns=QUICK_CASES,
            measure=QUICK_MEASURE,
            serve=QUICK_SERVE,
            formats=QUICK_FORMATS,
            format_cases=QUICK_FORMAT_CASES,
        ),
        _on_digits(
            name="seed",
            summary="the embedded digits, the five seed networks under scratch, frozen and finetune (the full 5 x 3 "
            "matrix), every case deployed; 3-8 epochs by architecture",
            patterns=_each(SEED_ARCHS, "scratch", "frozen", "finetune"),
            measure=SEED_MEASURE,
            formats=QUICK_FORMATS,
        ),
        _on_digits(
            name="mobile",
            summary="the small networks (MobileNet V1-V3, EfficientNet B0 and V2-B0, NASNetMobile, the suite's two) "
            "on the embedded digits, scratch and finetune",
            patterns=_each(MOBILE_ARCHS, "scratch", "finetune"),
            budgets=(
                ("*", dict(epochs=8, head_epochs=1, batch_size=64)),
                # Set earlier, with no recorded reason. Quick's validation measurement of the same case (SEED_BUDGETS)
                # gives 100% at 12 epochs (seeds 0-2) and picks 5 by its rule; 12 is kept here until mobile is rerun.
                ("resnet_scratch.scratch.*", dict(epochs=12, learning_rate=2e-3)),
            ),
            measure=SEED_MEASURE,
            formats=QUICK_FORMATS,
        ),
        Profile(
            name="overnight",
            summary="CIFAR-10 at full size, ImageNet weights where they can be had, every regime, three seeds",
            patterns=("*.cifar10",),
            exclude=tuple(f"{arch}.*" for arch in TOO_BIG_FOR_THE_NIGHT),
            seeds=ANSWER_SEEDS,
            transfer_weights=("imagenet", "source:glyphs"),
            budgets=(
                ("*", dict(epochs=30, head_epochs=5, batch_size=128, augment=0.125, early_stopping=8)),
                ("*.tuned.*", dict(tuner="bayesian", trials=30, trial_epochs=10)),
            ),
            source=SourceBudget(images_per_class=1000, max_images=520_000, check_images=52_000, heldout_per_class=20),
            measure=MeasureBudget(
                warmup_runs=10,
                latency_runs=300,
                latency_min_s=10.0,
                latency_max_s=60.0,
                batches=(1, 8, 32, 128, 512),
                throughput_runs=10,
                throughput_min_s=5.0,
            ),
            serve=ServeBudget(min_duration_s=3.0, min_queries=64),  # every file: about 20 s each, 2-3 h in all
            case_timeout_s=6 * 3600.0,
            formats=ALL_FORMATS,
        ),
        _on_digits(
            name="label-efficiency",
            summary="the suite's two networks and MobileNetV2 with seed's budgets under scratch, frozen and finetune "
            "on 5, 10, 25 and all digits per class, three seeds; every size trains as many optimizer steps as the "
            "whole split",
            patterns=_each(LABEL_EFFICIENCY_ARCHS, "scratch", "frozen", "finetune"),
            measure=QUICK_MEASURE,
            train_per_class=LABEL_EFFICIENCY_SIZES,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The named profile, or ``SuiteError`` naming the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise SuiteError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
