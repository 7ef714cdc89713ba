"""Pytest hooks shared by ``tests/conftest.py`` and ``benchmarks/conftest.py``: under CI=true a skip fails.

A skip (a missing extra, Chromium, a runtime) or an xfail that never ran would otherwise let CI pass
without the test. The only skips CI accepts are the allow-listed ones: a test (or one ``pytest.param``)
marked ``@pytest.mark.allowed_skip(reason=...)``, the reason saying why the skip is right on some CI
machine (a GPU runner can't provoke the no-GPU error). The conftests re-export the hooks, which registers
them. This module lives in tests/, not in the installed ``suite`` package, so that ``suite`` never imports pytest.
"""

from __future__ import annotations

import os

import pytest

ALLOWED_SKIP = "allowed_skip"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def allowance(item: pytest.Item | None) -> str | None:
    """The reason of ``item``'s ``allowed_skip`` marker; ``None`` without one, ``""`` for one that gives none."""
    marker = item.get_closest_marker(ALLOWED_SKIP) if item is not None else None
    if marker is None:
        return None
    reason = marker.kwargs.get("reason", marker.args[0] if marker.args else "")
    return str(reason).strip()


def skip_reason(longrepr) -> str:
    """A skip's reason without pytest's ``Skipped: `` prefix."""
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def fail_skips_in_ci(report, allowed: str | None = None) -> None:
    """Turns a skipped report into a failed one, under CI=true, keeping the reason. Defaults to no change.

    An xfail that ran and failed stays xfailed (a known failure, declared and checked); one that passed
    (``XPASS``) or was never run (``run=False``) fails, since it tests nothing. ``allowed``: the reason of
    the test's ``allowed_skip`` marker; with a non-empty one a plain skip stays a skip, its line saying why.
    """
    if not in_ci():
        return
    if hasattr(report, "wasxfail"):
        if report.skipped and "[NOTRUN]" not in report.wasxfail:
            return  # xfailed: it ran and failed as declared
        reason = f"xfail {'not run' if report.skipped else 'passed'}: {report.wasxfail}"
        del report.wasxfail
    elif report.skipped:
        reason = skip_reason(report.longrepr)
        if allowed:
            if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                path, line, _ = report.longrepr
                report.longrepr = (path, line, f"{reason} (allowed in CI: {allowed})")
            return
        if allowed is not None:
            reason += f" (its {ALLOWED_SKIP} marker gives no reason, so it does not count)"
    else:
        return
    report.outcome = "failed"
    report.longrepr = f"CI=true: a test that does not run fails CI. {reason}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ALLOWED_SKIP}(reason): under CI=true this test's skip stays a skip; reason says why that skip is right",
    )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    fail_skips_in_ci(outcome.get_result(), allowance(item))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_make_collect_report(collector):
    outcome = yield
    fail_skips_in_ci(outcome.get_result())
