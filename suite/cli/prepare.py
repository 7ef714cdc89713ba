"""``suite prepare``: download a tfds dataset once, so that later runs work offline."""

from __future__ import annotations

import argparse
import os

from suite.cli._command import Command
from suite.errors import SuiteError


class Prepare(Command):
    name = "prepare"
    help = "download and prepare a tfds dataset (needs internet)"
    description = "Download and prepare a tfds dataset, e.g. cifar10, for offline runs."

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", metavar="DATASET", help="cifar10 or tfds:<name>")
        parser.add_argument(
            "--data-dir", metavar="DIR", help="where to put it (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Downloads and prepares a tfds dataset so that later runs work offline."""
        import tensorflow_datasets as tfds

        from suite.data import parse_dataset

        spec = parse_dataset(args.dataset)
        if spec.kind != "tfds":
            raise SuiteError(f"only tfds datasets need preparing; {args.dataset} is read in place")
        data_dir = args.data_dir or os.environ.get("TFDS_DATA_DIR")
        builder = tfds.builder(spec.target, data_dir=data_dir)
        builder.download_and_prepare()
        print(f"{args.dataset} prepared in {builder.data_dir}")
        return 0
