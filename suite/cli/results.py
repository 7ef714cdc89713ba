"""The commands that read results folders and train nothing: ``report``, ``compare`` and ``gate``.

Each command imports its module (``suite.report``, ``suite.gate``) when it runs, not at the top: they pull in
pandas, SciPy and matplotlib, and ``suite --help`` imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from suite.cli._command import Command


def add_folders(parser: argparse.ArgumentParser, **folders: str) -> None:
    """Positional results folders, each ``METAVAR="help"`` in order; its attribute is the metavar in lower case."""
    for metavar, text in folders.items():
        parser.add_argument(metavar.lower(), metavar=metavar, help=text)


def add_force(parser: argparse.ArgumentParser, what: str) -> None:
    """``--force``: read rows of different machine fingerprints together (``what`` says how, for this command)."""
    parser.add_argument("--force", action="store_true", help=what)


class Report(Command):
    name = "report"
    help = "rebuild tables, charts and report.html from a results folder"
    description = (
        "Rebuild DIR/summary.csv, DIR/tables/, DIR/charts/ and DIR/report.html from DIR/results.csv "
        "and the side tables beside it; trains nothing."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("results_dir", metavar="DIR")
        parser.add_argument(
            "--budgets",
            metavar="MS",
            help="the latency budgets to answer for, in ms, comma-separated, e.g. 2,5,10; kept in DIR/budgets.json "
            "for later reports (default: the folder's, else the 1-2-5 ladder over the measured p90s)",
        )
        add_force(parser, "summarise rows from different machine fingerprints together")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Rebuilds summary.csv, the tables, the charts and report.html from a results folder."""
        from suite import report, storage

        if args.budgets is not None:
            budgets = storage.parse_budgets(args.budgets)
            storage.read_results(Path(args.results_dir))  # SuiteError for a folder without results, before writing
            storage.write_budgets(Path(args.results_dir), budgets)
        for path in report.write_report(Path(args.results_dir), force=args.force):
            print(path)
        return 0


class Compare(Command):
    name = "compare"
    help = "set two results folders side by side"
    description = (
        "Match the cases that ran ok in both RUN_A (the baseline) and RUN_B; print their accuracy, "
        "latency p50 and throughput with deltas, marking those beyond the noise (the paired accuracy test, the p50 "
        "confidence interval for latency); write compare.csv, compare.md, compare.html and an accuracy-against-"
        "latency chart with arrows from A to B; where the runs deployed formats (formats.csv), each case x format's "
        "accuracy and latency p50 with deltas too (compare_formats.csv); then what flipped: front membership, each "
        "budget's pick, each crossover, and every accuracy outside the other run's interval (compare.json; --json "
        "prints it). Trains nothing."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_folders(parser, RUN_A="the baseline results folder", RUN_B="the results folder compared with it")
        parser.add_argument("--out", metavar="DIR", help="where to write (default: RUN_B/compare-<RUN_A folder name>)")
        parser.add_argument(
            "--json", action="store_true", help="print the reproducibility summary (what flipped) as JSON, for CI"
        )
        add_force(parser, "compare runs measured under different machine fingerprints")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Prints the cases of two runs side by side and writes the table, a chart and a page to a folder."""
        from suite.report import compare

        comparison = compare.compare_runs(Path(args.run_a), Path(args.run_b), force=args.force)
        out = Path(args.out) if args.out else compare.default_out(Path(args.run_a), Path(args.run_b))
        paths = compare.write_comparison(comparison, out)
        if args.json:
            print(json.dumps(compare.to_json(comparison), indent=2, default=str))
            return 0
        print(comparison.to_text())
        print(f"\nwritten: {', '.join(str(p) for p in paths)}")
        return 0


class Gate(Command):
    name = "gate"
    help = "fail if a candidate run regressed against a baseline run"
    description = (
        "Compare CANDIDATE with BASELINE case by case: test accuracy may drop only within its noise "
        "(seed spread or the test set's binomial error), batch-1 latency p90 may rise only within a tolerance; "
        "where CANDIDATE has formats.csv, a quantised format may lose at most format_accuracy_drop_points "
        "(default 1) against its case's Keras row. Exit 1 names each regression."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_folders(
            parser, BASELINE="results folder of the reference run", CANDIDATE="results folder of the run under test"
        )
        parser.add_argument("--thresholds", metavar="FILE", help='TOML: [defaults] and [cases."GLOB"] thresholds')
        add_force(parser, "compare rows from different machine fingerprints")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Compares a candidate results folder with a baseline; exit 1 if any case regressed beyond its noise."""
        from suite import gate

        checks, only_one = gate.gate(Path(args.baseline), Path(args.candidate), args.thresholds, force=args.force)
        print(gate.table(checks).to_string(index=False))
        if only_one:
            print(f"not compared (in one folder only): {', '.join(only_one)}")
        failed = [c for c in checks if not c.passed]
        for check in failed:
            print(f"REGRESSION {check.message()}", file=sys.stderr)
        print(f"gate: {len(checks) - len(failed)} of {len(checks)} checks passed")
        return 1 if failed else 0
