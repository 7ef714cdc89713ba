"""Under CI=true a skipped test fails (tests/conftest.py and benchmarks/conftest.py); elsewhere it stays a skip."""

from __future__ import annotations

import os
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

MODULE_SKIP = 'import pytest\n\npytest.importorskip("no_such_module_for_this_test", reason="an optional runtime")\n'


def run_pytest(tmp_path: Path, conftest: str, files: dict[str, str], ci: str | None) -> tuple[int, str]:
    folder = tmp_path / f"{Path(conftest).parent.name}-{ci}-{'-'.join(files)}"
    folder.mkdir()
    shutil.copy(ROOT / conftest, folder / "conftest.py")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(folder)]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
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
