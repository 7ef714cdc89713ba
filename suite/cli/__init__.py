"""Benchmark Keras image classifiers: accuracy against the latency you can afford.

    suite list [PATTERN ...]          which cases exist
    suite archs [PATTERN]             which architectures exist: parameters, GFLOPs, sides, weights
    suite run [PATTERN ...]           train, evaluate and measure them into a results folder
    suite tune CASE                   search a tuned case's settings, alone or as a chief/worker
    suite report DIR                  rebuild tables, charts and report.html from DIR/results.csv
    suite compare RUN_A RUN_B         the cases of two results folders side by side, with deltas
    suite gate BASELINE CANDIDATE     fail on an accuracy or latency regression beyond noise
    suite prepare DATASET             download and prepare a tfds dataset (needs internet)

Exit codes: 0 all good, 1 some case failed (its row says why), 2 bad input.

One class per subcommand (``suite.cli._command.Command``), in workflow order, as asv has them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from suite.cli._command import Command, Parser
from suite.cli.archs import Archs
from suite.cli.cases import List, Run, Tune
from suite.cli.prepare import Prepare
from suite.cli.results import Compare, Gate, Report
from suite.errors import SuiteError
from suite.plugins import load_entry_points

COMMANDS: tuple[type[Command], ...] = (List, Archs, Run, Tune, Report, Compare, Gate, Prepare)  # workflow order


def build_parser() -> argparse.ArgumentParser:
    """The ``suite`` parser with every subcommand in ``COMMANDS``."""
    parser = Parser(
        prog="suite",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 all good, 1 some case failed, 2 bad input.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.setup_arguments(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``suite`` console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    for noisy in ("absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        load_entry_points()  # architectures that installed packages add (suite.plugins)
        return args.func(args)
    except SuiteError as error:
        print(f"suite {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("suite: interrupted; rows already written are kept", file=sys.stderr)
        return 130
