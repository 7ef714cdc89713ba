"""``suite prepare glyphs``: pretrain a profile's source weights ahead, with a progress bar, skipping cached ones.

``suite.cli.prepare`` imports this module only when the command runs, so it imports TensorFlow at the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from suite import transfer
from suite.case import Case
from suite.data.datasets import Datasets
from suite.data.pipeline import input_side
from suite.errors import SuiteError
from suite.profiles import Profile, SourceBudget, get_profile
from suite.registry import select_cases


@dataclass(frozen=True, kw_only=True)
class Target:
    """One backbone a profile's transfer cases start from glyphs weights for."""

    arch: str
    side: int  # input pixels, as the case runs
    case: Case  # the first such case: its depth and batch-norm momentum shape the weights


def source_targets(profile: Profile, archs: list[str], data_dir: str | None = None) -> list[Target]:
    """Each distinct backbone (architecture, side, depth, momentum) whose cases resolve to ``source:glyphs``."""
    cases = [profile.apply(case) for case in select_cases(*profile.patterns, exclude=profile.exclude)]
    known = sorted({case.arch for case in cases})
    unknown = [arch for arch in archs if arch not in known]
    if unknown:
        raise SuiteError(f"profile {profile.name} runs no architecture {unknown[0]!r}; it runs: {', '.join(known)}")
    datasets = Datasets(data_dir)
    targets: dict[object, Target] = {}
    for case in cases:
        if archs and case.arch not in archs or transfer.resolve_weights(case, profile) != "source:glyphs":
            continue
        side = input_side(case.arch, datasets(case.dataset, case.image_size).side, case.image_size, case.handle)
        path = transfer.source_weights_path(case.arch, side, case, profile.source_for(case.arch))
        targets.setdefault(path, Target(arch=case.arch, side=side, case=case))
    return list(targets.values())


def checks(budget: SourceBudget) -> int:
    """How many held-out checks the budget allows at most (the progress bar's length)."""
    steps = max(1, budget.check_images // budget.batch_size)
    return max(1, math.ceil(budget.max_images / (steps * budget.batch_size)))


def prepare_glyphs(profile_name: str, archs: list[str], data_dir: str | None = None) -> int:
    """Pretrains every target of the profile not cached yet, printing each one's held-out accuracy and seconds."""
    profile = get_profile(profile_name)
    targets = source_targets(profile, archs, data_dir)

    class Advance(keras.callbacks.Callback):
        """Moves the bar one check on, showing the held-out accuracy reached."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            accuracy = (logs or {}).get("val_accuracy", 0.0)
            bar.update(task, advance=1, accuracy=f"held-out {100 * accuracy:.1f}%")

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[accuracy]}"))
    with Progress(*columns, TimeElapsedColumn(), transient=True) as bar:
        for target in targets:
            label, budget = f"{target.arch} at {target.side}px", profile.source_for(target.arch)
            cached = transfer.source_weights_path(target.arch, target.side, target.case, budget).is_file()
            task = bar.add_task(label, total=checks(budget), accuracy="")
            if not cached:
                transfer.pretrain_on_source(target.arch, target.side, target.case, budget, callbacks=(Advance(),))
                keras.backend.clear_session()
            bar.update(task, completed=checks(budget), visible=False)
            record = transfer.read_record(target.arch, target.side, target.case, budget) or {}
            state = "cached" if cached else "pretrained"
            bar.console.print(
                f"{label}: {state}, held-out source accuracy {100 * record.get('source_accuracy', math.nan):.1f}% "
                f"after {record.get('images_seen', 0):,} images in {record.get('seconds', math.nan):.0f} s"
            )
    print(f"{len(targets)} source backbone(s) ready for profile {profile.name} in {transfer.source_dir()}")
    return 0
