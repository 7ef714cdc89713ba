"""The commands that choose and run cases: ``list``, ``run`` and ``tune``.

``run`` and ``tune`` share their case options (profile, results folder, cases
file, ``--set``, device, data directory, latency budget) through one parent
parser, and resolve their cases with one function, ``suite.selection.resolve_cases``.

What starts TensorFlow, pandas or matplotlib (the run, the dry run, the report, the tuner, the executors) is
imported inside the command that needs it, after the cheap checks, so ``suite --help`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from suite.cli._command import Command
from suite.data import check_path, parse_dataset
from suite.deploy.formats import parse_formats
from suite.errors import SuiteError
from suite.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from suite.progress import duration
from suite.regimes import REGIMES
from suite.registry import list_cases, select_cases
from suite.run.settings import RunSettings, parse_duration
from suite.selection import resolve_cases, user_cases

log = logging.getLogger("suite")


def case_options() -> argparse.ArgumentParser:
    """The options ``run`` and ``tune`` share, as a parent parser; profile choices and help come from PROFILES."""

    parser = argparse.ArgumentParser(add_help=False)
    profiles = " ".join(f"{p.name}: {p.summary}." for p in PROFILES.values()).replace("%", "%%")
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=list(PROFILES),
        help=f"budgets, and the cases `run` runs without PATTERNs or --cases (default: {DEFAULT_PROFILE}). {profiles}",
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="results folder (default: results/<profile>); `run` skips the rows already ok in it",
    )
    parser.add_argument(
        "--cases", metavar="FILE", help="TOML file of extra [[case]] tables and your own [[arch]] architectures"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a case field for every selected case, after the profile, e.g. --set epochs=3 or "
        "--set label_noise=1.0 (a deliberately broken run); repeatable",
    )
    parser.add_argument(
        "--device", default="auto", choices=["cpu", "gpu", "auto"], help="where to train and measure (default: auto)"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="tfds data directory (default: $TFDS_DATA_DIR)")
    parser.add_argument(
        "--latency-budget-ms",
        type=float,
        metavar="MS",
        help="tuned cases: a trial over this batch-1 latency is infeasible and scores its validation accuracy minus 1",
    )
    return parser


def results_dir(args: argparse.Namespace) -> Path:
    """``--results``, or ``results/<profile>``."""
    return Path(args.results or Path("results") / args.profile)


def run_settings(args: argparse.Namespace, profile) -> RunSettings:
    """The run's ``RunSettings``, built once from ``suite run``'s arguments."""

    return RunSettings.build(
        profile,
        results_dir(args),
        seeds=args.seeds,
        first_seed=args.first_seed,
        device=args.device,
        data_dir=args.data_dir,
        formats=parse_formats(args.formats) if args.formats is not None else None,
        force=args.force,
        executor=args.executor,
        timeout_s=parse_duration(args.timeout) if args.timeout else None,
        budget_s=parse_duration(args.budget) if args.budget else None,
        address=args.address,
        jobs=jobs_of_args(args),
    )


def jobs_of_args(args: argparse.Namespace) -> int:
    """``--jobs``, else what the machine suits for the local executor (``suite.run.parallel.default_jobs``) and one
    for the others (inline runs in this process; Ray places its own tasks)."""
    chosen = getattr(args, "jobs", None)
    if chosen is not None:
        return chosen
    if getattr(args, "executor", "local") != "local":
        return 1
    from suite.run.parallel import default_jobs

    return default_jobs()


class List(Command):
    name = "list"
    help = "print case ids, one per line"
    description = "Print the ids of the cases matching shell-style PATTERNs (all by default)."

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "patterns", nargs="*", metavar="PATTERN", help="shell glob over ids, e.g. 'resnet*' or '*.frozen.*'"
        )
        parser.add_argument(
            "--cases", metavar="FILE", help="also list the [[case]] tables of this TOML file, and its [[arch]]s' cases"
        )

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Prints matching case ids, one per line."""

        with user_cases(args.cases):
            ids = [c.id for c in select_cases(*args.patterns)] if args.patterns else list_cases()
        print("\n".join(ids))
        return 0


def output_options(parser: argparse.ArgumentParser) -> None:
    """``suite run``'s options for what the run writes beside its rows: the deployed formats and the budgets."""
    parser.add_argument(
        "--budgets",
        metavar="MS",
        help="the latency budgets the report answers for, in ms, comma-separated, e.g. 2,5,10 (kept in "
        "DIR/budgets.json; default: the profile's, else the 1-2-5 ladder over the measured p90s)",
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help="deployed formats to export each case to and measure, comma-separated, instead of the profile's: "
        "saved_model, litert_fp32, litert_fp16, litert_dynamic_int8, litert_int8, onnx, openvino "
        '(pip install -e ".[deploy]"), or none for no formats; rows go to DIR/formats.csv',
    )


class Run(Command):
    name = "run"
    help = "train, evaluate and measure cases"
    description = (
        "Train, evaluate and measure the selected cases: one row per case and seed in DIR/results.csv, "
        "cheapest first; DIR/report.html is rebuilt as cases finish and once more at the end. "
        "Without PATTERNs it runs the profile's cases (or the --cases file's)."
    )

    @classmethod
    def parents(cls) -> list[argparse.ArgumentParser]:
        return [case_options()]

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("patterns", nargs="*", metavar="PATTERN", help="shell glob over case ids")
        parser.add_argument("--seeds", type=int, metavar="N", help="seeds per case, 0..N-1 (default: the profile's)")
        parser.add_argument(
            "--first-seed", type=int, default=0, metavar="K", help="seeds K..K+N-1 instead of 0..N-1 (default: 0)"
        )
        parser.add_argument(
            "--strategy",
            metavar="NAME",
            help="none (one device) or mirrored (tf.distribute.MirroredStrategy over every visible GPU; batch_size "
            "is per replica and the learning rate scales with the replicas); same as --set strategy=NAME",
        )
        parser.add_argument(
            "--budget",
            metavar="TIME",
            help="wall-time budget, e.g. 8h or 90m: orders the jobs shortest first and says up front which will not "
            "fit (estimates from earlier rows in DIR, else a short probe per architecture)",
        )
        parser.add_argument(
            "--timeout",
            metavar="TIME",
            help="per job, e.g. 45m: a job still running is killed and recorded as failed (default: the profile's)",
        )
        parser.add_argument(
            "--executor",
            default="local",
            choices=["local", "inline", "ray"],
            help="local: each job in its own process, one at a time (default); inline: in this process, no timeout, "
            "for debugging; ray: each job a Ray task, side by side, on a local Ray or a cluster "
            '(pip install -e ".[ray]")',
        )
        parser.add_argument(
            "--jobs",
            type=int,
            metavar="N",
            help="--executor local: up to N jobs at once; a small network's job trains beside others on its share "
            "of the cores, a big one alone, and every timing waits until nothing else trains (default: one per core, "
            "at most 2)",
        )
        parser.add_argument(
            "--address",
            metavar="HOST:PORT",
            help="--executor ray: the cluster's head (auto: the one `ray start` made on this machine); "
            "default: a local Ray instance with this machine's cores",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="redo cases already ok in the results folder, even if it holds results from another machine",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print the plan and stop, training and writing nothing: per case and seed the input side, the "
            "weights it would start from, epochs per phase, batch size, training images, and an estimate of each "
            "job's time and of the total (from earlier rows in DIR, else from FLOPs at that side)",
        )
        output_options(parser)

    @classmethod
    def check(cls, args: argparse.Namespace) -> None:
        """The cheap checks of the arguments, before anything heavy is imported."""
        from suite.run.executors import require

        require(args.executor)  # before TensorFlow starts: a missing optional extra is one line
        if args.address is not None and args.executor != "ray":
            raise SuiteError(f"--address is the Ray cluster of --executor ray. Received: --executor {args.executor}")
        if args.jobs is not None and args.jobs < 1:
            raise SuiteError(f"--jobs must be at least 1. Received: --jobs {args.jobs}")
        if args.jobs is not None and args.jobs > 1 and args.executor != "local":
            raise SuiteError(f"--jobs runs jobs side by side on --executor local. Received: --executor {args.executor}")
        if args.seeds is not None and args.seeds < 1:
            raise SuiteError(f"--seeds must be at least 1. Received: --seeds {args.seeds}")
        if args.first_seed < 0:
            raise SuiteError(f"--first-seed must be 0 or more. Received: --first-seed {args.first_seed}")
        if args.budgets is not None:
            from suite.storage.budgets import parse_budgets

            parse_budgets(args.budgets)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Runs the selected cases and rebuilds the report."""
        from suite import report
        from suite.report.live import LiveReport

        profile = get_profile(args.profile)
        cls.check(args)
        cases = resolve_cases(
            args.patterns,
            profile=profile,
            cases_file=args.cases,
            settings=args.set,
            strategy=args.strategy,
            latency_budget_ms=args.latency_budget_ms,
        )
        for case in cases:  # cheap checks first, before TensorFlow starts
            check_path(parse_dataset(case.dataset))
        settings = run_settings(args, profile)
        if args.dry_run:
            return cls.dry_run(cases, settings)
        log.info(
            "suite run: %d case(s) x %d seed(s), profile %s, results in %s",
            *(len(cases), len(settings.seeds), profile.name, settings.results_dir),
        )
        from suite.run.schedule import run_cases  # starts TensorFlow: after the cheap checks above
        from suite.storage import parse_budgets, write_budgets

        budgets = parse_budgets(args.budgets) if args.budgets is not None else profile.latency_budgets_ms
        if budgets:
            write_budgets(settings.results_dir, budgets)
        live = LiveReport(settings.results_dir, force=args.force)  # report.html rebuilt as cases finish
        rows = run_cases(cases, settings, after_row=live)
        return cls.summarise(rows, report.write_report(settings.results_dir, force=args.force))

    @staticmethod
    def dry_run(cases: list, settings) -> int:
        """Prints the plan (``suite.run.dryrun``); trains nothing, writes nothing."""
        from suite.run import dryrun, dryrun_view

        run = dryrun.plan(cases, settings)
        print(dryrun_view.render(run))
        if settings.budget_s is not None and run.total_s is not None:
            verdict = "fits in" if run.total_s <= settings.budget_s else "is over"
            print(f"--budget {duration(settings.budget_s)}: the estimate of the jobs that fit {verdict} it")
        return 0

    @staticmethod
    def summarise(rows: list[dict], paths: list[Path]) -> int:
        """Logs what ran and what failed; 1 if any job failed or was skipped."""
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


class Tune(Command):
    name = "tune"
    help = "search a tuned case's settings (alone, or as chief or worker of a distributed search)"
    description = (
        "Run the KerasTuner search of one tuned case into DIR/tuning/<case>/ without the final "
        "training; a later `suite run CASE --results DIR` finds the search done and trains the best settings. "
        "Distributed: start `suite tune CASE --chief --bind ADDR:PORT` once, then `suite tune CASE --worker ID "
        "--oracle ADDR:PORT` on each machine (same case, profile and seed)."
    )

    @classmethod
    def parents(cls) -> list[argparse.ArgumentParser]:
        return [case_options()]

    @classmethod
    def arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("case", metavar="CASE", help="a case of regime tuned, e.g. simple_cnn.tuned.digits")
        parser.add_argument("--seed", type=int, default=0, help="the seed whose search this is (default: 0)")
        parser.add_argument("--chief", action="store_true", help="serve the search's oracle to workers; trains nothing")
        parser.add_argument(
            "--bind",
            metavar="ADDR:PORT",
            help="where the chief listens (default: 127.0.0.1:8000); port 0 picks a free one, logged as "
            "'chief: serving the oracle on ADDR:PORT'",
        )
        parser.add_argument("--worker", metavar="ID", help="run trials for the chief at --oracle under this id")
        parser.add_argument("--oracle", metavar="ADDR:PORT", help="the chief's address, for --worker")

    @classmethod
    def check(cls, args: argparse.Namespace) -> None:
        """A search is run alone, by a chief (which may bind an address) or by a worker (which needs the chief's)."""
        if args.chief and args.worker:
            raise SuiteError("choose one of --chief and --worker ID")
        if args.bind and not args.chief:
            raise SuiteError("--bind is the chief's address; add --chief")
        if args.worker and not args.oracle:
            raise SuiteError("--worker needs --oracle ADDR:PORT, the address the chief was started with")
        if args.oracle and not args.worker:
            raise SuiteError("--oracle is for workers; add --worker ID")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Searches one tuned case: in this process, as the chief of a distributed search, or as one of its workers."""
        from suite.run.runner import Runner

        profile = get_profile(args.profile)
        cases = resolve_cases(
            [args.case],
            profile=profile,
            cases_file=args.cases,
            settings=args.set,
            latency_budget_ms=args.latency_budget_ms,
        )
        if len(cases) != 1:
            found = ", ".join(c.id for c in cases)
            raise SuiteError(f"suite tune searches one case; {args.case!r} matches {len(cases)}: {found}")
        (case,) = cases
        if not REGIMES[case.regime].searched:
            raise SuiteError(
                f"suite tune needs a case of regime tuned, e.g. simple_cnn.tuned.digits. Received: {case.id}"
            )
        cls.check(args)
        settings = RunSettings.build(profile, results_dir(args), device=args.device, data_dir=args.data_dir)
        runner = Runner(settings)
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
