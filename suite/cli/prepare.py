"""``suite prepare``: download a tfds dataset once, or pretrain the glyphs source weights ahead, so later runs
work offline and start at once.

``tensorflow_datasets`` and ``suite.cli.glyphs`` are imported only when the command runs: they start TensorFlow,
and ``suite --help`` imports this module.
"""

from __future__ import annotations

import argparse
import os

from suite.cli._command import Command
from suite.data import parse_dataset
from suite.errors import SuiteError
from suite.profiles import DEFAULT_PROFILE, PROFILES


class Prepare(Command):
    name = "prepare"
    help = "download a tfds dataset (needs internet), or pretrain the glyphs source weights ahead"
    description = (
        "Download and prepare a tfds dataset, e.g. cifar10, for offline runs; or, with `glyphs`, pretrain the "
        "source weights that a profile's transfer cases start from (every architecture it runs, at each input "
        "side), skipping those already cached, and print each one's held-out source accuracy and seconds."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", metavar="DATASET", help="cifar10, tfds:<name>, or glyphs")
        parser.add_argument(
            "--data-dir", metavar="DIR", help="where to put it (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
        )
        parser.add_argument(
            "--profile",
            choices=list(PROFILES),
            default=DEFAULT_PROFILE,
            help=f"glyphs: whose architectures and source budget (default {DEFAULT_PROFILE})",
        )
        parser.add_argument(
            "--arch", action="append", metavar="ARCH", help="glyphs: only this architecture (repeatable)"
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Prepares a tfds dataset, or the glyphs source weights."""
        if args.dataset == "glyphs":
            from suite.cli.glyphs import prepare_glyphs  # starts TensorFlow

            return prepare_glyphs(args.profile, args.arch or [], args.data_dir)
        return prepare_tfds(args.dataset, args.data_dir)


def prepare_tfds(dataset: str, data_dir: str | None) -> int:
    """Downloads and prepares a tfds dataset so that later runs work offline."""
    import tensorflow_datasets as tfds

    spec = parse_dataset(dataset)
    if spec.kind != "tfds":
        raise SuiteError(
            f"only tfds datasets need preparing (and glyphs, the source weights); {dataset} is read in place"
        )
    builder = tfds.builder(spec.target, data_dir=data_dir or os.environ.get("TFDS_DATA_DIR"))
    builder.download_and_prepare()
    print(f"{dataset} prepared in {builder.data_dir}")
    return 0
