"""benchmarks/gpu_check.sh and its checks, on CPU: arguments, the dry run, and the summary from stored folders.

The GPU-looking folders are made from ``results/fixtures/report-smoke``'s real CPU rows with what a GPU run
writes (device, device_name, peak_gpu_mb, mixed-precision throughput rows); the same rows left as CPU rows
must fail.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "results" / "fixtures" / "report-smoke"
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"

spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = sys.modules.setdefault("gpu_check", importlib.util.module_from_spec(spec))
spec.loader.exec_module(gpu_check)


@pytest.fixture
def seeded():
    yield  # no randomness here; tests/conftest.py's autouse fixture would import Keras for nothing


def script(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames), list(reader)


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def results_folder(folder: Path, picks: dict[str, str], gpu: bool, strategy: str = "none") -> Path:
    """A results folder holding the fixture's seed-0 CPU row of each source case under a new id, as a GPU row if asked.

    ``picks`` maps the new case id to the fixture case whose row and throughput sweep it takes.
    """
    header, rows = read_csv(FIXTURE / "results.csv")
    chosen = []
    for case_id, source in picks.items():
        row = dict(next(r for r in rows if r["case_id"] == source and r["seed"] == "0" and r["device"] == "cpu"))
        settings = json.loads(row["case_json"])
        settings["strategy"] = strategy
        row.update(case_id=case_id, case_json=json.dumps(settings))
        sweep_header, sweep = read_csv(FIXTURE / "throughput" / f"{source}-s0.csv")
        if gpu:
            row.update(device="gpu", device_name="gpu: NVIDIA H200 x1", peak_gpu_mb="812.5", gpu_name="NVIDIA H200 x1")
            sweep = sweep + [
                {**s, "precision": precision, "images_per_s": str(float(s["images_per_s"]) * 3)}
                for precision in ("mixed_float16", "mixed_bfloat16")
                for s in sweep
                if s["precision"] == "float32" and s["xla"] == "False"
            ]
        chosen.append(row)
        write_csv(folder / "throughput" / f"{case_id}-s0.csv", sweep_header, sweep)
    write_csv(folder / "results.csv", header, chosen)
    return folder


def check_out(out: Path, gpu: bool) -> Path:
    """A whole OUT folder as gpu_check.sh leaves it, with GPU rows or (``gpu=False``) the same rows on CPU."""
    smoke = {case: case for case in gpu_check.SMOKE_CASES}
    results_folder(out / "results" / "gpu", smoke, gpu)
    simple = "simple_cnn.scratch.digits"
    results_folder(out / "results" / "mirrored", {simple: simple}, gpu, strategy="mirrored" if gpu else "none")
    results_folder(out / "results" / "tuned", {gpu_check.TUNED_CASE: simple}, gpu)
    rates = {"gpu": 2400.0 if gpu else 150.0, "cpu": 180.0}
    for device, rate in rates.items():
        figure = {"arch": "resnet50", "batch": 32, "device": device if gpu else "cpu", "images_per_s": rate}
        (out / "results" / f"throughput-{device}.json").write_text(json.dumps(figure))
    return out


def test_help_and_a_bad_argument_is_one_line_and_exit_2(tmp_path):
    shown = script("--help")
    assert shown.returncode == 0 and shown.stdout.startswith("usage: bash benchmarks/gpu_check.sh")
    for bad in (["--bogus"], ["--out"], ["--out", ""]):
        done = script(*bad)
        assert done.returncode == 2, bad
        assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "unknown argument '--bogus'" in script("--bogus").stderr


def test_a_dry_run_prints_the_plan_and_writes_every_check_not_run(tmp_path):
    done = script("--dry-run", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--profile smoke --device gpu" in done.stdout and "--strategy mirrored" in done.stdout
    summary = json.loads((tmp_path / "out" / "gpu_check-summary.json").read_text())
    assert summary["dry_run"] and not summary["passed"]
    statuses = {c["name"]: c["status"] for c in summary["checks"]}
    assert set(statuses.values()) == {"not run"} and len(statuses) == 7
    assert "NOT RUN" in (tmp_path / "out" / "gpu_check-summary.md").read_text()


def test_real_looking_gpu_rows_pass_every_check(tmp_path):
    out = check_out(tmp_path / "out", gpu=True)
    assert gpu_check.main(["summarize", "--out", str(out), "--gpu-name", "NVIDIA H200"]) == 0
    summary = json.loads((out / "gpu_check-summary.json").read_text())
    assert summary["passed"] and summary["gpu_name"] == "NVIDIA H200" and summary["date"].startswith("20")
    assert {c["status"] for c in summary["checks"]} == {"pass"}, summary["checks"]
    throughput = next(c for c in summary["checks"] if c["name"] == "resnet50_batch32_gpu_beats_cpu")
    assert throughput["figures"]["gpu"]["images_per_s"] == 2400.0
    assert "| `peak_gpu_mb_positive` | pass |" in (out / "gpu_check-summary.md").read_text()


def test_the_same_rows_on_cpu_fail_each_gpu_check_with_the_reason(tmp_path, capsys):
    out = check_out(tmp_path / "out", gpu=False)
    assert gpu_check.main(["summarize", "--out", str(out), "--gpu-name", "NVIDIA H200"]) == 1
    checks = {c["name"]: c for c in json.loads((out / "gpu_check-summary.json").read_text())["checks"]}
    assert {c["status"] for c in checks.values()} == {"fail"}
    assert "resnet50.scratch.digits: device='cpu'" in checks["smoke_rows_ok_on_gpu"]["detail"]
    assert "does not name a GPU" in checks["device_name_names_the_gpu"]["detail"]
    assert "peak_gpu_mb=nan" in checks["peak_gpu_mb_positive"]["detail"]
    assert "no mixed_float16 row" in checks["mixed_precision_rows"]["detail"]
    assert "is not above CPU 180.0" in checks["resnet50_batch32_gpu_beats_cpu"]["detail"]
    assert "strategy='none', expected 'mirrored'" in checks["mirrored_strategy_on_one_gpu"]["detail"]
    assert "FAILED: smoke_rows_ok_on_gpu" in (out / "gpu_check-summary.md").read_text()
    assert "gpu_check:    fail  peak_gpu_mb_positive" in capsys.readouterr().out


def test_a_missing_folder_or_a_placeholder_gpu_name_fails(tmp_path):
    (tmp_path / "out").mkdir()
    checks = {c.name: c for c in gpu_check.all_checks(tmp_path / "out")}
    assert checks["smoke_rows_ok_on_gpu"].status == "fail" and "no ok row" in checks["smoke_rows_ok_on_gpu"].detail
    assert "throughput-gpu.json: missing" in checks["resnet50_batch32_gpu_beats_cpu"].detail
    folder = results_folder(tmp_path / "gpu", {"simple_cnn.scratch.digits": "simple_cnn.scratch.digits"}, gpu=True)
    header, rows = read_csv(folder / "results.csv")
    rows[0]["device_name"] = "gpu: GPU x1"  # what suite.environment writes when TF gives no name
    write_csv(folder / "results.csv", header, rows)
    named = gpu_check.check_gpu_rows(folder, ("simple_cnn.scratch.digits",))[1]
    assert named.status == "fail" and "'gpu: GPU x1' does not name a GPU" in named.detail
    shutil.rmtree(folder / "throughput")
    mixed = gpu_check.check_gpu_rows(folder, ("simple_cnn.scratch.digits",))[3]
    assert mixed.status == "fail" and "simple_cnn.scratch.digits-s0.csv: missing" in mixed.detail
