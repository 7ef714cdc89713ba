"""Pytest hooks shared by ``tests/conftest.py`` and ``benchmarks/conftest.py``: under CI=true a skip fails.

A skip (a missing extra, Chromium, a runtime) or an xfail that never ran would otherwise let CI pass
without the test. The conftests import the two hooks, which registers them.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def fail_skips_in_ci(report) -> None:
    """Turns a skipped report into a failed one, under CI=true, keeping the reason. Defaults to no change.

    An xfail that ran and failed stays xfailed (a known failure, declared and checked); one that passed
    (``XPASS``) or was never run (``run=False``) fails, since it tests nothing.
    """
    if not in_ci():
        return
    if hasattr(report, "wasxfail"):
        if report.skipped and "[NOTRUN]" not in report.wasxfail:
            return  # xfailed: it ran and failed as declared
        reason = f"xfail {'not run' if report.skipped else 'passed'}: {report.wasxfail}"
        del report.wasxfail
    elif report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
    else:
        return
    report.outcome = "failed"
    report.longrepr = f"CI=true: a test that does not run fails CI. {reason}"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    fail_skips_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_make_collect_report(collector):
    outcome = yield
    fail_skips_in_ci(outcome.get_result())
