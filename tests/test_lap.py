"""The final lap (``suite.run.lap``): every network and format timed side by side, in rounds of a new random order,
one latency per network, and the report reading it (``suite.report.lap``)."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import pandas as pd
import pytest

from suite import storage
from suite.measure import speed, timing
from suite.models import build_backbone, build_classifier
from suite.profiles import MeasureBudget
from suite.report.lap import lap_caveat, with_lap
from suite.run.lap import chunks, graph_signature, run_lap
from suite.storage.speed import read_probes

FINGERPRINT = "f" * 12


def test_each_round_visits_every_path_once_in_a_new_random_order():
    visits: list[str] = []
    calls = {name: (lambda images, name=name: visits.append(name)) for name in "abcd"}
    samples = timing.round_latencies(calls, dict.fromkeys("abcd", None), rounds=6, calls_per_round=3, warmup=2)
    timed = visits[4 * 2 :]  # after two warm-up calls each
    blocks = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    assert all(len(set(block)) == 1 for block in blocks), "a path's calls of one round run back to back"
    orders = ["".join(block[0] for block in blocks[r * 4 : (r + 1) * 4]) for r in range(6)]
    assert all(sorted(order) == list("abcd") for order in orders) and len(set(orders)) > 1
    latencies, rounds = samples["a"]
    assert len(latencies) == 18 and rounds.tolist() == [r for r in range(6) for _ in range(3)]
    again = []
    calls = {name: (lambda images, name=name: again.append(name)) for name in "abcd"}
    timing.round_latencies(calls, dict.fromkeys("abcd", None), rounds=6, calls_per_round=3, warmup=2)
    assert again == visits, "seeded: two laps visit the paths in the same orders"


def test_round_latencies_are_milliseconds_of_each_call():
    samples = timing.round_latencies({"sleep": lambda images: time.sleep(0.002)}, {"sleep": None}, 2, 3, 0)
    latencies, _ = samples["sleep"]
    assert ((latencies > 1.9) & (latencies < 200)).all(), latencies  # 2 ms a call, never seconds or microseconds


def save(model: keras.Model, results: Path, case_id: str, seed: int = 0) -> Path:
    path = storage.case_file(results, "models", case_id, seed, ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def small(dropout: float = 0.0, trainable: bool = True) -> keras.Model:
    backbone = build_backbone("simple_cnn", 32)
    backbone.trainable = trainable
    model = build_classifier(backbone, 10, dropout=dropout)
    model.compile(optimizer=keras.optimizers.Adam(1e-3 if trainable else 3e-4), loss="categorical_crossentropy")
    return model


def test_regimes_of_one_network_share_a_graph_and_another_head_does_not(tmp_path):
    scratch = graph_signature(save(small(), tmp_path, "net.scratch.digits"))
    frozen = graph_signature(save(small(trainable=False), tmp_path, "net.frozen.digits"))
    other_head = graph_signature(save(small(dropout=0.5), tmp_path, "net.drop.digits"))
    assert scratch == frozen != other_head


@pytest.fixture(scope="module")
def lapped(tmp_path_factory):
    """A folder of two simple_cnn regimes (one graph) and one with another head, three seeds' rows each, timed by
    the lap in 2 processes of 3 rounds of 4 calls."""
    results = tmp_path_factory.mktemp("lap")
    storage.prepare(results)
    regimes = {"simple_cnn.scratch.digits": small(), "simple_cnn.frozen.digits": small(trainable=False),
               "simple_cnn.drop.digits": small(dropout=0.5)}  # fmt: skip
    for case_id, model in regimes.items():
        save(model, results, case_id)
        for seed in range(3):
            storage.append_row(results, dict(
                case_id=case_id, arch="simple_cnn", regime=case_id.split(".")[1], dataset="digits", weights="none",
                device="cpu", device_name="cpu: t", status="ok", seed=seed, fingerprint=FINGERPRINT,
                test_accuracy=0.9, test_images=360, image_size=32, xla=False, latency_p50_ms=50.0 + seed,
                latency_p90_ms=60.0,
            ))  # fmt: skip
    budget = MeasureBudget(warmup_runs=1, lap_processes=2, lap_rounds=3, lap_calls=4)
    path = run_lap(results, {"fingerprint": FINGERPRINT, "suite_version": "t"}, "cpu", budget)
    return results, path


def test_the_lap_times_one_latency_per_network_and_graph(lapped):
    results, path = lapped
    assert path == storage.lap_path(results)
    lap = storage.read_lap(results)
    assert len(lap) == 2 and set(lap["format"]) == {"keras"}
    shared = lap[lap["cases"].map(len) == 2].iloc[0]
    assert shared["cases"] == ("simple_cnn.frozen.digits", "simple_cnn.scratch.digits")
    assert (lap["latency_n"] == 2 * 3 * 4).all() and (lap["processes"] == 2).all()
    assert (lap["rounds"] == 3).all() and (lap["calls_per_round"] == 4).all()
    for _, row in lap.iterrows():
        assert row["latency_p50_ci_low_ms"] <= row["latency_p50_ms"] <= row["latency_p50_ci_high_ms"]
        assert row["latency_p90_ci_low_ms"] <= row["latency_p90_ms"] <= row["latency_p90_ci_high_ms"]
        assert 0.01 < row["latency_p50_ms"] < 40, "a small CNN's batch-1 call in ms (the rows' made-up 50 is not it)"
    assert (lap["fingerprint"] == FINGERPRINT).all()
    probes = read_probes(FINGERPRINT, speed.PROBE)
    probes = probes[probes["folder"] == str(results)]
    assert list(probes["where"]) == ["lap"], "one speed probe per lap, the median of its processes"
    assert 0.01 < probes["p50_ms"].iloc[0] < 40 and (lap["drift_probes"] == 0).all(), "one probe: no drift yet"


def test_the_report_reads_the_lap_so_regimes_of_one_network_carry_one_latency(lapped):
    from suite.report.summary import per_case

    results, _ = lapped
    lap = storage.read_lap(results)
    cases = with_lap(per_case(storage.read_results(results)), lap).set_index("case_id")
    assert (cases["latency_source"] == "lap").all()
    assert (
        cases.loc["simple_cnn.scratch.digits", "latency_p50_ms"]
        == cases.loc["simple_cnn.frozen.digits", "latency_p50_ms"]
    )
    assert cases.loc["simple_cnn.scratch.digits", "latency_p50_ms"] < 40  # the lap's, not the rows' 50-52 ms
    untouched = with_lap(per_case(storage.read_results(results)), None)
    assert (untouched["latency_source"] == "case").all() and untouched["latency_p50_ms"].min() >= 50
    caveat = lap_caveat(lap)
    assert "2 network(s) and 0 deployed file(s) side by side" in caveat and "2 process(es) of 3 rounds of 4" in caveat


def test_a_folder_of_another_machine_or_without_models_gets_no_lap(lapped, tmp_path):
    results, _ = lapped
    budget = MeasureBudget(lap_rounds=2, lap_calls=2)
    assert run_lap(results, {"fingerprint": "0" * 12}, "cpu", budget) is None
    assert run_lap(results, {"fingerprint": FINGERPRINT}, "cpu", MeasureBudget(lap_rounds=0)) is None


def test_entries_are_loaded_together_up_to_the_memory_cap(tmp_path):
    files = []
    for i, mb in enumerate((1.0, 1.0, 2.5, 0.5)):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(b"0" * int(mb * 1e6))
        files.append(pd.Series({"path": path}))

    class Entry:
        def __init__(self, path):
            self.path = path

    cut = chunks([Entry(f["path"]) for f in files], max_mb=2.6)
    assert [[e.path.name for e in c] for c in cut] == [["0.bin", "1.bin"], ["2.bin"], ["3.bin"]]


def test_a_model_that_wont_load_is_left_out_and_the_rest_are_timed(lapped, tmp_path, caplog):
    import shutil

    results, _ = lapped
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    (copy / "lap.csv").unlink()
    storage.case_file(copy, "models", "simple_cnn.drop.digits", 0, ".keras").write_bytes(b"not a zip")
    assert (
        run_lap(copy, {"fingerprint": FINGERPRINT}, "cpu", MeasureBudget(lap_processes=1, lap_rounds=2, lap_calls=2))
        is not None
    )
    lap = storage.read_lap(copy)
    assert [c for cases in lap["cases"] for c in cases] == ["simple_cnn.frozen.digits", "simple_cnn.scratch.digits"]
    assert "simple_cnn.drop.digits not timed: its model" in caplog.text


def test_the_caveat_says_when_the_machine_drifted_between_the_laps_processes():
    def lap(per_process: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"format": ["keras"] + ["onnx"] * (len(per_process) - 1), "rounds": 10,
                             "calls_per_round": 20, "processes": 3, "p50_by_process_ms": per_process})  # fmt: skip

    drifted = lap_caveat(lap(["1.0 1.5 1.4", "0.2 0.3 0.25", "0.1 0.1 0.1"]))
    assert "3 process(es) of 10 rounds of 20" in drifted and "1.50x apart" in drifted, drifted
    steady = lap_caveat(lap(["1.0 1.05 1.02", "0.2 0.21 0.2", "0.1 0.1 0.1"]))
    assert "apart" not in steady
    assert "apart" not in lap_caveat(lap(["1.0", "0.2", "0.1"])), "one process: no spread to read"
    measured = lap(["1.0", "0.2", "0.1"]).assign(drift_sd=0.083, drift_probes=17)
    assert "varied by 8.3% (log standard deviation of this machine's 17 newest probes" in lap_caveat(measured)
    assert "reference workload" not in lap_caveat(measured.assign(drift_sd=0.0))
