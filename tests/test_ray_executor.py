"""The ray executor: jobs as Ray tasks on a local 2-CPU Ray, rows that match the local executor's but for timings.

Skipped, with the reason, where Ray (the optional extra ``.[ray]``) isn't installed.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from helpers import one_error_line, smoke_args

from suite import storage
from suite.cli import main

CASES = ["simple_cnn.scratch.digits", "simple_cnn.frozen.digits"]
# What a row is about and what it trained: identical whichever executor ran it.
SAME = [
    "case_id",
    "seed",
    "status",
    "case_key",
    "case_json",
    "weights",
    "fingerprint",
    "device",
    "strategy",
    "replicas",
    "params",
    "trainable_params",
    "epochs",
    "train_images",
    "test_images",
    "image_size",
    "batch_size",
    "learning_rate",
]


def test_without_ray_the_executor_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    args = smoke_args("simple_cnn.scratch.digits", results=tmp_path)
    assert main([*args, "--executor", "ray"]) == 2
    assert 'pip install -e ".[ray]"' in one_error_line(capsys)
    assert main([*args, "--address", "auto"]) == 2
    assert "--address is the Ray cluster of --executor ray. Received: --executor local" in one_error_line(capsys)
    assert not (tmp_path / "results.csv").exists()


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance with 2 CPUs in this process; ``suite run --executor ray`` uses it as it is."""
    ray = pytest.importorskip("ray", reason='Ray is the optional extra: pip install -e ".[ray]"')
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _run(results, executor: str, *more: str) -> int:
    args = smoke_args(*CASES, results=results, more=["--seeds", "1", "--executor", executor])
    return main([*args, *more])


def test_ray_rows_match_the_local_executors_but_for_timings(local_ray, tmp_path):
    assert _run(tmp_path / "local", "local") == 0
    assert _run(tmp_path / "ray", "ray") == 0
    order = ["case_id", "seed"]
    local = storage.read_results(tmp_path / "local").sort_values(order, ignore_index=True)
    ray = storage.read_results(tmp_path / "ray").sort_values(order, ignore_index=True)
    assert len(ray) == len(CASES) and set(ray["status"]) == {"ok"}
    pd.testing.assert_frame_equal(ray[SAME], local[SAME])
    # CPU training is not bit-for-bit repeatable (two local runs differ too): accuracy is close, not equal.
    assert (ray["val_accuracy"] - local["val_accuracy"]).abs().max() <= 0.1
    for case_id, seed in zip(ray["case_id"], ray["seed"]):
        for folder, suffix in (("models", ".keras"), ("history", ".csv"), ("latency", ".csv"), ("logs", ".log")):
            assert storage.case_file(tmp_path / "ray", folder, case_id, seed, suffix).is_file()
        ran, reference = (
            pd.read_csv(storage.case_file(tmp_path / run, "history", case_id, seed, ".csv")) for run in ("ray", "local")
        )
        assert ran[["phase", "epoch"]].equals(reference[["phase", "epoch"]])
    # Resumable like the local store: a rerun finds every job done and runs none.
    assert _run(tmp_path / "ray", "ray") == 0
    assert len(storage.read_results(tmp_path / "ray")) == len(CASES)


def test_a_ray_job_past_its_timeout_is_a_failed_row_like_a_local_one(local_ray, tmp_path):
    assert _run(tmp_path, "ray", "--timeout", "1s") == 1
    rows = storage.read_results(tmp_path)
    assert len(rows) == len(CASES) and set(rows["status"]) == {"failed"}
    assert rows["error"].str.startswith("Timeout: no result after 1 s").all()
    assert rows["case_key"].ne("").all()


def test_an_address_where_no_ray_head_answers_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray", reason='Ray is the optional extra: pip install -e ".[ray]"')
    args = smoke_args("simple_cnn.scratch.digits", results=tmp_path)
    assert main([*args, "--executor", "ray", "--address", "127.0.0.1:1"]) == 2
    assert "--address 127.0.0.1:1: no Ray head answers there" in one_error_line(capsys)
    assert len(storage.read_results(tmp_path)) == 0
