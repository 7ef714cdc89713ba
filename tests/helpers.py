"""Helpers the test modules share (importable as ``helpers``: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def without_lap_or_serving(profile: str = "quick") -> Iterator[None]:
    """``profile`` with no final lap and no serving while the block runs, for tests of training and accuracy.

    What a run times after its jobs is tested on its own (``test_lap``, ``test_serve_step``, the smoke runs); in
    quick, the three-process lap and a minute of serving would add about 35 s to each such test's run. Both run in
    the ``suite run`` process, which reads the profile here.
    """
    from suite import profiles

    chosen = profiles.PROFILES[profile]
    lean = dataclasses.replace(
        chosen,
        measure=dataclasses.replace(chosen.measure, lap_rounds=0),
        serve=dataclasses.replace(chosen.serve, scope="off"),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(profiles.PROFILES, profile, lean)
        yield


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
