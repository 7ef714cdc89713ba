"""The accuracy and latency-p90 gate as pytest tests: one test per case and figure (see ``suite.gate``).

    pytest benchmarks/test_gate.py --baseline results/main --candidate results/branch [--gate-thresholds FILE]

Without ``--baseline`` and ``--candidate`` the tests are skipped. ``suite gate
BASELINE CANDIDATE`` is the same check as a command.
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc):
    if "check" not in metafunc.fixturenames:
        return
    baseline, candidate = metafunc.config.getoption("baseline"), metafunc.config.getoption("candidate")
    if not (baseline and candidate):
        metafunc.parametrize("check", [None], ids=["no-baseline-given"])
        return
    from suite.gate import gate

    checks, _ = gate(
        baseline, candidate, metafunc.config.getoption("gate_thresholds"), metafunc.config.getoption("gate_force")
    )
    metafunc.parametrize("check", checks, ids=[f"{c.case_id}-{c.figure}" for c in checks])


def test_case_has_not_regressed(check):
    if check is None:
        pytest.skip("pass --baseline DIR and --candidate DIR to gate one results folder against another")
    assert check.passed, check.message()
