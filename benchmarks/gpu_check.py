"""The checks behind ``benchmarks/gpu_check.sh``: are a GPU run's rows real GPU rows?

``gpu_check.sh`` runs the cases; this module reads the results folders they
wrote under ``OUT/results/`` and writes ``OUT/gpu_check-summary.json`` and
``.md``: each check, passed or failed (or not run), with its figures, the date
and the GPU's name. It uses the standard library only, so ``--dry-run`` works on
a bare machine, and the checks can be tested on CPU against stored folders
(``tests/test_gpu_check.py``).

    python benchmarks/gpu_check.py summarize --out DIR [--gpu-name NAME] [--dry-run]
    python benchmarks/gpu_check.py throughput --arch resnet50 --batch 32   # one JSON line, this process' device

Folders read (each written by one ``suite run`` of the script):

- ``gpu/``: the smoke set on ``--device gpu`` (``SMOKE_CASES``)
- ``mirrored/``: ``simple_cnn.scratch.digits`` with ``--strategy mirrored``
- ``tuned/``: ``simple_cnn.tuned.digits`` on the GPU
- ``throughput-gpu.json`` and ``throughput-cpu.json``: ResNet50 at batch 32, one process per device
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

SMOKE_CASES = ("simple_cnn.scratch.digits", "resnet50.scratch.digits", "mobilenet_v2.finetune.digits")
MIRRORED_CASE = "simple_cnn.scratch.digits"
TUNED_CASE = "simple_cnn.tuned.digits"
GPU_PRECISIONS = ("mixed_float16", "mixed_bfloat16")  # suite.profiles.MeasureBudget.gpu_precisions
COMPARE_ARCH, COMPARE_BATCH = "resnet50", 32  # GPU throughput must beat this machine's CPU figure here
SUMMARY = "gpu_check-summary"


@dataclass
class Check:
    name: str
    what: str  # the claim, in words
    status: str = "not run"  # "pass", "fail" or "not run"
    detail: str = ""  # why, in one line
    figures: dict = field(default_factory=dict)


def read_rows(folder: Path) -> list[dict]:
    """The rows of ``folder/results.csv`` as dicts of strings; ``[]`` if there is none."""
    path = folder / "results.csv"
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def rows_for(rows: list[dict], cases: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    """The rows of ``cases`` and the cases without an ``ok`` row."""
    chosen = [row for row in rows if row["case_id"] in cases]
    missing = [case for case in cases if not any(r["case_id"] == case and r["status"] == "ok" for r in chosen)]
    return chosen, missing


def judge(check: Check, problems: list[str], ok_detail: str) -> Check:
    check.status = "fail" if problems else "pass"
    check.detail = "; ".join(problems) if problems else ok_detail
    return check


def check_gpu_rows(folder: Path, cases: tuple[str, ...], gpu_name: str = "") -> list[Check]:
    """The smoke set's rows: ok on the GPU, named after it, with GPU memory and mixed-precision figures."""
    rows, missing = rows_for(read_rows(folder), cases)
    ok = [row for row in rows if row["status"] == "ok"]

    ran = Check("smoke_rows_ok_on_gpu", f"{', '.join(cases)} each have an ok row with device=gpu")
    problems = [f"{case}: no ok row" for case in missing]
    failed = [r for r in rows if r["status"] != "ok"]
    problems += [f"{r['case_id']}: status {r['status']}: {r.get('error', '')[:200]}" for r in failed]
    problems += [f"{r['case_id']}: device={r['device']!r}" for r in ok if r["device"] != "gpu"]
    ran.figures = {r["case_id"]: r["status"] for r in rows}
    judge(ran, problems, f"{len(ok)} ok rows on the GPU")

    named = Check("device_name_names_the_gpu", "device_name is 'gpu: <the GPU's name> xN', not a placeholder")
    names = sorted({r["device_name"] for r in ok})
    named.figures = {"device_name": names, "nvidia_smi_name": gpu_name}
    problems = []
    for name in names:
        match = re.fullmatch(r"gpu: (.+) x(\d+)", name)
        if not match or match.group(1).strip().lower() in {"", "gpu"}:
            problems.append(f"device_name {name!r} does not name a GPU")
        elif gpu_name and gpu_name.lower() not in name.lower() and match.group(1).lower() not in gpu_name.lower():
            problems.append(f"device_name {name!r} is not nvidia-smi's {gpu_name!r}")
    judge(named, problems if ok else ["no ok row"], f"{names}")

    memory = Check("peak_gpu_mb_positive", "every GPU row has peak_gpu_mb > 0")
    memory.figures = {r["case_id"]: number(r.get("peak_gpu_mb")) for r in ok}
    problems = [f"{case}: peak_gpu_mb={mb}" for case, mb in memory.figures.items() if not mb > 0]
    judge(memory, problems if ok else ["no ok row"], "all > 0")

    precision = Check(
        "mixed_precision_rows", f"every GPU row's throughput/*.csv has {' and '.join(GPU_PRECISIONS)} rows"
    )
    problems = []
    for row in ok:
        path = folder / "throughput" / f"{row['case_id']}-s{row['seed']}.csv"
        if not path.exists():
            problems.append(f"{path.name}: missing")
            continue
        with path.open(newline="") as file:
            sweep = list(csv.DictReader(file))
        best = {}
        for p in GPU_PRECISIONS:
            rates = [number(s.get("images_per_s")) for s in sweep if s.get("precision") == p]
            best[p] = max((r for r in rates if r > 0), default=math.nan)
            if not best[p] > 0:
                problems.append(f"{path.name}: no {p} row with images_per_s > 0")
        precision.figures[row["case_id"]] = best
    judge(precision, problems if ok else ["no ok row"], "present, images/s > 0")
    return [ran, named, memory, precision]


def check_single_row(folder: Path, case: str, name: str, what: str, strategy: str | None = None) -> Check:
    """One case's row: ok, on the GPU, and (where given) trained under ``strategy``."""
    check = Check(name, what)
    rows, missing = rows_for(read_rows(folder), (case,))
    if not rows:
        return judge(check, [f"{case}: no row in {folder}"], "")
    row = next((r for r in rows if r["status"] == "ok"), rows[0])
    problems = [f"{case}: status {row['status']}: {row.get('error', '')[:200]}"] if missing else []
    if row["device"] != "gpu":
        problems.append(f"{case}: device={row['device']!r}")
    settings = json.loads(row.get("case_json") or "{}")
    check.figures = {"status": row["status"], "device_name": row["device_name"], "test_accuracy": row["test_accuracy"]}
    if strategy is not None:
        check.figures["strategy"] = settings.get("strategy")
        if settings.get("strategy") != strategy:
            problems.append(f"{case}: strategy={settings.get('strategy')!r}, expected {strategy!r}")
    return judge(check, problems, f"{case} ok on {row['device_name']}")


def check_throughput(gpu: Path, cpu: Path) -> Check:
    """The GPU's ResNet50 batch-32 images/s above the CPU's, both measured on this machine by this script."""
    check = Check(
        f"{COMPARE_ARCH}_batch{COMPARE_BATCH}_gpu_beats_cpu",
        f"{COMPARE_ARCH} at batch {COMPARE_BATCH}: GPU images/s > this machine's CPU images/s",
    )
    figures = {}
    for label, path in (("gpu", gpu), ("cpu", cpu)):
        if not path.exists():
            return judge(check, [f"{path.name}: missing"], "")
        figures[label] = json.loads(path.read_text())
    check.figures = figures
    gpu_ips, cpu_ips = number(figures["gpu"].get("images_per_s")), number(figures["cpu"].get("images_per_s"))
    problems = []
    if figures["gpu"].get("device") != "gpu":
        problems.append(f"the GPU figure was measured on {figures['gpu'].get('device')!r}")
    if not gpu_ips > cpu_ips:
        problems.append(f"GPU {gpu_ips:.1f} images/s is not above CPU {cpu_ips:.1f}")
    return judge(check, problems, f"GPU {gpu_ips:.1f} > CPU {cpu_ips:.1f} images/s ({gpu_ips / cpu_ips:.1f}x)")


def all_checks(out: Path, gpu_name: str = "") -> list[Check]:
    results = out / "results"
    return [
        *check_gpu_rows(results / "gpu", SMOKE_CASES, gpu_name),
        check_throughput(results / "throughput-gpu.json", results / "throughput-cpu.json"),
        check_single_row(
            results / "mirrored",
            MIRRORED_CASE,
            "mirrored_strategy_on_one_gpu",
            f"{MIRRORED_CASE} with --strategy mirrored: ok on the GPU",
            strategy="mirrored",
        ),
        check_single_row(results / "tuned", TUNED_CASE, "tuned_case_on_gpu", f"{TUNED_CASE}: ok on the GPU"),
    ]


def planned_checks() -> list[Check]:
    """The same checks, all ``not run``: what ``--dry-run`` reports."""
    checks = all_checks(Path("/nonexistent"))
    for check in checks:
        check.status, check.detail, check.figures = "not run", "dry run", {}
    return checks


def write_summary(out: Path, checks: list[Check], gpu_name: str, dry_run: bool = False) -> dict:
    """Writes ``gpu_check-summary.json`` and ``.md`` into ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    failed = [c.name for c in checks if c.status != "pass"]
    summary = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "gpu_name": gpu_name,
        "dry_run": dry_run,
        "passed": not failed and not dry_run,
        "checks": [asdict(c) for c in checks],
    }
    (out / f"{SUMMARY}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [
        "# GPU check",
        "",
        f"{summary['date']}, GPU: {gpu_name or 'none found'}{' (dry run: nothing was run)' if dry_run else ''}",
        "",
        "| check | status | detail |",
        "|---|---|---|",
        *(f"| `{c.name}` | {c.status} | {c.detail.replace('|', '/')} |" for c in checks),
        "",
        f"**{'PASSED' if summary['passed'] else 'NOT RUN' if dry_run else 'FAILED: ' + ', '.join(failed)}**",
        "",
    ]
    (out / f"{SUMMARY}.md").write_text("\n".join(lines))
    return summary


def throughput(arch: str, batch: int, side: int = 32, seconds: float = 3.0) -> dict:
    """Images/s of ``arch``'s classifier at ``batch`` on this process' default device: best of 5 timed blocks."""
    import tensorflow as tf

    from suite.measure.timing import compiled_call, random_images, timed
    from suite.models import build_backbone, build_classifier

    device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    model = build_classifier(build_backbone(arch, side), 10)
    call = compiled_call(model)
    images = random_images(batch, side)
    timed(call, images, 3)  # traces and warms up
    calls = max(1, math.ceil(seconds / 5 / timed(call, images)))
    best = min(timed(call, images, calls) for _ in range(5))
    return {"arch": arch, "batch": batch, "device": device, "images_per_s": round(batch * calls / best, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    summarize = commands.add_parser("summarize", help="check OUT/results and write OUT/gpu_check-summary.*")
    summarize.add_argument("--out", required=True, type=Path)
    summarize.add_argument("--gpu-name", default="", help="nvidia-smi's name for the GPU")
    summarize.add_argument("--dry-run", action="store_true", help="write every check as 'not run'")
    rate = commands.add_parser("throughput", help="one JSON line: images/s on this process' device")
    rate.add_argument("--arch", default=COMPARE_ARCH)
    rate.add_argument("--batch", type=int, default=COMPARE_BATCH)
    args = parser.parse_args(argv)
    if args.command == "throughput":
        print(json.dumps(throughput(args.arch, args.batch)))
        return 0
    checks = planned_checks() if args.dry_run else all_checks(args.out, args.gpu_name)
    summary = write_summary(args.out, checks, args.gpu_name, args.dry_run)
    for check in checks:
        print(f"gpu_check: {check.status:>7}  {check.name}: {check.detail}")
    print(f"gpu_check: summary in {args.out / SUMMARY}.json and .md")
    return 0 if summary["passed"] or args.dry_run else 1


if __name__ == "__main__":
    sys.exit(main())
