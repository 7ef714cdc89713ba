"""The measurement protocol: statistics, OOM halving, FLOP and parameter counts, precision copies, fingerprints."""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from suite.environment import environment, require_one_fingerprint
from suite.errors import SuiteError
from suite.measure import measure_inference, model_facts, roof, timing
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


def test_latency_summary_gives_numpys_percentiles_of_the_samples():
    samples = np.array([5.0, 1.0, 4.0, 2.0, 100.0, 3.0])  # time order, not sorted
    summary = timing.latency_summary(samples)
    # numpy's linear-interpolation percentiles, worked by hand over the sorted samples 1 2 3 4 5 100:
    assert summary["latency_p50_ms"] == 3.5  # halfway between 3 and 4
    assert summary["latency_p90_ms"] == pytest.approx(5 + 0.5 * 95)  # rank 4.5: halfway between 5 and 100
    assert summary["latency_p99_ms"] == pytest.approx(5 + 0.95 * 95)  # rank 4.95
    assert summary["latency_mean_ms"] == pytest.approx(115 / 6) and summary["latency_n"] == 6
    assert summary["latency_p50_ci_low_ms"] <= 3.5 <= summary["latency_p50_ci_high_ms"]


def test_windows_are_contiguous_and_the_interval_widens_with_drift_between_them():
    assert timing.window_labels(12).tolist() == [0] * 6 + [1] * 6  # 12 calls: 2 windows of at least 5
    assert timing.window_labels(80).tolist() == [i // 10 for i in range(80)]  # 8 windows of 10
    assert timing.window_labels(4).tolist() == [0] * 4
    rng = np.random.default_rng(2)
    steady = rng.normal(1.0, 0.01, 200)
    drifting = steady + np.repeat(rng.normal(0, 0.05, 10), 20)  # each stretch of 20 calls shifted alike
    labels = np.repeat(np.arange(10), 20)
    calm = np.subtract(*timing.window_interval(steady, labels)[::-1])
    windy = np.subtract(*timing.window_interval(drifting, labels)[::-1])
    calls_only = np.subtract(*timing.bootstrap_ci(drifting)[::-1])
    assert windy > 3 * calm and windy > 3 * calls_only  # resampling calls alone would not see the drift


def test_the_p90_interval_holds_the_p90_in_ms_and_widens_with_drift_between_windows():
    """The p90's block bootstrap: around the p90 itself (in the samples' unit, never a rank or a fraction), exact
    for constant windows, and wider when whole stretches of calls shift than when single calls scatter."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(10), 20)
    steady = rng.normal(2.0, 0.02, 200)
    drifting = steady + np.repeat(rng.normal(0, 0.2, 10), 20)
    summary = timing.latency_summary(drifting, labels)
    assert summary["latency_p90_ci_low_ms"] <= summary["latency_p90_ms"] <= summary["latency_p90_ci_high_ms"]
    assert summary["latency_p90_ms"] == pytest.approx(np.percentile(drifting, 90))
    assert 1.5 < summary["latency_p90_ci_low_ms"] and summary["latency_p90_ci_high_ms"] < 3.0  # ms, around 2
    calm = np.subtract(*timing.window_percentile_interval(steady, labels, 90)[::-1])
    windy = np.subtract(*timing.window_percentile_interval(drifting, labels, 90)[::-1])
    assert windy > 3 * calm
    assert timing.window_percentile_interval(np.full(40, 1.5), np.repeat(np.arange(8), 5), 90) == (1.5, 1.5)
    assert timing.window_percentile_interval(drifting, labels, 90) == timing.window_percentile_interval(
        drifting, labels, 90
    ), "seeded: a rebuilt report gives the same interval"


def rounds_alone(processes) -> dict:
    """The summary from rounds only: every process's calls pooled, each round a window, no spread of processes."""
    samples = np.concatenate([values for values, _ in processes])
    return timing.latency_summary(samples, np.repeat(np.arange(len(samples) // 20), 20))


def rerun_coverage(run, summary=timing.pooled_summary, pairs: int = 300) -> float:
    """How often one simulated run's p50 interval holds another's p50, both directions; ``run(rng)`` gives the
    per-process (samples, round labels) of one run."""
    rng, held = np.random.default_rng(11), 0
    for _ in range(pairs):
        a, b = (summary(run(rng)) for _ in range(2))
        held += a["latency_p50_ci_low_ms"] <= b["latency_p50_ms"] <= a["latency_p50_ci_high_ms"]
        held += b["latency_p50_ci_low_ms"] <= a["latency_p50_ms"] <= b["latency_p50_ci_high_ms"]
    return held / (2 * pairs)


def rounds_of(rng, level: float, rounds: int = 10, calls: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """One process's calls: each round shifted by its own load (5%), each call by its own noise (2%)."""
    shifts = np.repeat(rng.normal(0, 0.05 * level, rounds), calls)
    return level + shifts + rng.normal(0, 0.02 * level, rounds * calls), np.repeat(np.arange(rounds), calls)


def test_the_p50_interval_holds_a_reruns_p50_at_least_nine_times_in_ten():
    """A confidence interval holds the true median 95% of the time but another run's estimate less often (about
    83% for a normal one); the sign test's over 10 rounds is conservative (97.9%), and the rerun interval's sqrt(2)
    keeps it well over 90% (simulated: 93% without it, 97% with it). Checked by simulation."""
    one_process = rerun_coverage(lambda rng: [rounds_of(rng, 1.0)])
    assert 0.9 <= one_process <= 0.995
    low, high = timing.rerun_interval(2.0, 1.8, 2.1)
    assert (low, high) == pytest.approx((2.0 - 0.2 * 2**0.5, 2.0 + 0.1 * 2**0.5))
    assert timing.rerun_interval(1.0, 0.1, 1.1)[0] == 0.0, "never below 0 ms"


def test_the_spread_between_processes_widens_the_interval_to_cover_a_rerun():
    """Each process meets the machine at another level (10%), which its own rounds can't see: pooled over three
    processes, the interval still holds a rerun's p50 at least nine times in ten; from rounds alone it does not."""

    def run(rng):
        return [rounds_of(rng, float(np.exp(rng.normal(0, 0.10)))) for _ in range(3)]

    assert rerun_coverage(run) >= 0.9
    assert rerun_coverage(run, rounds_alone) < 0.75, "simulated: 59%; the premise of the test"
    processes = run(np.random.default_rng(5))
    pooled, rounds_only = timing.pooled_summary(processes), rounds_alone(processes)
    assert pooled["latency_n"] == 600 and pooled["latency_p50_ms"] == rounds_only["latency_p50_ms"]
    assert pooled["latency_p50_ci_high_ms"] - pooled["latency_p50_ci_low_ms"] >= (
        rounds_only["latency_p50_ci_high_ms"] - rounds_only["latency_p50_ci_low_ms"]
    )
    same = [(np.full(20, 1.5), np.repeat(np.arange(4), 5))] * 3
    assert (
        timing.pooled_summary(same)["latency_p50_ci_low_ms"]
        == 1.5
        == timing.pooled_summary(same)["latency_p50_ci_high_ms"]
    ), "processes that agree add no width"


def test_the_sign_test_ranks_match_the_binomial_tables():
    # 10 windows: P(X <= 1) = 11/1024 = 0.011 <= 0.025 < P(X <= 2) = 56/1024, so [x(2), x(9)]
    assert timing.median_rank(10) == 2
    assert timing.median_rank(6) == 1  # 2/64 = 0.031 two-sided: the full range, 96.9%
    assert timing.median_rank(5) == 0  # 2/32 = 0.0625 > 0.05: no 95% interval from 5 values
    medians = np.arange(10.0)
    labels = np.repeat(np.arange(10), 5)
    assert timing.window_interval(np.repeat(medians, 5), labels) == (1.0, 8.0)


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


def test_throughput_blocks_of_several_calls_are_divided_by_their_calls():
    clock = {"now": 0.0}

    def call(images):  # 10 ms a call, every call
        clock["now"] += 0.01
        return images

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timing.time, "perf_counter", lambda: clock["now"])
        # 0.2 s over 2 rounds: blocks of 0.1 s, i.e. 10 calls of 10 ms each
        rates = timing.interleaved_throughput({"a": (call, 16, 0.01)}, 2, runs=2, min_s=0.2, max_s=100.0)
    assert clock["now"] == pytest.approx(2 * 10 * 0.01), "two blocks of ten calls"
    assert rates["a"] == (pytest.approx(16 / 0.01), pytest.approx(16 / 0.01))  # 1,600 images/s, not 160


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


def test_a_repeated_cuts_steady_steps_leave_out_every_short_pass_end_of_a_lone_epoch():
    # 250 images at batch 64 are passes of 64, 64, 64, 58; one epoch of 20 steps (the whole split's) is 5 passes.
    # Step 3 is the first short batch and retraces (5 s); the lone epoch keeps steps 1-2, 4-6, 8-10, 12-14, 16-18.
    lone = [(0, step, 5.0 if step in (0, 3) else 0.1) for step in range(20)]
    done, seconds = steady_steps(lone, 250, 64, steps_per_epoch=20)
    assert done == 14 * 64 and seconds == pytest.approx(14 * 0.1)
    # Later epochs continue the passes (one iterator per phase): epoch 1's steps 20-39 hold 5 short batches.
    later = [(1, step, 0.1) for step in range(20)]
    assert steady_steps(lone + later, 250, 64, steps_per_epoch=20)[0] == 15 * 64 + 5 * 58


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


def small_model(side: int = 32) -> keras.Model:
    return build_classifier(build_backbone("simple_cnn", side, depth=1), 10)


FAST = MeasureBudget(warmup_runs=3, latency_runs=60, latency_min_s=0.3, batches=(1, 8), throughput_min_s=0.1)


def back_to_back_ms(call, images, calls: int = 200) -> float:
    """Mean ms per call of ``calls`` calls timed as a whole: a clock independent of the suite's per-call one."""
    started = time.perf_counter()
    for _ in range(calls):
        outputs = call(images)
    outputs.numpy()
    return (time.perf_counter() - started) / calls * 1e3


def test_batch1_p50_agrees_with_back_to_back_calls_on_an_independent_clock():
    model = small_model()
    call, one = timing.compiled_call(model), timing.random_images(1, 32)
    call(one).numpy()
    before = back_to_back_ms(call, one)
    row = measure_inference(model, 32, dataclasses.replace(FAST, modes=("graph",)), "cpu").row
    after = back_to_back_ms(call, one)
    # Noise on a busy machine moves either figure by tens of percent; a unit slip moves it by 1000x.
    low, high = min(before, after) / 3, max(before, after) * 3
    assert low < row["latency_p50_ms"] < high, (row["latency_p50_ms"], before, after)
    batch = row["throughput_batch"]
    many = timing.random_images(batch, 32)
    call(many).numpy()
    # The row's figure is its best block, so the independent one is the best of five blocks too: a single block
    # on busy cores ran 4x below the row's best (CI with four other processes on the two cores).
    independent_ips = max(batch / (back_to_back_ms(call, many, calls=20) / 1e3) for _ in range(5))
    assert independent_ips / 4 < row["throughput_ips"] < independent_ips * 4, (row["throughput_ips"], independent_ips)


def slowed(mode: str, delay_s: float = 0.02):
    """``timing.compiled_call`` with every call of one execution mode made ``delay_s`` slower on purpose."""
    real = timing.compiled_call

    def make(model, xla=False):
        call = real(model, xla)
        if xla != (mode == "xla"):
            return call

        def slow(images):
            time.sleep(delay_s)
            return call(images)

        return slow

    return make


@pytest.mark.parametrize("slow_mode, faster_is_xla", [("xla", False), ("graph", True)])
def test_xla_speedup_is_graph_over_xla_and_the_faster_mode_is_chosen(slow_mode, faster_is_xla):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timing, "compiled_call", slowed(slow_mode))
        row = measure_inference(small_model(16), 16, FAST, "cpu").row
    assert row["xla"] is faster_is_xla and row["throughput_xla"] is faster_is_xla
    # a 20 ms sleep dwarfs a call of a few ms even on busy cores: the slowed mode is several times slower
    assert (row["xla_speedup"] > 2) if faster_is_xla else (row["xla_speedup"] < 1 / 2), row["xla_speedup"]


def test_the_same_model_measured_twice_lands_in_the_first_measurements_p50_interval():
    """What a rerun sees: a second half-second measurement's p50 falls inside the first's interval at least 90% of
    the time (the interval is a rerun interval, ``timing.rerun_interval``).

    The claim is a rate, so it is tested as one: it fails when the misses are too many for a 90% rate by a
    one-sided binomial test at 1% (9 or more of 30). It once asked only that the two intervals overlap, a weaker
    claim: on this project's 2-core AMD EPYC VM, 40 pairs each, 3 misses quiet and 0 with two `yes` processes on
    the cores, where the bootstrap over calls that the interval replaced missed 20 and 13.
    """
    from scipy.stats import binom

    call, one = timing.compiled_call(small_model()), timing.random_images(1, 32)
    call(one).numpy()
    repetitions, misses = 30, 0
    for _ in range(repetitions):
        first, second = (
            timing.latency_summary(timing.interleaved_latencies({"g": call}, one, 2, 50, 0.5, 1.0)["g"])
            for _ in range(2)
        )
        misses += not first["latency_p50_ci_low_ms"] <= second["latency_p50_ms"] <= first["latency_p50_ci_high_ms"]
    allowed = int(binom.ppf(0.99, repetitions, 0.10))  # 8: more is evidence the rate is below 90%
    assert misses <= allowed, f"{misses} of {repetitions} second p50s fell outside the first's interval"


def test_peak_rss_is_the_kernels_high_water_mark_in_megabytes():
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    high_water_kib = int(status["VmHWM"].split()[0])  # the kernel's own figure, in KiB
    assert model_facts.peak_rss_mb() == pytest.approx(high_water_kib * 1024 / 1e6, rel=0.02)


def test_model_mb_counts_the_inference_weights_not_the_checkpoint(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(np.zeros((4, 32, 32, 3)), np.eye(10)[:4], verbose=0)  # Adam now holds two slots per weight
    path = tmp_path / "m.keras"
    model.save(path)
    assert model_facts.weights_mb(model) == pytest.approx(model.count_params() * 4 / 1e6)  # float32: 4 bytes each
    assert model_facts.serialized_mb(path) > 2 * model_facts.weights_mb(model)  # the checkpoint carries Adam's slots
    assert model_facts.serialized_mb(path) == path.stat().st_size / 1e6


def test_stored_floats_keep_significant_figures_not_decimals(tmp_path):
    from suite import storage

    storage.prepare(tmp_path)
    storage.append_row(tmp_path, {"case_id": "x", "gflops_per_image": 0.000221234567, "latency_p50_ms": 1234.56789})
    row = storage.read_results(tmp_path).iloc[0]
    assert row["gflops_per_image"] == 0.000221235 and row["latency_p50_ms"] == 1234.57


FAKE_CPUS = {
    "xeon avx512": ({"vendor_id": "GenuineIntel", "cpu family": "6", "flags": "fma avx2 avx512f"}, 16),
    "zen4 avx512": ({"vendor_id": "AuthenticAMD", "cpu family": "25", "flags": "fma avx2 avx512f"}, 8),
    "avx2": ({"vendor_id": "AuthenticAMD", "cpu family": "23", "flags": "fma avx2"}, 8),
    "sse": ({"vendor_id": "GenuineIntel", "flags": "sse sse2"}, 4),
}


@pytest.mark.parametrize("name", sorted(FAKE_CPUS))
def test_float32_lanes_follow_the_vector_units(name):
    info, lanes = FAKE_CPUS[name]
    assert roof.float32_lanes(info) == lanes


def test_the_theoretical_peak_is_cores_lanes_fmas_and_clock(monkeypatch):
    monkeypatch.setattr(roof, "_cpuinfo", lambda: {**FAKE_CPUS["avx2"][0], "cpu MHz": "2500.0"})
    monkeypatch.setattr(roof, "max_clock_ghz", lambda info: 2.5)
    monkeypatch.setattr(roof.os, "sched_getaffinity", lambda pid: {0, 1})
    assert roof.theoretical_peak_gflops() == pytest.approx(2 * 8 * 2 * 2 * 2.5)  # 160 GFLOP/s


def test_the_measured_roof_is_cached_per_machine_and_the_roof_is_the_larger_peak(monkeypatch):
    measured = roof.measured_peak_gflops("cpu")
    monkeypatch.setattr(roof, "_matmul_rate", lambda size: pytest.fail("the cached roof was measured again"))
    assert roof.measured_peak_gflops("cpu") == measured
    theoretical = roof.theoretical_peak_gflops()
    # A VM often reports its base clock, not its boost, so the measured roof may beat the theoretical one.
    assert theoretical and measured > 0
    assert roof.roof_gflops("cpu") == (measured, theoretical, max(measured, theoretical))


def test_training_speed_in_the_history_leaves_out_validation():
    from suite.regimes import REGIMES
    from suite.registry import get_case
    from suite.train import FitInputs, train

    case = dataclasses.replace(get_case("simple_cnn.scratch.digits"), epochs=2, batch_size=16)
    model = small_model(16)
    images, labels = np.zeros((32, 16, 16, 3), "float32"), np.eye(10, dtype="float32")[np.arange(32) % 10]
    train_ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)

    def sleepy(batch):  # validation that takes at least 0.2 s a batch, on any machine
        time.sleep(0.2)
        return batch

    def slowed(x, y):
        return tf.ensure_shape(tf.numpy_function(sleepy, [x], tf.float32, stateful=True), x.shape), y

    slow_val = train_ds.map(slowed)
    fit = FitInputs(train=train_ds, val=slow_val, images=32)
    history = train(model, model.layers[1], REGIMES["scratch"], case, fit).history
    # validation runs after the last training step: its 2 x 0.2 s of sleep are in epoch_seconds, never in train_s
    assert (history["epoch_seconds"] - history["train_s"] >= 0.4).all(), history
    assert history["images_per_s"].tolist() == pytest.approx((32 / history["train_s"]).tolist())
