"""``suite run --jobs 2`` against one job at a time: the whole run's training images per second, small networks.

Each network runs the same two jobs (two seeds of its scratch case on the whole digits split, 3 epochs, no
rate grid, no deployed formats) into a fresh folder twice: once with ``--jobs 1`` and once with ``--jobs 2``, in
alternating order across networks. A run's span is from the first job's first hold of the timing lock to the
last job's last (``DIR/logs/phases.jsonl``), so it counts what the night counts between jobs (a worker's
start-up, the wait for a timing) and leaves out what both runs share after them (the final lap, the report).
Both runs train the same images, so images per second over the span compare as the inverse of the spans.

Target (issue 29): at least 1.3x on the small networks, taken together. Each network's ratio is printed, and
``suite.run.parallel.SIDE_BY_SIDE_MAX_PARAMS`` keeps side by side only where it was measured to pay.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from suite import storage  # noqa: E402
from suite.cli import main  # noqa: E402
from suite.run import parallel, slots  # noqa: E402

MIN_GAIN = 1.3  # training images/s of the whole run, --jobs 2 over --jobs 1, the small networks together
# The suite's two networks. MobileNetV2 (2.3 M parameters) also trains side by side: 1.66x in one run of this
# benchmark with it (2026-12-07, AMD EPYC family 26 model 2, Zen 5: simple_cnn 2.12x, resnet_scratch 1.38x,
# together 1.61x), left out of CI for its 130 s.
NETWORKS = ("simple_cnn", "resnet_scratch")
# quick's training (the whole digits split, batch 64, 3 epochs, no grid) under smoke's short lap and serving, which
# the span leaves out anyway: with quick's own (a minute of serving per run) the benchmark took 324 s of CI.
BUDGET = ["--profile", "smoke", "--formats", "none", "--seeds", "2", "--device", "cpu"]
BUDGET += [f"--set={field}" for field in ("train_limit=0", "eval_limit=0", "epochs=3", "batch_size=64", "lr_grid=0")]


def _span(results: Path) -> tuple[float, float]:
    """(seconds from the first hold's start to the last hold's end, images trained) of a finished run."""
    holds = parallel.read_holds(results)
    frame = pd.read_csv(storage.results_path(results))
    assert (frame["status"] == "ok").all(), frame[["case_id", "status", "error"]]
    images = float((frame["train_images"] * frame["epochs"]).sum())
    return max(h["end"] for h in holds) - min(h["start"] for h in holds), images


def _run(network: str, jobs: int, folder: Path) -> tuple[float, float]:
    args = ["run", f"{network}.scratch.digits", "--results", str(folder), "--jobs", str(jobs)]
    assert main([*args, *BUDGET]) == 0
    return _span(folder)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="side by side needs two cores")
def test_two_jobs_side_by_side_train_more_images_per_second_than_one_at_a_time(tmp_path):
    assert all(slots.params_of(n) is not None for n in NETWORKS), "the small networks' sizes ship with the suite"
    seconds = {1: 0.0, 2: 0.0}
    for index, network in enumerate(NETWORKS):
        order = (1, 2) if index % 2 == 0 else (2, 1)
        spans = {}
        for jobs in order:
            started = time.perf_counter()
            spans[jobs], images = _run(network, jobs, tmp_path / f"{network}-{jobs}")
            print(
                f"{network} --jobs {jobs}: {images / spans[jobs]:.0f} training images/s over {spans[jobs]:.1f} s "
                f"of jobs ({time.perf_counter() - started:.0f} s with the lap and report)"
            )
            seconds[jobs] += spans[jobs]
        print(f"{network}: --jobs 2 trains {spans[1] / spans[2]:.2f}x the images per second of --jobs 1")
    gain = seconds[1] / seconds[2]
    print(f"small networks together: {gain:.2f}x")
    assert gain >= MIN_GAIN
