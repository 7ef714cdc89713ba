"""``results.csv``: one row per case and seed, the table ``suite run`` appends and every report reads.

Its columns are documented in ``results/README.md``; ``suite.storage.table`` holds the rules it is written by.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.environment import FINGERPRINT_FIELDS
from suite.errors import SuiteError
from suite.storage.table import Table

COLUMNS = [
    # identity
    "case_id",
    "arch",
    "regime",
    "dataset",
    "weights",
    "seed",
    "profile",
    "status",
    "error",
    "case_key",
    "arch_builder",
    "arch_builder_hash",
    # training
    "epochs",
    "train_seconds",
    "train_images_per_s",
    "train_jit_compile",
    "train_jit_speedup",
    "train_jit_note",
    "time_to_target_s",
    "target_accuracy",
    "train_images",
    "train_per_class",
    "strategy",
    "replicas",
    "source_pretrain_seconds",
    "source_accuracy",
    # search (regime tuned; suite.tuning)
    "tuner",
    "tuner_trials",
    "tuner_search_seconds",
    "tuner_best_json",
    "tuner_latency_budget_ms",
    # accuracy
    "val_accuracy",
    "test_accuracy",
    "test_images",
    # model
    "params",
    "trainable_params",
    "gflops_per_image",
    "model_mb",
    "checkpoint_mb",
    "image_size",
    "batch_size",
    "train_oom_batch",
    "optimizer",
    "learning_rate",
    "learning_rate_seed",
    # speed, float32; each figure from the faster execution mode (xla: latency's, throughput_xla: throughput's)
    "xla",
    "precision",
    "xla_speedup",
    "latency_p50_ms",
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "latency_p90_ms",
    "latency_p90_ci_low_ms",
    "latency_p90_ci_high_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_n",
    "throughput_ips",
    "throughput_batch",
    "throughput_xla",
    "throughput_oom_batch",
    "achieved_gflops",
    "peak_gflops",
    "theoretical_gflops",
    "roofline_fraction",
    "peak_rss_mb",
    "peak_gpu_mb",
    "measure_seconds",
    # deployment (formats.csv): the fastest format at batch 1 within 1 point of Keras' accuracy
    "best_format",
    "best_format_latency_p50_ms",
    # where and when: the machine fingerprint and what it hashes
    "device",
    "device_name",
    "fingerprint",
    *FINGERPRINT_FIELDS,
    "python_version",
    "suite_version",
    "git_commit",
    "hostname",
    "platform",
    "started_at",
    "finished_at",
    "case_seconds",
    "job_threads",
    "case_json",
]
# Read as text even when a value looks like a number (a hex digest of digits only, a version "12.0").
TEXT_COLUMNS = (
    *FINGERPRINT_FIELDS,
    "fingerprint",
    "case_key",
    "arch_builder",
    "arch_builder_hash",
    "git_commit",
    "python_version",
    "suite_version",
)
RESULTS = Table(
    file="results.csv", columns=tuple(COLUMNS), keys=("case_key", "seed"), text_columns=TEXT_COLUMNS, row_name="row"
)
RESULTS_FILE = RESULTS.file


def results_path(results_dir: Path) -> Path:
    return RESULTS.path(results_dir)


def append_row(results_dir: Path, row: dict) -> None:
    """Appends one ``results.csv`` row in a single write; unknown keys are an error, missing ones stay empty."""
    RESULTS.append(results_dir, row)


def read_results(results_dir: Path) -> pd.DataFrame:
    """Every stored row of ``results_dir`` as a DataFrame (empty, with the columns, if none)."""
    if not results_path(results_dir).is_file():
        raise SuiteError(f"no {RESULTS_FILE} in {results_dir}; run `suite run --results {results_dir}` first")
    return RESULTS.read(results_dir)
