"""Options, case selection and the summary table of the pytest-benchmark gates.

pytest benchmarks                                   models built fresh for the smoke profile's cases
pytest benchmarks --suite-results DIR               the trained models of a results folder
pytest benchmarks --suite-profile quick -k resnet   another profile's cases, narrowed with -k
pytest benchmarks/test_gate.py --baseline A --candidate B [--gate-thresholds FILE]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_ci_plugin() -> ModuleType:
    """tests/_ci_plugin.py, loaded by its path (tests/ is not on sys.path here); the one module if tests/ loaded it."""
    if "_ci_plugin" in sys.modules:
        return sys.modules["_ci_plugin"]
    path = Path(__file__).resolve().parents[1] / "tests" / "_ci_plugin.py"
    spec = importlib.util.spec_from_file_location("_ci_plugin", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ci_plugin"] = module
    spec.loader.exec_module(module)
    return module


# Under CI=true a test that doesn't run is a failure unless allow-listed (tests/_ci_plugin.py); these names
# make the plugin's hooks this conftest's, which registers them.
_CI_PLUGIN = load_ci_plugin()
pytest_configure = _CI_PLUGIN.pytest_configure
pytest_runtest_makereport = _CI_PLUGIN.pytest_runtest_makereport
pytest_make_collect_report = _CI_PLUGIN.pytest_make_collect_report

SIDE_BY_SIDE: list[dict] = []
GATE_DESELECTED: list[int] = []


def pytest_addoption(parser):
    group = parser.getgroup("suite", "keras classifier suite")
    group.addoption("--suite-results", metavar="DIR", help="benchmark the ok cases' trained models from DIR")
    group.addoption(
        "--suite-profile", default="smoke", metavar="NAME", help="without --suite-results: the profile's cases"
    )
    group.addoption("--baseline", metavar="DIR", help="test_gate.py: the reference results folder")
    group.addoption("--candidate", metavar="DIR", help="test_gate.py: the results folder under test")
    group.addoption("--gate-thresholds", metavar="FILE", help="test_gate.py: thresholds TOML (see suite.gate)")
    group.addoption("--gate-force", action="store_true", help="test_gate.py: allow different machine fingerprints")


def pytest_collection_modifyitems(config, items):
    """Without --baseline and --candidate the gate has nothing to compare: its tests are deselected, not skipped.

    A skip would fail ``pytest benchmarks`` under CI=true, and a run without folders is not a failed gate.
    One of the two without the other is a usage error.
    """
    baseline, candidate = config.getoption("baseline"), config.getoption("candidate")
    if bool(baseline) != bool(candidate):
        raise pytest.UsageError("test_gate.py needs both --baseline DIR and --candidate DIR, or neither")
    if baseline:
        return
    gate = [item for item in items if item.path.name == "test_gate.py"]
    if gate:
        config.hook.pytest_deselected(items=gate)
        items[:] = [item for item in items if item.path.name != "test_gate.py"]
        GATE_DESELECTED.append(len(gate))


@pytest.fixture
def side_by_side() -> list[dict]:
    """Rows for the table printed after the run (images/s; the ratios are suite row and interleaved over plain)."""
    return SIDE_BY_SIDE


def pytest_terminal_summary(terminalreporter):
    if GATE_DESELECTED:
        terminalreporter.write_line(
            "test_gate.py deselected: pass --baseline DIR and --candidate DIR to gate one results folder"
        )
    if not SIDE_BY_SIDE:
        return
    terminalreporter.section("throughput: suite protocol against a plain compiled loop (same .keras, same batch)")
    terminalreporter.write_line(
        f"{'arch':<16}{'batch':>6}{'suite row':>11}{'interleaved':>13}{'plain loop':>12}{'ratio':>7}{'ratio':>7}  mode"
    )
    for row in SIDE_BY_SIDE:
        mode = "xla" if row["suite_xla"] else "graph"
        terminalreporter.write_line(
            f"{row['arch']:<16}{row['batch']:>6}{row['suite_ips']:>11.1f}{row['interleaved_ips']:>13.1f}"
            f"{row['plain_ips']:>12.1f}{row['ratio']:>7.3f}{row['interleaved_ratio']:>7.3f}  {mode}"
        )
