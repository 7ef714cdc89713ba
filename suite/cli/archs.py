"""``suite archs``: the architecture table, to choose from.

Its counted columns (parameters, GFLOPs) come from building each model once
(``suite.measure.arch_facts``, cached per machine); the rest is the table itself. ``suite.measure`` (and with it
TensorFlow) and pandas are imported when the command runs, as ``suite --help`` imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import logging
import math
import sys

from suite.cli._command import Command
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.models.spec import CONVENTIONS
from suite.selection import user_cases

FORMATS = ("table", "csv", "markdown")


class Archs(Command):
    name = "archs"
    help = "print the architecture table: family, source, parameters, sides, input convention, weights, GFLOPs"
    description = (
        "Print every architecture matching PATTERN (all by default): its family and source (keras, hub, suite, "
        "user), parameters with a 10-class head and GFLOPs at its native side, both counted from the built model "
        "(once per machine, then cached), its native and minimum input side, its input convention and whether "
        "ImageNet weights exist. Run a case by pattern, e.g. suite run 'efficientnet_v2_b0.*.digits'."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pattern", nargs="?", default="*", help="shell glob over names, e.g. 'efficientnet*'")
        parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or markdown")
        parser.add_argument("--cases", metavar="FILE", help="also list the [[arch]] tables of this TOML file")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Prints the matching rows; a pattern that matches nothing is bad input."""
        import pandas as pd

        from suite.measure import arch_facts

        with user_cases(args.cases), _progress_to_stderr():
            names = [n for n in ARCHITECTURES if fnmatch.fnmatchcase(n, args.pattern.lower())]
            if not names:
                raise SuiteError(f"no architecture matches {args.pattern!r}; `suite archs` lists all of them")
            frame = pd.DataFrame([arch_facts.row(n) for n in names], columns=arch_facts.COLUMNS)
        if args.format == "csv":
            frame.to_csv(sys.stdout, index=False)
        elif args.format == "markdown":
            print(readable(frame).to_markdown(index=False))
            print(f"\n{legend()}")
        else:
            print_table(readable(frame))
            print(legend())
        return 0


@contextlib.contextmanager
def _progress_to_stderr():
    """The "counting ..." lines go to stderr, so that `--format csv > archs.csv` holds the table alone."""
    logger = logging.getLogger("suite.measure.arch_facts")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def legend() -> str:
    """What each input convention means, and where the counts come from."""
    conventions = "; ".join(f"{name}: {meaning}" for name, meaning in CONVENTIONS.items())
    return (
        f"Input conventions: {conventions}. Parameters include a 10-class head; GFLOPs (multiply and add counted "
        "apart) are per image at the side shown, counted from the built model. A TF-Hub module is counted where it "
        "loads (the network, or its copy in $TFHUB_CACHE_DIR), else marked 'needs its module'."
    )


def readable(frame):
    """The table as people read it: millions of parameters, GFLOPs to 3 significant figures, yes/no."""
    out = frame.copy()
    out["params_10_class"] = [_millions(v) for v in frame["params_10_class"]]
    out["gflops_at_native_side"] = [_gflops(v, s) for v, s in zip(frame["gflops_at_native_side"], frame["flops_side"])]
    out["native_side"] = [str(int(v)) if v == v and v else "dataset" for v in frame["native_side"]]
    out["imagenet_weights"] = [
        "in its module" if source == "hub" else "yes" if v else "no"
        for v, source in zip(frame["imagenet_weights"], frame["source"])
    ]
    out = out.drop(columns=["flops_side"])
    return out.rename(columns={"params_10_class": "params (10 classes)", "gflops_at_native_side": "GFLOPs"})


def _millions(value: float) -> str:
    return "needs its module" if math.isnan(value) else f"{value / 1e6:.2f}M"


def _gflops(value: float, side: int) -> str:
    return "needs its module" if math.isnan(value) else f"{value:.3g} @ {side}px"


def print_table(frame) -> None:
    """A rich table on a terminal (plain columns when piped)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for column in frame.columns:
        table.add_column(column, justify="right" if column in ("params (10 classes)", "min_side") else "left")
    for values in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in values))
    Console(width=max(160, Console().width)).print(table)
