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

from suite.case import Case
from suite.errors import SuiteError
from suite.registry import validate


@dataclass(frozen=True)
class SourceBudget:
    """How the suite pretrains its own source weights where ImageNet weights can't be had."""

    dataset: str = "glyphs"  # the made source set (suite.data.glyphs); never the target set
    images_per_class: int = 100  # rendered training images per class
    epochs: int = 2  # passes over them


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    measure: MeasureBudget = MeasureBudget()
    case_timeout_s: float = 3600.0  # a job still running after this is killed and recorded as failed
    formats: tuple[str, ...] = ()  # deployed formats each case is exported to and measured in (suite.deploy)

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

DEFAULT_PROFILE = "quick"  # what `suite run` and `suite tune` use without --profile

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "smoke",
            "the five seed networks on tiny subsets, one epoch, for tests and CI",
            patterns=_each(SEED_ARCHS, "scratch", "frozen", "finetune"),
            budgets=(
                ("*", dict(epochs=1, head_epochs=1, batch_size=32, train_limit=128, eval_limit=64)),
                ("*.tuned.*", dict(trials=3, trial_epochs=1)),
            ),
            source=SourceBudget(images_per_class=8, epochs=1),
            measure=MeasureBudget(
                warmup_runs=1,
                latency_runs=10,
                latency_min_s=0.0,
                probe_batch=8,
                batches=(1, 8, 16),
                throughput_runs=2,
                throughput_min_s=0.0,
            ),
            case_timeout_s=900.0,
            formats=("litert_fp32", "onnx"),
        ),
        Profile(
            "quick",
            "the embedded digits, the five seed networks under scratch, frozen and finetune, "
            "2-12 epochs by architecture",
            patterns=_each(SEED_ARCHS, "scratch", "frozen", "finetune"),
            budgets=(
                ("*", dict(epochs=8, head_epochs=1, batch_size=64)),
                ("resnet_scratch.scratch.*", dict(epochs=12, learning_rate=2e-3)),  # 98.1% and 98.3% on seeds 0, 1
                ("mobilenet_v2.*", dict(epochs=6)),
                ("resnet50.*", dict(epochs=3)),
                ("inception_v3.*", dict(epochs=2)),
                # A frozen backbone costs a forward pass only; a linear probe wants a higher rate
                # (resnet_scratch on glyph features: 65% at 1e-2 against 43% at 1e-3).
                ("*.frozen.*", dict(epochs=5, learning_rate=1e-2)),
                ("*.tuned.*", dict(trials=8, trial_epochs=2)),
            ),
            source=SourceBudget(images_per_class=70, epochs=2),
            measure=MeasureBudget(latency_min_s=1.0, throughput_min_s=0.5),
            formats=QUICK_FORMATS,
        ),
        Profile(
            "mobile",
            "the small networks (MobileNet V1-V3, EfficientNet B0 and V2-B0, NASNetMobile, the suite's two) "
            "on the embedded digits, scratch and finetune",
            patterns=_each(MOBILE_ARCHS, "scratch", "finetune"),
            budgets=(
                ("*", dict(epochs=8, head_epochs=1, batch_size=64)),
                ("resnet_scratch.scratch.*", dict(epochs=12, learning_rate=2e-3)),
            ),
            source=SourceBudget(images_per_class=70, epochs=2),
            measure=MeasureBudget(latency_min_s=1.0, throughput_min_s=0.5),
            formats=QUICK_FORMATS,
        ),
        Profile(
            "overnight",
            "CIFAR-10 at full size, ImageNet weights where they can be had, every regime, three seeds",
            patterns=("*.cifar10",),
            exclude=tuple(f"{arch}.*" for arch in TOO_BIG_FOR_THE_NIGHT),
            seeds=3,
            transfer_weights=("imagenet", "source:glyphs"),
            budgets=(
                ("*", dict(epochs=30, head_epochs=5, batch_size=128, augment=0.125, early_stopping=8)),
                ("*.tuned.*", dict(tuner="bayesian", trials=30, trial_epochs=10)),
            ),
            source=SourceBudget(images_per_class=1000, epochs=10),
            measure=MeasureBudget(
                warmup_runs=10,
                latency_runs=300,
                latency_min_s=10.0,
                latency_max_s=60.0,
                batches=(1, 8, 32, 128, 512),
                throughput_runs=10,
                throughput_min_s=5.0,
            ),
            case_timeout_s=6 * 3600.0,
            formats=ALL_FORMATS,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The named profile, or ``SuiteError`` naming the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise SuiteError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
