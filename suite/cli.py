"""The ``suite`` command, one function per subcommand in workflow order.

    suite list [PATTERN ...]          which cases exist
    suite run [PATTERN ...]           train, evaluate and measure them into a results folder
    suite tune CASE                   search a tuned case's settings, alone or as a chief/worker
    suite report DIR                  rebuild tables, charts and report.html from DIR/results.csv
    suite compare RUN_A RUN_B         the cases of two results folders side by side, with deltas
    suite gate BASELINE CANDIDATE     fail on an accuracy or latency regression beyond noise
    suite prepare DATASET             download and prepare a tfds dataset (needs internet)

Exit codes: 0 all good, 1 some case failed (its row says why), 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from suite.errors import SuiteError

log = logging.getLogger("suite")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@contextmanager
def _user_cases(path: str | None) -> Iterator[list]:
    """Registers the TOML file's cases for the length of one command, then removes them again.

    A TOML case with a built-in case's id replaces it for that command (and gets it back afterwards).
    """
    from suite.config import load_cases
    from suite.registry import override, register, unregister

    cases = load_cases(path) if path else []
    registered, displaced = [], []
    try:
        for case in cases:
            previous = override(case)
            registered.append(case)
            if previous is not None:
                displaced.append(previous)
        yield cases
    finally:
        for case in registered:
            unregister(case.id)
        for case in displaced:
            register(case)


def cmd_list(args) -> int:
    """Prints matching case ids, one per line."""
    from suite.registry import list_cases, select_cases

    with _user_cases(args.cases):
        ids = [c.id for c in select_cases(*args.patterns)] if args.patterns else list_cases()
    print("\n".join(ids))
    return 0


def cmd_run(args) -> int:
    """Runs the selected cases and rebuilds the report."""
    from suite.executors import require
    from suite.profiles import get_profile
    from suite.registry import select_cases, validate

    profile = get_profile(args.profile)
    require(args.executor)  # before TensorFlow starts: a missing optional extra is one line
    if args.address is not None and args.executor != "ray":
        raise SuiteError(f"--address is the Ray cluster of --executor ray. Received: --executor {args.executor}")
    if args.seeds is not None and args.seeds < 1:
        raise SuiteError(f"--seeds must be at least 1. Received: --seeds {args.seeds}")
    with _user_cases(args.cases) as user_cases:
        if args.patterns:
            cases = select_cases(*args.patterns)
        elif user_cases:
            cases = user_cases
        else:
            cases = select_cases(*profile.patterns, exclude=profile.exclude)
    from suite.config import parse_overrides

    overrides = parse_overrides(args.set)
    if args.strategy is not None:
        overrides["strategy"] = args.strategy
    cases = [validate(dataclasses.replace(profile.apply(case), **overrides)) for case in cases]
    if args.first_seed < 0:
        raise SuiteError(f"--first-seed must be 0 or more. Received: --first-seed {args.first_seed}")
    cases = _with_latency_budget(cases, args.latency_budget_ms)
    from suite.data import check_path, parse_dataset

    for case in cases:  # cheap checks first, before TensorFlow starts
        check_path(parse_dataset(case.dataset))
    results_dir = Path(args.results or Path("results") / profile.name)

    from suite.budget import parse_duration

    timeout_s = parse_duration(args.timeout) if args.timeout else None
    budget_s = parse_duration(args.budget) if args.budget else None

    from suite import report
    from suite.schedule import run_cases

    log.info(
        "suite run: %d case(s) x %d seed(s), profile %s, results in %s",
        len(cases),
        args.seeds or profile.seeds,
        profile.name,
        results_dir,
    )
    rows = run_cases(
        cases,
        profile,
        results_dir,
        seeds=args.seeds or profile.seeds,
        first_seed=args.first_seed,
        device=args.device,
        data_dir=args.data_dir,
        force=args.force,
        executor=args.executor,
        timeout_s=timeout_s,
        budget_s=budget_s,
        address=args.address,
    )
    paths = report.write_report(results_dir, force=args.force)
    failed = [r for r in rows if r["status"] != "ok"]
    log.info(
        "done: %d job(s) run, %d ok, %d failed or skipped; report: %s",
        len(rows),
        len(rows) - len(failed),
        len(failed),
        ", ".join(str(p) for p in paths),
    )
    for row in failed:
        log.info("  %s seed %s %s: %s", row["case_id"], row["seed"], row["status"], row["error"])
    return 1 if failed else 0


def _with_latency_budget(cases: list, budget_ms: float | None) -> list:
    """Tuned cases with ``--latency-budget-ms`` set (other regimes don't search, so are left as they are)."""
    import dataclasses

    from suite.regimes import REGIMES

    if budget_ms is None:
        return cases
    if budget_ms <= 0:
        raise SuiteError(f"--latency-budget-ms must be above 0. Received: --latency-budget-ms {budget_ms}")
    return [dataclasses.replace(c, latency_budget_ms=budget_ms) if REGIMES[c.regime].searched else c for c in cases]


def cmd_tune(args) -> int:
    """Searches one tuned case: in this process, as the chief of a distributed search, or as one of its workers."""
    from suite.profiles import get_profile
    from suite.regimes import REGIMES
    from suite.registry import get_case
    from suite.runner import Runner

    profile = get_profile(args.profile)
    with _user_cases(args.cases):
        case = get_case(args.case)
    if not REGIMES[case.regime].searched:
        raise SuiteError(f"suite tune needs a case of regime tuned, e.g. simple_cnn.tuned.digits. Received: {case.id}")
    if args.chief and args.worker:
        raise SuiteError("choose one of --chief and --worker ID")
    if args.bind and not args.chief:
        raise SuiteError("--bind is the chief's address; add --chief")
    if args.worker and not args.oracle:
        raise SuiteError("--worker needs --oracle ADDR:PORT, the address the chief was started with")
    if args.oracle and not args.worker:
        raise SuiteError("--oracle is for workers; add --worker ID")
    (case,) = _with_latency_budget([profile.apply(case)], args.latency_budget_ms)
    runner = Runner(profile, Path(args.results or Path("results") / profile.name), args.device, args.data_dir)
    if args.chief:
        from suite.tuning.distributed import DEFAULT_BIND, run_chief

        print(run_chief(runner, case, args.seed, args.bind or DEFAULT_BIND))
    elif args.worker:
        from suite.tuning.distributed import run_worker

        run_worker(runner, case, args.seed, args.worker, args.oracle)
    else:
        from suite.tuning.search import search

        found = search(runner, case, args.seed)
        print(found.table)
        print(found.row()["tuner_best_json"])
    return 0


def cmd_report(args) -> int:
    """Rebuilds summary.csv, the tables, the charts and report.html from a results folder."""
    from suite import report

    for path in report.write_report(Path(args.results_dir), force=args.force):
        print(path)
    return 0


def cmd_compare(args) -> int:
    """Prints the cases of two runs side by side and writes the table, a chart and a page to a folder."""
    from suite.report import compare

    comparison = compare.compare_runs(Path(args.run_a), Path(args.run_b), force=args.force)
    out = Path(args.out) if args.out else compare.default_out(Path(args.run_a), Path(args.run_b))
    paths = compare.write_comparison(comparison, out)
    print(comparison.to_text())
    print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    return 0


def cmd_gate(args) -> int:
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


def cmd_prepare(args) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="suite",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 all good, 1 some case failed, 2 bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = commands.add_parser(
        "list",
        help="print case ids, one per line",
        description="Print the ids of the cases matching shell-style PATTERNs (all by default).",
    )
    listing.add_argument(
        "patterns", nargs="*", metavar="PATTERN", help="shell glob over ids, e.g. 'resnet*' or '*.frozen.*'"
    )
    listing.add_argument("--cases", metavar="FILE", help="also list the [[case]] tables of this TOML file")
    listing.set_defaults(func=cmd_list)

    run = commands.add_parser(
        "run",
        help="train, evaluate and measure cases",
        description="Train, evaluate and measure the selected cases: one row per case and seed in DIR/results.csv, "
        "then rebuild the charts. Without PATTERNs it runs the profile's cases (or the --cases file's).",
    )
    run.add_argument("patterns", nargs="*", metavar="PATTERN", help="shell glob over case ids")
    run.add_argument(
        "--profile",
        default="quick",
        choices=["smoke", "quick", "overnight"],
        help="budgets and default cases (default: quick, about 15 minutes on 2 CPU cores)",
    )
    run.add_argument(
        "--results", metavar="DIR", help="results folder (default: results/<profile>); rows already ok are skipped"
    )
    run.add_argument(
        "--device", default="auto", choices=["cpu", "gpu", "auto"], help="where to train and measure (default: auto)"
    )
    run.add_argument("--seeds", type=int, metavar="N", help="seeds per case, 0..N-1 (default: the profile's)")
    run.add_argument(
        "--first-seed", type=int, default=0, metavar="K", help="seeds K..K+N-1 instead of 0..N-1 (default: 0)"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a case field for every selected case, after the profile, e.g. --set epochs=3 or "
        "--set label_noise=1.0 (a deliberately broken run); repeatable",
    )
    run.add_argument(
        "--strategy",
        metavar="NAME",
        help="none (one device) or mirrored (tf.distribute.MirroredStrategy over every visible GPU; batch_size is "
        "per replica and the learning rate scales with the replicas); same as --set strategy=NAME",
    )
    run.add_argument("--cases", metavar="FILE", help="TOML file of extra [[case]] tables")
    run.add_argument("--data-dir", metavar="DIR", help="tfds data directory (default: $TFDS_DATA_DIR)")
    run.add_argument(
        "--budget",
        metavar="TIME",
        help="wall-time budget, e.g. 8h or 90m: orders the jobs shortest first and says up front which will not fit "
        "(estimates from earlier rows in DIR, else a short probe per architecture)",
    )
    run.add_argument(
        "--timeout",
        metavar="TIME",
        help="per job, e.g. 45m: a job still running is killed and recorded as failed (default: the profile's)",
    )
    run.add_argument(
        "--executor",
        default="local",
        choices=["local", "inline", "ray"],
        help="local: each job in its own process, one at a time (default); inline: in this process, no timeout, "
        'for debugging; ray: each job a Ray task, side by side, on a local Ray or a cluster (pip install -e ".[ray]")',
    )
    run.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="--executor ray: the cluster's head (auto: the one `ray start` made on this machine); "
        "default: a local Ray instance with this machine's cores",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="redo cases already ok in the results folder, even if it holds results from another machine",
    )
    run.add_argument(
        "--latency-budget-ms",
        type=float,
        metavar="MS",
        help="tuned cases: a trial over this batch-1 latency scores its validation accuracy minus 1",
    )
    run.set_defaults(func=cmd_run)

    tune = commands.add_parser(
        "tune",
        help="search a tuned case's settings (alone, or as chief or worker of a distributed search)",
        description="Run the KerasTuner search of one tuned case into DIR/tuning/<case>/ without the final "
        "training; a later `suite run CASE --results DIR` finds the search done and trains the best settings. "
        "Distributed: start `suite tune CASE --chief --bind ADDR:PORT` once, then `suite tune CASE --worker ID "
        "--oracle ADDR:PORT` on each machine (same case, profile and seed).",
    )
    tune.add_argument("case", metavar="CASE", help="a case of regime tuned, e.g. simple_cnn.tuned.digits")
    tune.add_argument(
        "--profile", default="quick", choices=["smoke", "quick", "overnight"], help="budgets (default: quick)"
    )
    tune.add_argument("--results", metavar="DIR", help="results folder (default: results/<profile>)")
    tune.add_argument("--seed", type=int, default=0, help="the seed whose search this is (default: 0)")
    tune.add_argument("--cases", metavar="FILE", help="TOML file of extra [[case]] tables")
    tune.add_argument("--device", default="auto", choices=["cpu", "gpu", "auto"], help="where trials train")
    tune.add_argument("--data-dir", metavar="DIR", help="tfds data directory (default: $TFDS_DATA_DIR)")
    tune.add_argument(
        "--latency-budget-ms", type=float, metavar="MS", help="a trial over this batch-1 latency is infeasible"
    )
    tune.add_argument("--chief", action="store_true", help="serve the search's oracle to workers; trains nothing")
    tune.add_argument(
        "--bind",
        metavar="ADDR:PORT",
        help="where the chief listens (default: 127.0.0.1:8000); port 0 picks a free one, logged as "
        "'chief: serving the oracle on ADDR:PORT'",
    )
    tune.add_argument("--worker", metavar="ID", help="run trials for the chief at --oracle under this id")
    tune.add_argument("--oracle", metavar="ADDR:PORT", help="the chief's address, for --worker")
    tune.set_defaults(func=cmd_tune)

    rep = commands.add_parser(
        "report",
        help="rebuild tables, charts and report.html from a results folder",
        description="Rebuild DIR/summary.csv, DIR/tables/, DIR/charts/ and DIR/report.html from DIR/results.csv "
        "and the side tables beside it; trains nothing.",
    )
    rep.add_argument("results_dir", metavar="DIR")
    rep.add_argument("--force", action="store_true", help="summarise rows from different machine fingerprints together")
    rep.set_defaults(func=cmd_report)

    comp = commands.add_parser(
        "compare",
        help="set two results folders side by side",
        description="Match the cases that ran ok in both RUN_A (the baseline) and RUN_B; print their accuracy, "
        "latency p50 and throughput with deltas, marking those beyond the noise (seed spread for accuracy, the p50 "
        "confidence interval for latency); write compare.csv, compare.md, compare.html and an accuracy-against-"
        "latency chart with arrows from A to B. Trains nothing.",
    )
    comp.add_argument("run_a", metavar="RUN_A", help="the baseline results folder")
    comp.add_argument("run_b", metavar="RUN_B", help="the results folder compared with it")
    comp.add_argument("--out", metavar="DIR", help="where to write (default: RUN_B/compare-<RUN_A folder name>)")
    comp.add_argument("--force", action="store_true", help="compare runs measured under different machine fingerprints")
    comp.set_defaults(func=cmd_compare)

    gate = commands.add_parser(
        "gate",
        help="fail if a candidate run regressed against a baseline run",
        description="Compare CANDIDATE with BASELINE case by case: test accuracy may drop only within its noise "
        "(seed spread or the test set's binomial error), batch-1 latency p90 may rise only within a tolerance. "
        "Exit 1 names each regression.",
    )
    gate.add_argument("baseline", metavar="BASELINE", help="results folder of the reference run")
    gate.add_argument("candidate", metavar="CANDIDATE", help="results folder of the run under test")
    gate.add_argument("--thresholds", metavar="FILE", help='TOML: [defaults] and [cases."GLOB"] thresholds')
    gate.add_argument("--force", action="store_true", help="compare rows from different machine fingerprints")
    gate.set_defaults(func=cmd_gate)

    prep = commands.add_parser(
        "prepare",
        help="download and prepare a tfds dataset (needs internet)",
        description="Download and prepare a tfds dataset, e.g. cifar10, for offline runs.",
    )
    prep.add_argument("dataset", metavar="DATASET", help="cifar10 or tfds:<name>")
    prep.add_argument(
        "--data-dir", metavar="DIR", help="where to put it (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )
    prep.set_defaults(func=cmd_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``suite`` console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    for noisy in ("absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return args.func(args)
    except SuiteError as error:
        print(f"suite {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("suite: interrupted; rows already written are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
