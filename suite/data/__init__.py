"""Datasets by name: the built-in ones, and the ``tfds:`` and ``folder:`` families.

This module only parses and validates names (no TensorFlow import), so the CLI
can reject a bad name at once. ``suite.data.loaders`` reads the images and
``suite.data.pipeline`` turns them into ``tf.data`` input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.case import Case, dataset_slug, dataset_target
from suite.errors import SuiteError

BUILTIN_DATASETS: dict[str, str] = {
    "digits": "scikit-learn's 1,797 handwritten 8x8 digits, upscaled to 32x32x3 (embedded, no network)",
    "cifar10": "CIFAR-10 through tfds.load (prepare it once with `suite prepare cifar10`)",
}
PREFIXES = ("tfds:", "folder:")


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """A parsed dataset name."""

    name: str  # as written: "digits", "cifar10", "tfds:mnist", "folder:/data/flowers"
    kind: str  # "digits", "tfds" or "folder"
    target: str  # the tfds builder name or the folder path; "" for digits

    @property
    def default_target(self) -> float:
        """The validation accuracy a case on this dataset is timed to (``time_to_target_s``).

        CIFAR-10: 94%, airbench's target; digits: 95%; anything else: 90% (``suite.case.DEFAULT_TARGETS``).
        """
        return dataset_target(self.name)

    @property
    def slug(self) -> str:
        """The lower-case form used in case ids: ``tfds:mnist`` -> ``tfds_mnist`` (``suite.case.dataset_slug``)."""
        return dataset_slug(self.name)


def parse_dataset(name: str) -> DatasetSpec:
    """Parses a dataset name, or raises ``SuiteError`` naming the valid choices."""
    if name == "digits":
        return DatasetSpec(name=name, kind="digits", target="")
    if name == "cifar10":
        return DatasetSpec(name=name, kind="tfds", target="cifar10")
    for prefix in PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return DatasetSpec(name=name, kind=prefix[:-1], target=name[len(prefix) :])
    valid = ", ".join([*BUILTIN_DATASETS, "tfds:<name>", "folder:<path>"])
    raise SuiteError(f"unknown dataset {name!r}; valid: {valid}")


def check_path(spec: DatasetSpec) -> None:
    """Rejects a missing or non-directory ``folder:`` path before anything heavy is imported."""
    if spec.kind != "folder":
        return
    root = Path(spec.target).expanduser()
    if not root.exists():
        raise SuiteError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise SuiteError(f"dataset folder {root} is not a directory")


def training_images(case: Case, split_images: int, num_classes: int) -> int:
    """The images ``case`` trains on: its ``train_per_class`` cut (that many of each of ``num_classes``) where set,
    else the whole training split of ``split_images``; at most ``train_limit`` either way.

    The one statement of the cut rule: the pipeline, the deployment's calibration images and the dry run all count
    by it. ``num_classes`` 0 (not known) counts the whole split.
    """
    size = split_images
    if case.train_per_class and num_classes:
        size = min(case.train_per_class * num_classes, split_images)
    return min(case.train_limit or size, size)
