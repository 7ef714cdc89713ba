"""The accuracy and latency-p90 gate as pytest tests: one test per case, device and figure (see ``suite.gate``).

    pytest benchmarks/test_gate.py --baseline results/main --candidate results/branch [--gate-thresholds FILE]

Without ``--baseline`` and ``--candidate`` the tests are deselected (``conftest.py``),
so ``pytest benchmarks`` passes under CI=true, where a skip fails; one of the two
alone is a usage error. ``suite gate BASELINE CANDIDATE`` is the same check as a
command. ``.ci/run`` runs it for real: a copy of a results folder passes, and a
copy whose accuracy was edited down fails.
"""

from __future__ import annotations


def pytest_generate_tests(metafunc):
    if "check" not in metafunc.fixturenames:
        return
    baseline, candidate = metafunc.config.getoption("baseline"), metafunc.config.getoption("candidate")
    if not (baseline and candidate):
        metafunc.parametrize("check", [None], ids=["no-baseline-given"])  # deselected by conftest.py
        return
    from suite.gate import gate

    checks, _ = gate(
        baseline, candidate, metafunc.config.getoption("gate_thresholds"), metafunc.config.getoption("gate_force")
    )
    ids = ["-".join(filter(None, (c.case_id, c.device, c.figure))) for c in checks]
    metafunc.parametrize("check", checks, ids=ids)


def test_case_has_not_regressed(check):
    assert check is not None, "pass --baseline DIR and --candidate DIR to gate one results folder against another"
    assert check.passed, check.message()
