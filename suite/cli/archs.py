"""``suite archs``: the architecture table, to choose from.

Listing builds nothing, so it answers at once: the names, families, sides and conventions are the table itself,
and the counted columns (parameters, GFLOPs) come from this machine's cache or from the figures shipped with the
package (``suite.measure.arch_facts``), each counted once by building the model. ``--count`` builds what has
neither (a user architecture, a TF-Hub module) and caches it. pandas and rich are imported when the command runs,
as ``suite --help`` imports this module; TensorFlow only where ``--count`` builds a model.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import logging
import math
import sys

from suite.cli._command import Command
from suite.environment import cache_dir
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
        "(shipped with the suite for its own architectures, else counted once per machine with --count and "
        "cached), its native and minimum input side, its input convention and whether ImageNet weights exist. "
        "Run a case by pattern, e.g. suite run 'efficientnet_v2_b0.*.digits'."
    )

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pattern", nargs="?", default="*", help="shell glob over names, e.g. 'efficientnet*'")
        parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or markdown")
        parser.add_argument("--cases", metavar="FILE", help="also list the [[arch]] tables of this TOML file")
        parser.add_argument(
            "--count",
            action="store_true",
            help="count what is neither cached nor shipped by building it (up to a minute each), then cache it",
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Prints the matching rows (counting the missing ones first with ``--count``); a pattern that matches
        nothing is bad input."""
        import pandas as pd

        from suite.measure import arch_facts

        with user_cases(args.cases):
            names = [n for n in ARCHITECTURES if fnmatch.fnmatchcase(n, args.pattern.lower())]
            if not names:
                raise SuiteError(f"no architecture matches {args.pattern!r}; `suite archs` lists all of them")
            if args.count:
                count_missing(names)
            frame = pd.DataFrame([arch_facts.row(n) for n in names], columns=arch_facts.COLUMNS)
        if args.format == "csv":
            frame.to_csv(sys.stdout, index=False)
        elif args.format == "markdown":
            print(readable(frame).to_markdown(index=False))
            print(f"\n{legend(frame)}")
        else:
            print_table(readable(frame))
            print(legend(frame))
        return 0


def count_missing(names: list[str]) -> None:
    """Builds and caches every architecture of ``names`` that is neither cached nor shipped, with a progress bar
    on stderr, so that `--format csv > archs.csv` holds the table alone."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from suite.measure import arch_facts

    missing = [name for name in names if arch_facts.known(name) is None]
    if not missing:
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress, _log_to_stderr():
        task = progress.add_task("counting", total=len(missing))
        for name in missing:
            progress.update(task, description=f"counting {name}")
            arch_facts.counted(name)
            progress.advance(task)


@contextlib.contextmanager
def _log_to_stderr():
    """The "counting ..." lines go to stderr (above the progress bar on a terminal: made inside it, the handler
    writes to the stderr the bar redirects)."""
    logger = logging.getLogger("suite.measure.arch_facts")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def legend(frame) -> str:
    """What each input convention means, and where the counts of ``frame`` (the rows shown) come from."""
    conventions = "; ".join(f"{name}: {meaning}" for name, meaning in CONVENTIONS.items())
    return (
        f"Input conventions: {conventions}. Parameters include a 10-class head; GFLOPs (multiply and add counted "
        f"apart) are per image at the side shown, counted from the built model (random weights). {_sources(frame)} "
        "A TF-Hub module is counted with --count where it loads (the network, or its copy in $TFHUB_CACHE_DIR), "
        "else marked 'needs its module'."
    )


def _sources(frame) -> str:
    """Where the counts shown come from, e.g. "Counts: 42 shipped (counted on Keras 3.15 ...), 2 not counted"."""
    from suite.measure import arch_facts

    shipped = arch_facts.shipped_file()
    words = {
        arch_facts.FROM_SHIPPED: f"shipped (counted on Keras {shipped.get('keras')} by a real build, "
        f"{shipped.get('counted_on')})",
        arch_facts.CACHE: f"from this machine's cache ({cache_dir() / 'archs'})",
        "": "not counted (`suite archs --count` counts them)",
    }
    tally = frame["counts_from"].fillna("").value_counts()
    return "Counts: " + ", ".join(f"{tally[key]} {text}" for key, text in words.items() if key in tally) + "."


def readable(frame):
    """The table as people read it: millions of parameters, GFLOPs to 3 significant figures, yes/no."""
    out = frame.copy()
    out["params_10_class"] = [_millions(v, source) for v, source in zip(frame["params_10_class"], frame["source"])]
    out["gflops_at_native_side"] = [
        _gflops(v, side, source)
        for v, side, source in zip(frame["gflops_at_native_side"], frame["flops_side"], frame["source"])
    ]
    out["counts_from"] = frame["counts_from"].fillna("").replace("", "-")
    out["native_side"] = [str(int(v)) if v == v and v else "dataset" for v in frame["native_side"]]
    out["imagenet_weights"] = [
        "in its module" if source == "hub" else "yes" if v else "no"
        for v, source in zip(frame["imagenet_weights"], frame["source"])
    ]
    out = out.drop(columns=["flops_side"])
    names = {"params_10_class": "params (10 classes)", "gflops_at_native_side": "GFLOPs", "counts_from": "counts"}
    return out.rename(columns=names)


def _uncounted(source: str) -> str:
    """What an uncounted cell says: a TF-Hub module needs its module to be counted; anything else, ``--count``."""
    return "needs its module" if source == "hub" else "not counted"


def _millions(value: float, source: str) -> str:
    return _uncounted(source) if math.isnan(value) else f"{value / 1e6:.2f}M"


def _gflops(value: float, side: int, source: str) -> str:
    return _uncounted(source) if math.isnan(value) else f"{value:.3g} @ {side}px"


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
