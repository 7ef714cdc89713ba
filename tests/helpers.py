"""Helpers the test modules share (importable as ``helpers``: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """What the CLI wrote to stderr, asserted to be one line and no traceback (bad input's promise)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def smoke_args(*cases: str, results: Path | str, more: Sequence[str] = ()) -> list[str]:
    """``suite run CASES --profile smoke --formats none --results RESULTS MORE``: the CLI call most tests make."""
    return ["run", *cases, "--profile", "smoke", "--formats", "none", "--results", str(results), *more]


def result_row(case_id: str, accuracy: float, *, seed: int = 0, latency: float = 1.0, **extra) -> dict:
    """An ok results.csv row of ``case_id`` (``arch.regime.dataset``) on a CPU, with ``extra`` columns."""
    arch, regime, dataset = case_id.split(".")
    return dict(
        case_id=case_id,
        arch=arch,
        regime=regime,
        dataset=dataset,
        seed=seed,
        status="ok",
        test_accuracy=accuracy,
        latency_p50_ms=latency,
        throughput_ips=latency and 1000 / latency,
        params=1000,
        device="cpu",
        device_name="cpu: test x2",
        **extra,
    )
