"""A user architecture through the real `suite run`: its module beside the TOML, workers that must find it."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from helpers import smoke_args

from suite import storage

CASES = ["tiny_mixer.scratch.digits", "tiny_mixer.finetune.digits", "tiny_mixer.tuned.digits"]
SAVED = "saved_conv.scratch.digits"  # a saved .keras backbone as the builder
ARCHS = """
[[arch]]
name = "tiny_mixer"
builder = "my_models.mixer:build"
preprocess = "unit"

[[arch]]
name = "saved_conv"
builder = "backbones/conv.keras"
preprocess = "tf"
"""


def suite_run(cwd, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "suite",
        "run",
        *args,
        "--profile",
        "smoke",
        "--formats",
        "none",
        "--device",
        "cpu",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=cwd)


def sha12(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def write_project(project, mixer: str) -> None:
    """``my_models/mixer.py``, ``backbones/conv.keras`` and ``cases.toml`` declaring both."""
    import keras

    (project / "my_models").mkdir(parents=True)
    (project / "my_models" / "__init__.py").write_text("")
    (project / "my_models" / "mixer.py").write_text(mixer)
    (project / "backbones").mkdir()
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv")(inputs)
    keras.Model(inputs, keras.layers.BatchNormalization(name="norm")(x)).save(project / "backbones" / "conv.keras")
    (project / "cases.toml").write_text(ARCHS)


@pytest.mark.slow
def test_user_architectures_run_every_kind_of_regime_and_a_changed_builder_runs_again(user_archs, tmp_path):
    project, elsewhere, results = tmp_path / "project", tmp_path / "elsewhere", tmp_path / "results"
    write_project(project, user_archs.mixer)
    elsewhere.mkdir()
    source, cases = project / "my_models" / "mixer.py", project / "cases.toml"
    args = [*CASES, SAVED, "--cases", str(cases), "--results", str(results)]

    # Run from another folder: only the TOML's folder holds my_models, so each worker must be told where it is.
    first = suite_run(elsewhere, *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    rows = storage.read_results(results)
    assert sorted(rows["case_id"]) == sorted([*CASES, SAVED]) and set(rows["status"]) == {"ok"}
    builders = dict(zip(rows["case_id"], zip(rows["arch_builder"], rows["arch_builder_hash"])))
    assert {builders[case] for case in CASES} == {("my_models.mixer:build", sha12(source))}
    conv = (project / "backbones" / "conv.keras").resolve()
    assert builders[SAVED] == (str(conv), sha12(conv))
    weights = dict(zip(rows["case_id"], rows["weights"]))
    assert [weights[case] for case in CASES] == ["none", "source:glyphs", "source:glyphs"]
    report = (results / "report.html").read_text()
    assert "tiny_mixer" in report and "saved_conv" in report

    digest = sha12(source)
    with source.open("a") as changed:
        changed.write("\n# a changed builder is a new case\n")
    rerun = suite_run(elsewhere, CASES[0], SAVED, "--cases", str(cases), "--results", str(results))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "1 of 2 job(s) already done" in rerun.stdout, "the unchanged saved backbone resumes as the same case"
    rows = storage.read_results(results)
    scratch = rows[rows["case_id"] == CASES[0]]
    assert len(rows) == 5 and len(set(scratch["case_key"])) == 2, "the changed builder does not"
    assert scratch["arch_builder_hash"].iloc[-1] == sha12(source) != digest


@pytest.mark.slow
def test_a_ray_task_registers_the_user_architecture_before_its_worker_builds_it(user_archs, tmp_path):
    ray = pytest.importorskip("ray", reason='Ray is the optional extra: pip install -e ".[ray]"')
    from suite.cli import main

    project, results = tmp_path / "project", tmp_path / "results"
    module = user_archs.module(project)  # importable only through the TOML's folder, which Ray workers don't know
    cases = user_archs.toml(project, "ray_mixer", f"{module}:build")
    args = smoke_args("ray_mixer.scratch.digits", results=results, more=["--cases", cases])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([*args, "--executor", "ray"]) == 0
    finally:
        ray.shutdown()
    (row,) = storage.read_results(results).to_dict("records")
    assert row["status"] == "ok" and row["arch_builder_hash"] == sha12(project / f"{module}.py")
