"""RunSettings: built once, resolved once, carried whole to a worker; and the code-shape rules of suite/."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from suite.errors import SuiteError
from suite.profiles import get_profile
from suite.registry import get_case
from suite.run.executors import local
from suite.run.jobs import Job
from suite.run.schedule import run_cases
from suite.run.settings import RunSettings, parse_duration

SUITE = Path(__file__).resolve().parent.parent / "suite"


def test_build_resolves_the_profiles_defaults_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = get_profile("quick")
    settings = RunSettings.build("quick", "r", first_seed=2)
    assert settings.profile == quick and settings.seeds == tuple(range(2, 2 + quick.seeds))
    assert settings.timeout_s == quick.case_timeout_s, "no --timeout: the profile's per-job timeout"
    assert settings.results_dir == tmp_path / "r" and settings.results_dir.is_absolute()
    assert RunSettings.build("quick", "r", seeds=3, timeout_s=60.0).seeds == (0, 1, 2)
    assert RunSettings.build("quick", "r", timeout_s=60.0).timeout_s == 60.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.device = "gpu"


def test_to_json_and_back_gives_an_equal_value(tmp_path):
    settings = RunSettings.build(
        get_profile("smoke"),
        tmp_path,
        seeds=2,
        first_seed=1,
        device="cpu",
        data_dir="/data",
        formats=("onnx", "litert_fp32"),
        force=True,
        executor="inline",
        budget_s=parse_duration("1h30m"),
    )
    assert RunSettings.from_json(settings.to_json()) == settings
    plain = RunSettings.build("smoke", tmp_path)
    assert RunSettings.from_json(plain.to_json()) == plain and plain.formats is None


def test_formats_for_is_the_one_rule_for_none_means_the_profiles(tmp_path):
    quick = get_profile("quick")
    deployed, other = get_case("simple_cnn.scratch.digits"), get_case("resnet50.scratch.digits")
    by_profile = RunSettings.build(quick, tmp_path)
    assert by_profile.formats_for(deployed) == quick.formats and by_profile.formats_for(other) == ()
    assert RunSettings.build(quick, tmp_path, formats=("onnx",)).formats_for(other) == ("onnx",)
    assert RunSettings.build(quick, tmp_path, formats=()).formats_for(deployed) == ()


def test_timed_seeds_are_the_runs_first_ones_and_zero_times_every_seed(tmp_path):
    quick = get_profile("quick")
    assert quick.measure.timed_seeds == 1 and quick.measure.lap_rounds > 0, "the lap times what later seeds skip"
    assert [RunSettings.build(quick, tmp_path).timed(s) for s in (0, 1, 2)] == [True, False, False]
    assert [RunSettings.build(quick, tmp_path, first_seed=3).timed(s) for s in (3, 4, 5)] == [True, False, False]
    every = dataclasses.replace(quick, measure=dataclasses.replace(quick.measure, timed_seeds=0))
    assert all(RunSettings.build(every, tmp_path).timed(s) for s in (0, 1, 2))
    two = dataclasses.replace(quick, measure=dataclasses.replace(quick.measure, timed_seeds=2))
    assert [RunSettings.build(two, tmp_path).timed(s) for s in (0, 1, 2)] == [True, True, False]


def test_the_worker_gets_the_settings_whole_and_the_device_its_executor_resolved(tmp_path, monkeypatch):
    """The job file carries ``to_json`` and nothing rebuilt from it: the worker reads it with ``from_json``."""
    seen = {}

    def spawn(spec: Path, log_path, on_event, timeout_s):
        seen.update(json.loads(spec.read_text()), timeout_s=timeout_s)
        return "Crashed: not started (test)"

    monkeypatch.setattr(local, "_spawn", spawn)
    settings = RunSettings.build("smoke", tmp_path, device="auto", timeout_s=7.0)
    (tmp_path / "errors").mkdir()
    (tmp_path / "logs").mkdir()
    job = Job(case=get_case("simple_cnn.scratch.digits"), seed=0, key="k")
    row = local.run_in_worker(job, settings, "cpu", lambda event: None)
    assert RunSettings.from_json(seen["settings"]) == settings
    assert seen["device"] == "cpu" and seen["timeout_s"] == 7.0
    assert row["status"] == "failed" and row["device"] == "cpu" and row["profile"] == "smoke"


def test_a_bad_duration_is_one_clear_error():
    assert parse_duration("1h30m") == 5400.0
    with pytest.raises(SuiteError, match="write it like 8h"):
        parse_duration("soon")


def test_run_cases_takes_the_settings_and_at_most_three_other_parameters():
    assert list(inspect.signature(run_cases).parameters) == ["cases", "settings", "after_row"]


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted(SUITE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((f"{path.relative_to(SUITE.parent)}:{node.lineno} {node.name}", node))
    return found


def test_no_function_in_suite_takes_more_than_six_parameters_or_runs_past_sixty_lines():
    """The house rules, checked on every function: self and cls don't count, *args and **kwargs count one each."""
    too_many, too_long = [], []
    for where, node in _functions():
        a = node.args
        names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
        names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
        if len(names) > 6:
            too_many.append(f"{where} ({len(names)})")
        if node.end_lineno - node.lineno + 1 > 60:
            too_long.append(where)
    assert not too_many, f"functions over 6 parameters: {too_many}"
    assert not too_long, f"functions over 60 lines: {too_long}"


def test_no_module_in_suite_is_over_400_lines():
    long = {
        str(p.relative_to(SUITE.parent)): n for p in SUITE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"modules over 400 lines: {long}"
