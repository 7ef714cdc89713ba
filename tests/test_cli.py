"""The command line: one line and exit code 2 for bad input, never a traceback."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from suite.cli import build_parser, main


def suite(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_list_prints_one_id_per_line(capsys):
    assert main(["list", "mobilenet_v2.*.digits"]) == 0
    lines = capsys.readouterr().out.split()
    assert lines == [
        "mobilenet_v2.finetune.digits",
        "mobilenet_v2.freeze25.digits",
        "mobilenet_v2.freeze50.digits",
        "mobilenet_v2.freeze75.digits",
        "mobilenet_v2.frozen.digits",
        "mobilenet_v2.scratch.digits",
        "mobilenet_v2.tuned.digits",
    ]


def test_list_includes_user_cases(tmp_path, capsys):
    path = tmp_path / "cases.toml"
    path.write_text('[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nid = "mine.one"\n')
    assert main(["list", "mine.*", "--cases", str(path)]) == 0
    assert capsys.readouterr().out.split() == ["mine.one"]


def test_a_toml_case_with_a_builtin_id_replaces_it_for_one_command(tmp_path):
    from suite.registry import get_case, list_cases
    from suite.selection import user_cases

    body = '[[case]]\narch = "hub_mobilenet_v2"\nregime = "frozen"\ndataset = "digits"\nhandle = "/models/mine"\n'
    before = list_cases()
    with user_cases(write_toml(tmp_path, body)) as cases:
        assert [c.id for c in cases] == ["hub_mobilenet_v2.frozen.digits"]
        assert get_case("hub_mobilenet_v2.frozen.digits").handle == "/models/mine"
        assert list_cases() == before
    assert get_case("hub_mobilenet_v2.frozen.digits").handle == ""  # the built-in case is back
    assert list_cases() == before


def write_toml(tmp_path, body: str) -> str:
    path = tmp_path / "cases.toml"
    path.write_text(body)
    return str(path)


def test_run_tune_and_the_benchmarks_resolve_cases_one_way(tmp_path):
    """Patterns, the TOML file (its fields win over the profile), --set, --strategy and the latency budget."""
    from suite.profiles import get_profile
    from suite.registry import get_case, list_cases
    from suite.selection import resolve_cases

    smoke = get_profile("smoke")
    toml = write_toml(tmp_path, '[[case]]\narch = "simple_cnn"\nregime = "tuned"\ndataset = "digits"\nepochs = 4\n')
    cases = resolve_cases(
        ["simple_cnn.*.digits"],
        profile=smoke,
        cases_file=toml,
        settings=["dropout=0.25"],
        strategy="mirrored",
        latency_budget_ms=5.0,
    )
    by_id = {case.id: case for case in cases}
    assert sorted(by_id) == list_cases("simple_cnn.*.digits")  # the file's case in place of the built-in one
    tuned, scratch = by_id["simple_cnn.tuned.digits"], by_id["simple_cnn.scratch.digits"]
    assert (tuned.epochs, tuned.train_limit, tuned.trials) == (4, 128, 3)  # the file's field, the profile's others
    assert scratch.epochs == 1 and get_case("simple_cnn.tuned.digits").epochs == 10  # the built-in is back
    assert {(c.dropout, c.strategy) for c in cases} == {(0.25, "mirrored")}
    assert (tuned.latency_budget_ms, scratch.latency_budget_ms) == (5.0, 0.0)  # only tuned cases search
    assert [c.id for c in resolve_cases(profile=smoke, cases_file=toml)] == ["simple_cnn.tuned.digits"]
    assert {c.id for c in resolve_cases(profile=smoke)} == set(select_ids(smoke))


def select_ids(profile) -> list[str]:
    from suite.registry import select_cases

    return [c.id for c in select_cases(*profile.patterns, exclude=profile.exclude)]


def test_tune_takes_set_as_run_does(capsys):
    assert main(["tune", "simple_cnn.tuned.digits", "--profile", "smoke", "--set", "dropout=1.5"]) == 2
    assert "dropout is out of range. Received: dropout=1.5" in capsys.readouterr().err
    assert main(["tune", "simple_cnn.*.digits", "--profile", "smoke"]) == 2
    assert "suite tune searches one case; 'simple_cnn.*.digits' matches 7" in capsys.readouterr().err


def test_profile_choices_and_help_come_from_profiles(monkeypatch, capsys):
    """Bug 5: a profile added to PROFILES is one `suite run` and `suite tune` accept, and their help describes."""
    from suite.profiles import PROFILES

    added = dataclasses.replace(PROFILES["smoke"], name="nightly", summary="the smoke cases, added by a test")
    monkeypatch.setitem(PROFILES, "nightly", added)
    parser = build_parser()
    assert parser.parse_args(["run", "--profile", "nightly"]).profile == "nightly"
    assert parser.parse_args(["tune", "simple_cnn.tuned.digits", "--profile", "nightly"]).profile == "nightly"
    assert main(["tune", "simple_cnn.scratch.digits", "--profile", "nightly"]) == 2  # parsed, then refused
    assert "regime tuned" in capsys.readouterr().err
    for command in ("run", "tune"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "nightly: the smoke cases, added by a test." in text
        assert "minutes" not in text  # no time claim that no measurement keeps true


@pytest.mark.parametrize(
    "args, message",
    [
        (["list", "nope*"], "no case matches 'nope*'"),
        (
            ["run", "--profile", "weekend"],
            "invalid choice: 'weekend' (choose from 'smoke', 'quick', 'seed', 'mobile', 'overnight', "
            "'label-efficiency')",
        ),
        (["run", "--device", "tpu"], "invalid choice: 'tpu'"),
        (["run", "--seeds", "0", "simple_cnn.scratch.digits"], "--seeds must be at least 1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["report", "/nonexistent/results"], "no results.csv in /nonexistent/results"),
        (["prepare", "digits"], "only tfds datasets need preparing"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(args)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_toml_and_datasets_exit_2_in_a_real_process(tmp_path):
    cases = [
        (
            write_toml(tmp_path, '[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "digits"\nepochz = 1\n'),
            "unknown key 'epochz'",
        ),
    ]
    for path, message in cases:
        result = suite("run", "--cases", path, "--results", str(tmp_path / "r"))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    missing = tmp_path / "no-such-folder"
    body = f'[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "folder:{missing}"\n'
    result = suite("run", "--cases", write_toml(tmp_path, body), "--results", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"suite run: error: dataset folder {missing} does not exist"]
    result = suite(
        "run", "simple_cnn.scratch.cifar10", "--data-dir", str(tmp_path / "tfds"), "--results", str(tmp_path / "r")
    )
    # TensorFlow 2.21 prints its own C++ start-up lines to stderr whatever TF_CPP_MIN_LOG_LEVEL says;
    # ours is the one line that starts with "suite".
    ours = [line for line in result.stderr.splitlines() if line.startswith("suite")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(ours) == 1 and "suite prepare cifar10" in ours[0]


def test_python_m_suite_and_help_work():
    result = suite("run", "--help")
    assert result.returncode == 0 and "--profile" in result.stdout and "--cases FILE" in result.stdout
    # benchmarks/gpu_check.sh starts the suite as `python -m suite.cli`: the package must run as a module too.
    as_cli = subprocess.run([sys.executable, "-m", "suite.cli", "list", "simple_cnn.scratch.digits"], **QUIET)
    assert as_cli.returncode == 0 and as_cli.stdout.split() == ["simple_cnn.scratch.digits"], as_cli.stderr


QUIET = dict(capture_output=True, text=True, timeout=300)


def test_the_cli_starts_without_tensorflow_so_help_and_bad_input_answer_at_once():
    """Every subcommand's module is imported by ``suite --help``; none may start TensorFlow (a cli module that
    needs it imports it inside its command, after the cheap checks)."""
    probe = "import sys, suite.cli; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
