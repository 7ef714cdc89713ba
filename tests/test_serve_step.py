"""The serving step (``suite.run.serve``), ``serving.csv`` (``suite.storage.serving``) and the report's serving table
and chart (``suite.report.serving``), on a small fake folder: two networks, one on the latency front and one off it,
served by a 3 ms fake (a LoadGen run of 0.2 s each), so that the test takes seconds, not a training run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite import storage
from suite.models import build_backbone, build_classifier
from suite.profiles import PROFILES, ServeBudget
from suite.report import build_report
from suite.report.serving import per_file, with_serving
from suite.run import serve as serve_step
from suite.run.plan import Machine
from suite.run.settings import RunSettings

FINGERPRINT = "f" * 12
ENVIRONMENT = {"fingerprint": FINGERPRINT, "suite_version": "t"}
SERVICE_S = 0.003
FAST, SLOW = "tiny_cnn.scratch.digits", "big_cnn.scratch.digits"  # big: slower, less accurate, off the front
TINY = ServeBudget(scope="front", min_duration_s=0.2, min_queries=16, search_runs=1, offline_batch=4, bound_ms=150)


def three_ms_an_image(images: np.ndarray) -> np.ndarray:
    time.sleep(SERVICE_S * len(images))
    return np.zeros((len(images), 10), np.float32)


def fake_load(entry):
    """What ``suite.run.lap.load`` gives, for a server whose every image takes 3 ms."""
    return three_ms_an_image, np.zeros((1, 32, 32, 3), np.float32)


def folder(results: Path, with_formats: bool = True) -> Path:
    """Two networks' rows (three seeds each) and saved models; a format row per network where ``with_formats``."""
    storage.prepare(results)
    model = build_classifier(build_backbone("simple_cnn", 32), 10)
    for case_id, accuracy, latency_ms in ((FAST, 0.98, 1.0), (SLOW, 0.5, 50.0)):
        path = storage.case_file(results, "models", case_id, 0, ".keras")
        model.save(path)
        for seed in range(3):
            storage.append_row(results, dict(
                case_id=case_id, arch=case_id.split(".")[0], regime="scratch", dataset="digits", weights="none",
                device="cpu", device_name="cpu: t", status="ok", seed=seed, fingerprint=FINGERPRINT,
                test_accuracy=accuracy + 0.001 * seed, test_images=360, image_size=32, xla=False,
                latency_p50_ms=latency_ms, latency_p50_ci_low_ms=latency_ms * 0.95,
                latency_p50_ci_high_ms=latency_ms * 1.05, latency_p90_ms=latency_ms * 1.1, throughput_ips=100.0,
                throughput_batch=32, case_key=case_id, profile="quick",
            ))  # fmt: skip
        for fmt, runtime in (("keras", "keras"), ("onnx", "onnxruntime")) if with_formats else ():
            storage.append_format_row(results, dict(
                case_id=case_id, arch=case_id.split(".")[0], regime="scratch", dataset="digits", seed=0,
                case_key=case_id, format=fmt, runtime=runtime, status="ok", path=str(path), model_sha256="abc",
                device="cpu", device_name="cpu: t", fingerprint=FINGERPRINT, test_accuracy=accuracy,
                latency_p50_ms=latency_ms, latency_p90_ms=latency_ms, throughput_ips=100.0, throughput_batch=32,
            ))  # fmt: skip
    return results


@pytest.fixture(scope="module")
def fake_folder(tmp_path_factory) -> Path:
    return folder(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    """A folder served under ``TINY`` (the front only) by the 3 ms fake; its path."""
    results = folder(tmp_path_factory.mktemp("served"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serve_step, "load", fake_load)
        assert serve_step.serve_folder(results, ENVIRONMENT, "cpu", TINY) == storage.serving_path(results)
    return results


def names(entries) -> list[tuple[str, str]]:
    return [(e.network["arch"], e.format) for e in entries]


def test_quick_serves_the_front_only_and_seed_and_overnight_every_network_and_format(fake_folder):
    ok = storage.read_results(fake_folder)
    front = serve_step.chosen_entries(fake_folder, ok, PROFILES["quick"].serve.scope)
    every = serve_step.chosen_entries(fake_folder, ok, PROFILES["seed"].serve.scope)
    assert names(front) == [("tiny_cnn", "keras"), ("tiny_cnn", "onnx")]
    # fastest network first (its p50), though big_cnn sorts first by name: a spent total_s leaves the most served
    assert names(every) == [("tiny_cnn", "keras"), ("tiny_cnn", "onnx"), ("big_cnn", "keras"), ("big_cnn", "onnx")]
    assert PROFILES["overnight"].serve.scope == "all" and PROFILES["smoke"].serve.total_s <= 10
    quick = PROFILES["quick"].serve
    assert quick.total_s <= 60 and quick.min_duration_s * (3 + quick.search_runs) <= 10, "about a minute in all"
    with pytest.raises(ValueError, match="received: scope='most'"):
        serve_step.chosen_entries(fake_folder, ok, "most")


def test_serving_csv_holds_every_loadgen_run_in_ms_and_reads_back(served):
    rows = storage.read_serving(served)
    assert set(zip(rows["arch"], rows["format"])) == {("tiny_cnn", "keras"), ("tiny_cnn", "onnx")}
    for _, file_rows in rows.groupby("format"):
        scenarios = file_rows["scenario"].tolist()
        assert scenarios[:3] == ["SingleStream", "Offline", "Server"] and set(scenarios[3:]) <= {"Server"}
        assert len(scenarios) <= 3 + TINY.search_runs and file_rows["step"].tolist()[2:] == list(
            range(len(scenarios) - 2)
        )
        assert (file_rows["status"] == "ok").all() and set(file_rows["loadgen_result"]) <= {"VALID", "INVALID"}
    single = rows[rows["scenario"] == "SingleStream"]
    assert ((single["latency_p90_ms"] >= 3.0) & (single["latency_p90_ms"] < 40)).all(), "ms: never s or µs"
    offline = rows[rows["scenario"] == "Offline"]
    assert ((offline["samples_per_s"] > 100) & (offline["samples_per_s"] <= 340)).all(), "one worker: <= 333/s"
    for log_dir in rows["log_dir"]:
        assert (served / log_dir / "mlperf_log_summary.txt").is_file()
        assert (served / log_dir / "mlperf_log_detail.txt").is_file()
        assert not (served / log_dir / "mlperf_log_trace.json").exists()
    assert rows["cases"].iloc[0] == (FAST,)


def test_a_second_session_is_read_in_place_of_the_first_whose_rows_stay(served, tmp_path):
    results = folder(tmp_path, with_formats=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serve_step, "load", fake_load)
        serve_step.serve_folder(results, ENVIRONMENT, "cpu", TINY)
        first = storage.serving_path(results).read_text()
        time.sleep(1.1)  # sessions are named to the second
        serve_step.serve_folder(results, ENVIRONMENT, "cpu", TINY)
    assert storage.serving_path(results).read_text().startswith(first), "rows already written are never rewritten"
    every, latest = storage.read_serving(results, every_session=True), storage.read_serving(results)
    assert every["session"].nunique() == 2 and set(every["arch"]) == {"tiny_cnn"}
    assert (
        len(every) == 2 * len(latest)
        and latest["session"].nunique() == 1
        and latest["session"].iloc[0] == every["session"].max()
    )


def test_the_report_has_a_serving_table_and_chart_and_ranks_by_the_offline_rate(served):
    report = build_report(served)
    table = next(t for t in report.tables if t.name == "serving")
    assert table.frame[["network", "format"]].values.tolist() == [["tiny_cnn @ 32 px", "keras"],
                                                                 ["tiny_cnn @ 32 px", "onnx"]]  # fmt: skip
    assert (table.frame["peak_qps"] > 0).all() and (table.frame["peak_p99_ms"] <= 150).all()
    assert "peak QPS at p99 ≤ 150 ms" in table.display
    # The peak's rerun interval: one bracket below the peak, up to the lowest rate that broke the bound.
    assert (table.frame["peak_ceiling_qps"] >= table.frame["peak_qps"]).all()
    assert (table.frame["peak_floor_qps"] <= table.frame["peak_qps"]).all()
    assert all(text.startswith("[") for text in table.display["rerun interval (QPS)"])
    assert (served / "charts" / "serving_p99_vs_qps.png").is_file()
    page = (served / "report.html").read_text()
    assert "Serving under load" in page and "one worker thread" in page
    cases = report.summary.set_index("case_id")
    assert cases.loc[FAST, "throughput_source"] == "offline" and cases.loc[SLOW, "throughput_source"] == "best block"
    assert cases.loc[FAST, "throughput_ips"] == pytest.approx(per_file(report.serving)["offline_ips"].iloc[0])
    assert cases.loc[FAST, "throughput_best_block_ips"] == 100.0
    shipped = report.deployed.set_index(["case_id", "format"])
    assert shipped.loc[(FAST, "onnx"), "throughput_source"] == "offline"


def test_a_folder_without_serving_csv_has_no_serving_table_nor_chart(fake_folder):
    report = build_report(fake_folder)
    assert report.serving is None and not any(t.name == "serving" for t in report.tables)
    assert not list((fake_folder / "charts").glob("serving*")) and "Serving under load" not in report.charts
    assert (report.summary["throughput_source"] == "best block").all()
    assert with_serving(report.summary, None)["throughput_ips"].tolist() == report.summary["throughput_ips"].tolist()


def test_a_failing_serve_is_one_logged_line_and_leaves_results_and_lap_intact(fake_folder, tmp_path, caplog):
    results = folder(tmp_path)
    storage.write_lap(results, [{"device_name": "cpu: t", "format": "keras", "cases": FAST, "latency_p50_ms": 1.0}])
    before = {name: (results / name).read_bytes() for name in ("results.csv", "formats.csv", "lap.csv")}
    settings = RunSettings.build("quick", results)
    machine = Machine(environment=ENVIRONMENT, device="cpu")

    def broken(*args, **kwargs):
        raise RuntimeError("LoadGen exploded")

    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.ERROR, logger="suite"):
        patch.setattr(serve_step, "load", fake_load)
        patch.setattr(serve_step, "serve", broken)
        serve_step.final_serve(settings, machine, [{"status": "ok"}])  # each file: one failed row, no crash
        patch.setattr(serve_step, "serve_folder", broken)
        assert serve_step.final_serve(settings, machine, [{"status": "ok"}]) is None  # the whole step
    assert {name: (results / name).read_bytes() for name in before} == before
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["serving failed (RuntimeError: LoadGen exploded); the results and the lap are as they were"]
    failed = storage.read_serving(results)
    assert (failed["status"] == "failed").all() and failed["error"].str.contains("LoadGen exploded").all()
    assert per_file(failed)["error"].str.contains("LoadGen exploded").all(), "the report lists what failed"


def test_without_loadgen_installed_the_step_says_so_once_and_writes_nothing(tmp_path, caplog):
    results = folder(tmp_path, with_formats=False)
    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.WARNING, logger="suite"):
        patch.setattr(serve_step.importlib.util, "find_spec", lambda name: None)
        assert serve_step.serve_folder(results, ENVIRONMENT, "cpu", TINY) is None
    assert [r.getMessage() for r in caplog.records] == [
        "serving: not measured: MLPerf LoadGen is not installed (pip install mlcommons-loadgen)"
    ]
    assert not storage.serving_path(results).exists()


def test_a_file_no_server_rate_kept_within_the_bound_reads_below_the_lowest_rate_tried():
    import pandas as pd

    from suite.report.serving import serving_table

    base = dict(device_name="cpu: t", dataset="digits", network="n @ 32 px", format="keras", arch="n", cases=("c",),
                bound_ms=15.0, status="ok", error="", latency_p90_ms=9.0, samples_per_s=800.0)  # fmt: skip
    rows = [dict(base, scenario="SingleStream", loadgen_result="VALID", within_bound=False, target_qps=None),
            dict(base, scenario="Offline", loadgen_result="VALID", within_bound=False, target_qps=None)]  # fmt: skip
    rows += [dict(base, scenario="Server", target_qps=q, within_bound=False, loadgen_result="INVALID",
                  latency_p99_ms=40.0) for q in (800.0, 400.0, 200.0)]  # fmt: skip
    table = serving_table(pd.DataFrame(rows))
    assert table.frame["peak_qps"].tolist() == [0.0] and table.frame["lowest_tried_qps"].tolist() == [200.0]
    assert table.display["peak QPS at p99 ≤ 15 ms"].tolist() == ["below 200"]
    assert table.display["SingleStream p90 (ms)"].tolist() == ["9"] and table.display["Offline (images/s)"][0] == "800"


def test_the_peaks_interval_ends_at_the_lowest_rate_that_broke_the_bound_else_at_the_offline_rate():
    from suite.report.serving import ceiling

    offline = pd.Series({"samples_per_s": 900.0})
    rows = pd.DataFrame(
        {
            "scenario": ["Server"] * 3,
            "status": ["ok"] * 3,
            "target_qps": [400.0, 600.0, 800.0],
            "within_bound": [True, False, False],
        }
    )
    assert ceiling(rows, offline) == 600.0
    assert ceiling(rows.assign(within_bound=True), offline) == 900.0
    assert ceiling(rows.assign(within_bound=True), None) is None


def test_a_reruns_peak_may_fall_one_search_bracket_below_this_peak():
    from suite.report.serving import floor

    assert floor(400.0, 600.0) == 200.0  # kept 400, broke 600: a rerun's grid may keep anything down to 200
    assert floor(400.0, 1000.0) == 0.0, "never below 0 QPS"
    assert floor(None, 600.0) is None and floor(400.0, None) is None
