"""The measurement protocol: statistics, OOM halving, FLOP and parameter counts, precision copies, fingerprints."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from suite.environment import environment, require_one_fingerprint
from suite.errors import SuiteError
from suite.measure import measure_inference, model_facts, timing
from suite.models import build_backbone, build_classifier
from suite.profiles import MeasureBudget
from suite.report import summarise
from suite.train import steady_steps

# Published counts (REFERENCE.md): keras.applications with the 1000-class top;
# GFLOPs from TF's profiler on the frozen graph, multiply and add counted apart.
REFERENCE = {
    "ResNet50": (keras.applications.ResNet50, 224, 25_636_712, 7.76),
    "InceptionV3": (keras.applications.InceptionV3, 299, 23_851_784, 11.47),
    "MobileNetV2": (keras.applications.MobileNetV2, 224, 3_538_984, 0.615),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_imagenet_shaped_models_match_the_published_parameter_and_flop_counts(name):
    build, side, params, gflops = REFERENCE[name]
    model = build(weights=None)
    assert model.count_params() == params
    assert model_facts.flops_per_image(model, side) / 1e9 == pytest.approx(gflops, rel=0.005)


def test_flops_of_a_single_matmul_are_exact():
    inputs = keras.Input((2, 2, 3))
    outputs = keras.layers.Dense(5, use_bias=False)(keras.layers.Flatten()(inputs))
    assert model_facts.flops_per_image(keras.Model(inputs, outputs), 2) == 2 * 12 * 5


def test_bootstrap_interval_brackets_the_median_and_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    few, many = rng.lognormal(0, 0.3, 30), rng.lognormal(0, 0.3, 3000)
    low, high = timing.bootstrap_ci(few)
    assert low <= np.median(few) <= high
    wide, narrow = high - low, np.subtract(*timing.bootstrap_ci(many)[::-1])
    assert 0 < narrow < wide / 3
    assert timing.bootstrap_ci(few) == (low, high)  # seeded: a rerun gives the same interval


def test_latency_summary_orders_its_percentiles():
    summary = timing.latency_summary(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert summary["latency_p50_ms"] == 3.0 and summary["latency_n"] == 5
    assert summary["latency_p50_ms"] <= summary["latency_p90_ms"] <= summary["latency_p99_ms"] <= 100.0
    assert summary["latency_p50_ci_low_ms"] <= 3.0 <= summary["latency_p50_ci_high_ms"]


def out_of_memory_above(limit: int):
    """A call that behaves like a model whose activations fit only up to ``limit`` images."""

    def call(images):
        if images.shape[0] > limit:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return tf.reduce_mean(images, axis=[1, 2])

    return call


def test_out_of_memory_halves_the_batch_records_it_and_stops_the_sweep():
    fits, oom = timing.feasible_batches(out_of_memory_above(100), 4, [1, 8, 128, 512])
    assert sorted(fits) == [1, 8, 64] and oom == [128]  # 128 failed, 64 worked, 512 never tried
    fits, oom = timing.feasible_batches(out_of_memory_above(40), 4, [1, 8, 32, 128])
    assert sorted(fits) == [1, 8, 32] and oom == [64, 128]  # halving reached a batch already measured


def test_the_protocol_reports_an_out_of_memory_batch_on_the_row():
    model = build_classifier(build_backbone("simple_cnn", 8, depth=1), 3)
    real = timing.compiled_call

    def limited(model, xla=False):
        call = real(model, xla)
        return lambda images: out_of_memory_above(16)(images) if images.shape[0] > 16 else call(images)

    budget = MeasureBudget(warmup_runs=1, latency_runs=3, latency_min_s=0, batches=(1, 8, 32), throughput_min_s=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timing, "compiled_call", limited)
        report = measure_inference(model, 8, budget, "cpu")
    assert report.row["throughput_oom_batch"] == 32 and report.row["throughput_batch"] in (1, 8, 16)
    table = report.points
    assert set(table.loc[table["oom"], "batch"]) == {32}
    assert set(table.loc[~table["oom"], "batch"]) == {1, 8, 16}
    assert set(table["xla"]) == {True, False} and len(report.samples) == 2 * report.row["latency_n"]


def test_interleaved_throughput_takes_the_best_block():
    clock = {"now": 0.0}
    pace = iter([0.5, 0.1, 0.1, 0.2] * 10)

    def call(images):
        clock["now"] += next(pace)
        return images

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timing.time, "perf_counter", lambda: clock["now"])
        rates = timing.interleaved_throughput({"a": (call, 10, 0.1)}, 2, runs=4, min_s=0.0, max_s=100.0)
    best, median = rates["a"]
    assert best == pytest.approx(10 / 0.1) and median == pytest.approx(10 / 0.15)


def test_mixed_precision_copy_keeps_weights_and_a_float32_classifier():
    model = build_classifier(build_backbone("simple_cnn", 16, depth=1), 4)
    copy = model_facts.with_precision(model, "mixed_bfloat16")
    images = tf.random.uniform((2, 16, 16, 3), -1, 1, seed=3)
    assert copy.get_layer("classifier").dtype_policy.name == "float32"
    convolutions = [layer for layer in copy.layers[1].layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.dtype_policy.name == "mixed_bfloat16" for layer in convolutions)
    np.testing.assert_allclose(copy(images), model(images), atol=0.05)
    assert model_facts.with_precision(model, "float32") is model
    with pytest.raises(ValueError, match="unknown precision"):
        model_facts.with_precision(model, "float8")


def test_steady_training_speed_leaves_out_the_tracing_steps():
    # 5 steps of 32 images per epoch (last one 8 images); the first step traces.
    first = [(0, 0, 9.0), (0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0), (0, 4, 4.0)]
    assert steady_steps(first, 136, 32) == (96, 3.0)  # one epoch: its middle steps
    later = [(1, step, 0.5) for step in range(5)]
    assert steady_steps(first + later, 136, 32) == (136, 2.5)  # later epochs only


def test_seed_table_gives_mean_std_n_and_a_t_interval():
    base = dict(arch="a", regime="scratch", dataset="digits", weights="none", device_name="cpu", status="ok")
    rows = [
        dict(base, case_id="a.scratch.digits", seed=seed, test_accuracy=accuracy, latency_p50_ms=1.0, xla=False)
        for seed, accuracy in enumerate([0.90, 0.92, 0.94])
    ]
    summary = summarise(pd.DataFrame(rows).reindex(columns=[*rows[0], *SUMMARY_INPUTS]))
    line = summary.iloc[0]
    assert line["seeds"] == 3 and line["test_accuracy_mean"] == pytest.approx(0.92)
    assert line["test_accuracy_std"] == pytest.approx(0.02)
    assert line["test_accuracy_ci95"] == pytest.approx(4.302653 * 0.02 / np.sqrt(3), rel=1e-5)


SUMMARY_INPUTS = [
    "latency_p50_ci_low_ms",
    "latency_p50_ci_high_ms",
    "latency_p99_ms",
    "throughput_ips",
    "throughput_batch",
    "params",
    "gflops_per_image",
    "train_seconds",
    "time_to_target_s",
]


def test_fingerprint_guard_names_what_differs_and_yields_to_force():
    here = environment()
    same = pd.DataFrame([here, here])
    require_one_fingerprint(same)
    other = dict(here, tf_version="2.99.0", fingerprint="0123456789ab")
    mixed = pd.DataFrame([here, other])
    with pytest.raises(SuiteError, match="2 machine fingerprints.*tf_version.*--force"):
        require_one_fingerprint(mixed)
    require_one_fingerprint(mixed, force=True)


def test_fingerprint_covers_the_machine_and_stack_but_not_the_suite_commit():
    facts = environment()
    assert len(facts["fingerprint"]) == 12 and facts["cpu_count"].isdigit()
    assert facts["tf_version"] == tf.__version__ and facts["keras_version"] == keras.__version__
    assert "intra=" in facts["threads"] and facts["git_commit"]
