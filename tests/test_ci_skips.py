"""Under CI=true a skipped test fails unless allow-listed (tests/_ci_plugin.py, registered by tests/conftest.py and
benchmarks/conftest.py); elsewhere it stays a skip."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

OUTCOMES = """
import pytest


@pytest.fixture
def seeded():
    yield  # tests/conftest.py's autouse fixture imports Keras, which these tests don't need


def test_passes():
    pass


def test_skips():
    pytest.skip("no widget on this machine")


@pytest.mark.skipif(True, reason="marked away")
def test_marked_skip():
    pass


@pytest.mark.xfail(reason="a known bug")
def test_xfails():
    assert False


@pytest.mark.xfail(reason="a stale marker")
def test_xpasses():
    pass


@pytest.mark.xfail(run=False, reason="would hang")
def test_never_runs():
    pass
"""

ALLOWED = """
import pytest


@pytest.fixture
def seeded():
    yield


@pytest.mark.allowed_skip(reason="a GPU machine can't provoke the no-GPU error")
def test_allowed():
    pytest.skip("this machine has a GPU")


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("gpu", marks=pytest.mark.allowed_skip(reason="only this parameter may skip"))],
)
def test_one_parameter_allowed(device):
    pytest.skip(f"no {device} here")


@pytest.mark.allowed_skip(reason="  ")
def test_allowed_without_a_reason():
    pytest.skip("a blank allowance")
"""

MODULE_SKIP = 'import pytest\n\npytest.importorskip("no_such_module_for_this_test", reason="an optional runtime")\n'


def run_pytest(tmp_path: Path, conftest: str, files: dict[str, str], ci: str | None, *options: str) -> tuple[int, str]:
    """Runs pytest on ``files`` next to a copy of ``conftest``, in a copy of the repository's layout (the
    conftest finds tests/_ci_plugin.py where it is in the repository)."""
    root = tmp_path / f"{Path(conftest).parent.name}-{ci}-{'-'.join(files)}"
    folder = root / Path(conftest).parent
    folder.mkdir(parents=True)
    (root / "tests").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tests" / "_ci_plugin.py", root / "tests" / "_ci_plugin.py")
    shutil.copy(ROOT / conftest, folder / "conftest.py")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-rA",
        "--strict-markers",
        "-p",
        "no:cacheprovider",
        *options,
        str(folder),
    ]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def summary(output: str) -> set[str]:
    """The short test summary's lines, each as 'OUTCOME test_name'."""
    lines = output.split("short test summary info", 1)[-1].splitlines()
    found = set()
    for line in lines:
        word, _, rest = line.partition(" ")
        if word in {"PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"}:
            name = rest.split("::")[-1].split(" ")[0] if "::" in rest else rest.split(" ")[-1]
            found.add(f"{word} {name}")
    return found


def verbose_outcomes(output: str) -> set[str]:
    """The ``-v`` lines' outcomes, each as 'OUTCOME test_name' (a skip's summary line names no test)."""
    found = re.findall(r"::(\S+) (PASSED|FAILED|SKIPPED|ERROR)\b", output)
    return {f"{word} {name}" for name, word in found}


def test_outside_ci_a_skip_stays_a_skip(tmp_path):
    files = {"test_outcomes": OUTCOMES, "test_gone": MODULE_SKIP}
    code, output = run_pytest(tmp_path, "tests/conftest.py", files, None)
    assert code == 0, output
    assert "1 passed, 3 skipped, 2 xfailed, 1 xpassed" in output, output


@pytest.mark.parametrize("conftest", ["tests/conftest.py", "benchmarks/conftest.py"])
def test_under_ci_a_skip_fails_with_its_reason_and_a_real_xfail_stays(tmp_path, conftest):
    code, output = run_pytest(tmp_path, conftest, {"test_outcomes": OUTCOMES}, "true")
    assert code == 1, output
    assert "CI=true: a test that does not run fails CI. no widget on this machine" in output
    assert "CI=true: a test that does not run fails CI. marked away" in output
    assert "xfail passed: a stale marker" in output and "xfail not run: [NOTRUN] would hang" in output
    # skipif and run=False act before the test body, so they report as setup errors
    assert summary(output) >= {
        "PASSED test_passes",
        "FAILED test_skips",
        "ERROR test_marked_skip",
        "XFAIL test_xfails",
        "FAILED test_xpasses",
        "ERROR test_never_runs",
    }, output
    assert "SKIPPED" not in output and "XPASS" not in output


def test_under_ci_a_module_skipped_at_import_is_a_collection_error(tmp_path):
    code, output = run_pytest(tmp_path, "tests/conftest.py", {"test_gone": MODULE_SKIP}, "true")
    assert code != 0 and "CI=true: a test that does not run fails CI. an optional runtime" in output, output


@pytest.mark.parametrize("conftest", ["tests/conftest.py", "benchmarks/conftest.py"])
def test_under_ci_only_an_allowed_skip_with_a_reason_stays_a_skip(tmp_path, conftest):
    code, output = run_pytest(tmp_path, conftest, {"test_allowed": ALLOWED}, "true", "-v")
    assert code == 1, output
    assert verbose_outcomes(output) == {
        "SKIPPED test_allowed",
        "FAILED test_one_parameter_allowed[cpu]",
        "SKIPPED test_one_parameter_allowed[gpu]",
        "FAILED test_allowed_without_a_reason",
    }, output
    assert "this machine has a GPU (allowed in CI: a GPU machine can't provoke the no-GPU error)" in output
    assert "CI=true: a test that does not run fails CI. no cpu here" in output
    assert "a blank allowance (its allowed_skip marker gives no reason, so it does not count)" in output
    assert "2 failed, 2 skipped" in output, output


def test_the_installed_package_has_no_ci_plugin():
    """The hooks live in tests/, so ``suite`` installs without pytest."""
    assert not (ROOT / "suite" / "_pytest_ci.py").exists()
    assert (ROOT / "tests" / "_ci_plugin.py").is_file()
