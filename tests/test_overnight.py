"""Surviving the night: the lock, timeouts, crashes, divergence, OOM retries, half rows, full disks, budgets.

The kill-with-SIGKILL-and-resume run itself is the fixture of ``test_end_to_end``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import one_error_line, smoke_args

from suite import storage
from suite.cli import main
from suite.profiles import get_profile
from suite.registry import get_case
from suite.run import estimate
from suite.run.executors import Job
from suite.run.settings import RunSettings, parse_duration

ROW = {"case_id": "simple_cnn.scratch.digits", "seed": 0, "status": "ok", "case_key": "0123456789ab"}


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path, capsys):
    storage.prepare(tmp_path)
    before = storage.results_path(tmp_path).read_bytes()
    with storage.locked(tmp_path):
        assert main(smoke_args("simple_cnn.scratch.digits", results=tmp_path)) == 2
    err = one_error_line(capsys)
    assert f"{tmp_path} is in use by another suite run (pid " in err and "choose another --results" in err
    assert storage.results_path(tmp_path).read_bytes() == before
    with storage.locked(tmp_path):  # released when its holder is done
        pass


def test_a_job_past_its_timeout_is_killed_and_recorded(tmp_path, capsys):
    args = smoke_args("simple_cnn.scratch.digits", results=tmp_path, more=["--timeout", "1s"])
    assert main(args) == 1
    row = storage.read_results(tmp_path).iloc[0]
    assert row["status"] == "failed" and row["error"].startswith("Timeout: no result after 1 s")
    assert row["case_key"] and row["fingerprint"], "a row the worker never wrote still says what and where"
    trace = (tmp_path / "errors" / "simple_cnn.scratch.digits-s0.txt").read_text()
    assert trace.startswith("Timeout") and "last lines of" in trace
    assert (tmp_path / "logs" / "simple_cnn.scratch.digits-s0.log").is_file()
    assert "failed: Timeout" in capsys.readouterr().out


def test_a_worker_that_dies_without_a_result_becomes_a_failed_row(tmp_path):
    from suite.run.executors.local import LocalExecutor

    storage.prepare(tmp_path)
    case = get_case("simple_cnn.scratch.digits")
    unknown = dataclasses.replace(get_profile("smoke"), name="no-such-profile")  # the worker can't look it up
    executor = LocalExecutor(RunSettings.build(unknown, tmp_path, device="cpu", timeout_s=120))
    row = executor.run(Job(case=case, seed=0, key="0123456789ab"), lambda event: None)
    assert row["status"] == "failed"
    assert row["error"] == "Crashed: the worker exited with code 1 without a result"
    assert "unknown profile 'no-such-profile'" in (tmp_path / "errors" / "simple_cnn.scratch.digits-s0.txt").read_text()


def test_training_out_of_memory_retries_at_half_the_batch(tmp_path, monkeypatch):
    import tensorflow as tf

    from suite import train

    real = train.train
    tried = []

    def small_memory(model, backbone, regime, case, *args, **kwargs):
        tried.append(case.batch_size)
        if case.batch_size > 8:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return real(model, backbone, regime, case, *args, **kwargs)

    monkeypatch.setattr(train, "train", small_memory)
    args = smoke_args("simple_cnn.scratch.digits", results=tmp_path, more=["--executor", "inline"])
    assert main(args) == 0
    row = storage.read_results(tmp_path).iloc[0]
    assert tried == [32, 16, 8]
    assert (row["status"], row["batch_size"], row["train_oom_batch"]) == ("ok", 8, 32)


def test_out_of_memory_retrains_a_tuned_case_without_searching_again(tmp_path, monkeypatch):
    """Halving the batch changes the search's hash, so a retry that searched again would start from zero."""
    import tensorflow as tf

    from suite import train
    from suite.profiles import get_profile
    from suite.regimes import REGIMES
    from suite.run.runner import Runner
    from suite.tuning import search

    real, tried, searches = train.train, [], []

    def small_memory(model, backbone, regime, case, *args, **kwargs):
        tried.append(case.batch_size)
        if case.batch_size > 16:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return real(model, backbone, regime, case, *args, **kwargs)

    def found(runner, case, seed):
        searches.append(case.batch_size)
        return search.SearchResult(
            case=case,
            regime=REGIMES["freeze50"],
            best={"dropout": 0.0},
            trials=3,
            seconds=1.5,
            table=tmp_path / "trials.csv",
        )

    monkeypatch.setattr(train, "train", small_memory)
    monkeypatch.setattr(search, "search", found)
    profile = get_profile("smoke")
    runner = Runner(RunSettings.build(profile, storage.prepare(tmp_path).parent, device="cpu"))
    row = runner.run_case(profile.apply(get_case("simple_cnn.tuned.digits")), seed=0)
    assert (row["status"], row["batch_size"], row["train_oom_batch"]) == ("ok", 16, 32), row.get("error")
    assert tried == [32, 16] and searches == [32], "searched once, at the case's own batch"
    assert row["tuner_trials"] == 3


def test_a_half_written_last_row_is_ignored_then_moved_aside(tmp_path):
    storage.prepare(tmp_path)
    storage.append_row(tmp_path, ROW)
    with storage.results_path(tmp_path).open("a") as handle:
        handle.write("simple_cnn.frozen.digits,simple_cnn,fro")  # a kill -9 mid-write
    assert len(storage.read_results(tmp_path)) == 1
    storage.prepare(tmp_path)
    aside = list((tmp_path / "errors").glob("partial-row-*.txt"))
    assert len(aside) == 1 and aside[0].read_text() == "simple_cnn.frozen.digits,simple_cnn,fro"
    storage.append_row(tmp_path, {**ROW, "seed": 1})
    assert storage.read_results(tmp_path)["seed"].tolist() == [0, 1]


def _with_file_size_limit(limit: int, code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a Python whose files can't grow past ``limit`` bytes: a full disk, simulated."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=300)


def test_a_full_disk_cuts_the_row_back_and_keeps_the_rows_written(tmp_path):
    storage.prepare(tmp_path)
    storage.append_row(tmp_path, ROW)
    before = storage.results_path(tmp_path).read_bytes()
    result = _with_file_size_limit(
        len(before) + 20,
        "import sys\nfrom suite import storage\nfrom suite.errors import SuiteError\n"
        f"try:\n    storage.append_row({str(tmp_path)!r}, {dict(ROW, seed=1)!r})\n"
        "except SuiteError as error:\n    print(error)\n    sys.exit(2)\n",
    )
    assert result.returncode == 2 and "no space left to write" in result.stdout, result.stderr
    assert storage.results_path(tmp_path).read_bytes() == before, "the short write was cut back"


def test_suite_run_on_a_full_disk_exits_2_with_one_line(tmp_path):
    results = tmp_path / "r"
    result = _with_file_size_limit(
        200,
        "import sys\nfrom suite.cli import main\n"
        f"sys.exit(main(['run', 'simple_cnn.scratch.digits', '--profile', 'smoke', '--results', {str(results)!r}]))\n",
    )
    ours = [line for line in result.stderr.splitlines() if line.startswith("suite")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(ours) == 1 and "no space left to write" in ours[0] and "rerun the same command" in ours[0]
    assert storage.results_path(results).read_bytes() == b"", "no half header"


def test_a_full_disk_while_a_case_writes_its_side_files_is_a_failed_row(tmp_path):
    results = tmp_path / "r"
    # 40 kB: the header, a row, the history and the traceback fit; the saved model does not
    result = _with_file_size_limit(
        40_000,
        "import sys\nfrom suite.cli import main\n"
        f"sys.exit(main(['run', 'simple_cnn.scratch.digits', '--profile', 'smoke', '--results', {str(results)!r}]))\n",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    row = storage.read_results(results).iloc[0]
    assert row["status"] == "failed" and row["error"] == "OSError: [Errno 27] File too large"
    assert (results / "history" / "simple_cnn.scratch.digits-s0.csv").is_file(), "what was written before stays"
    assert "Errno 27" in (results / "errors" / "simple_cnn.scratch.digits-s0.txt").read_text()


@pytest.mark.parametrize(
    "text, seconds",
    [("8h", 28800), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("2d", 172800), ("600", 600), ("1.5h", 5400)],
)
def test_durations_read_like_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["8 hours", "h", "-5m", "0s", "5m3"])
def test_unreadable_durations_name_the_format(text):
    with pytest.raises(Exception, match="8h, 90m|positive"):
        parse_duration(text)


def test_a_budget_plan_puts_seed_0_first_and_the_short_jobs_before_the_long():
    cases = [
        get_case(i) for i in ("resnet50.scratch.digits", "simple_cnn.scratch.digits", "mobilenet_v2.frozen.digits")
    ]
    seconds = {"resnet50.scratch.digits": 100.0, "simple_cnn.scratch.digits": 10.0, "mobilenet_v2.frozen.digits": None}
    jobs = [Job(case=case, seed=seed, key=case.id) for seed in (1, 0) for case in cases]
    fits, left_out = estimate.fit_budget(jobs, lambda job: seconds[job.case.id], budget_s=125)
    assert [job.label for job in fits] == [
        "simple_cnn.scratch.digits seed 0",
        "resnet50.scratch.digits seed 0",
        "simple_cnn.scratch.digits seed 1",
    ]
    assert [(job.label, s) for job, s in left_out] == [
        ("mobilenet_v2.frozen.digits seed 0", None),
        ("resnet50.scratch.digits seed 1", 100.0),
        ("mobilenet_v2.frozen.digits seed 1", None),
    ]


def test_the_eta_scales_an_unseen_architecture_by_its_work():
    """After small jobs only, a big one is estimated on the line through them, not at a small one's time."""
    gflop = {"simple_cnn.frozen.digits": 5.0, "simple_cnn.scratch.digits": 10.0}
    gflop |= {"resnet_scratch.scratch.digits": 30.0, "resnet50.scratch.digits": 1000.0}
    jobs = {case_id: Job(case=get_case(case_id), seed=0, key=case_id) for case_id in gflop}
    estimates = estimate.Estimates(pd.DataFrame(), lambda job: gflop[job.case.id])
    assert estimates(jobs["resnet50.scratch.digits"]) is None, "nothing finished yet: no estimate"
    for case_id, seconds in (("simple_cnn.frozen.digits", 17.5), ("simple_cnn.scratch.digits", 20.0)):
        estimates.learn(jobs[case_id], seconds)
    assert estimates(jobs["resnet50.scratch.digits"]) == pytest.approx(1000 / (5 / 17.5 + 10 / 20) * 2), (
        "two jobs: no line yet, the median rate"
    )
    estimates.learn(jobs["resnet_scratch.scratch.digits"], 30.0)  # all three on 15 s + GFLOPs / 2 GFLOP/s
    assert estimates.line == pytest.approx((15.0, 2.0))
    assert estimates(jobs["resnet50.scratch.digits"]) == pytest.approx(15.0 + 1000.0 / 2.0)
    assert estimates.remaining([jobs["resnet50.scratch.digits"]], [], "") == pytest.approx(515.0)
    # An architecture timed here: by its own jobs' work (two jobs: their median rate; three spanning twice the work:
    # a line), so a case's first seed, which also trains the rate grid, does not set its later seeds' time.
    bigger = Job(case=get_case("simple_cnn.finetune.digits"), seed=0, key="finetune")
    gflop["simple_cnn.finetune.digits"] = 20.0
    assert estimates(bigger) == pytest.approx(20.0 / (5 / 17.5 + 10 / 20) * 2)
    # Three jobs of nearly one size, nearly one time: a line through them would be flat (about 40 s for any work).
    assert estimate.fit_line([(10.0, 20.0), (12.0, 20.1), (11.0, 20.05)]) == (0.0, pytest.approx(11 / 20.05))
    assert estimate.fit_line([(10.0, 30.0), (20.0, 20.0), (40.0, 25.0)])[0] == 0.0, "a line that falls is not used"


def test_a_budget_probes_new_cases_and_says_what_will_not_fit(tmp_path, capsys):
    args = smoke_args("simple_cnn.scratch.digits", results=tmp_path, more=["--budget", "1s"])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "probing simple_cnn.scratch.digits for --budget" in out
    assert "will not fit: simple_cnn.scratch.digits seed 0 (about " in out and "0 job(s) run" in out
    assert len(storage.read_results(tmp_path)) == 0


def write_toml(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cases.toml"
    path.write_text(body)
    return str(path)


def folder_case(tmp_path: Path, root: Path) -> str:
    return write_toml(tmp_path, f'[[case]]\narch = "simple_cnn"\nregime = "scratch"\ndataset = "folder:{root}"\n')


def make_images(root: Path, counts: dict[str, int]) -> Path:
    from PIL import Image

    root.mkdir(parents=True)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for number in range(count):
            Image.new("RGB", (8, 8), (number * 20, 0, 0)).save(root / name / f"{number}.png")
    return root


def weights_case(tmp_path: Path, weights: Path) -> str:
    body = (
        '[[case]]\nid = "simple_cnn.frozen.digits.mine"\narch = "simple_cnn"\nregime = "frozen"\ndataset = "digits"\n'
        f'weights = "{weights}"\n'
    )
    return write_toml(tmp_path, body)


def mismatched_weights(tmp_path: Path) -> Path:
    import keras

    path = tmp_path / "dense.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(path)
    return path


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t: ["simple_cnn.nope.*"], "no case matches 'simple_cnn.nope.*'"),
        (
            lambda t: ["--cases", write_toml(t, '[[case]]\narch = "simple_cnn"\nregime =\n')],
            "malformed TOML: Invalid value (at line 3, column 9)",
        ),
        (
            lambda t: ["--cases", write_toml(t, '[[case]]\narch = "a"\nregime = "b"\ndataset = "c"\nepochz = 1\n')],
            "unknown key 'epochz'",
        ),
        (lambda t: ["--cases", folder_case(t, t / "missing")], "does not exist"),
        (lambda t: ["--cases", folder_case(t, make_images(t / "empty", {}))], "is empty: it needs one sub-folder"),
        (lambda t: ["--cases", folder_case(t, make_images(t / "one", {"cat": 6}))], "has one class (cat)"),
        (lambda t: ["--cases", weights_case(t, t / "none.weights.h5")], "none.weights.h5 does not exist"),
        (lambda t: ["--cases", weights_case(t, mismatched_weights(t))], "holds 2 arrays that don't match"),
        pytest.param(
            lambda t: ["simple_cnn.scratch.digits", "--device", "gpu"],
            "--device gpu: TensorFlow sees no GPU here",
            marks=pytest.mark.allowed_skip(reason="a GPU machine can't provoke the no-GPU error; CPU machines run it"),
        ),
        (lambda t: ["simple_cnn.scratch.digits", "--budget", "8 hours"], "can't read the duration '8 hours'"),
    ],
    ids=[
        "unknown-pattern",
        "malformed-toml",
        "unknown-toml-key",
        "missing-folder",
        "empty-folder",
        "one-class",
        "missing-weights",
        "weights-misfit",
        "no-gpu",
        "bad-budget",
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make_args, message):
    if "GPU" in message:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            pytest.skip("this machine has a GPU")
    args = smoke_args(*make_args(tmp_path), results=tmp_path / "r")
    assert main(args) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "r" / "results.csv").exists() or len(storage.read_results(tmp_path / "r")) == 0


def test_a_results_folder_that_cant_be_written_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "simple_cnn.scratch.digits", "--results", str(blocker / "r")]) == 2
    assert f"--results {blocker / 'r'} can't be written (Not a directory)" in one_error_line(capsys)


def test_a_dataset_only_some_cases_need_fails_those_cases_as_rows(tmp_path):
    args = ["run", "simple_cnn.scratch.digits", "simple_cnn.scratch.cifar10", "--profile", "smoke", "--formats", "none"]
    assert main([*args, "--results", str(tmp_path / "r"), "--data-dir", str(tmp_path / "tfds")]) == 1
    frame = storage.read_results(tmp_path / "r").set_index("case_id")
    cifar = frame.loc["simple_cnn.scratch.cifar10"]
    assert cifar["status"] == "failed" and cifar["error"].startswith("DatasetUnavailable:")
    assert "suite prepare cifar10" in cifar["error"]
    assert frame.loc["simple_cnn.scratch.digits", "status"] == "ok"


def test_a_case_that_fails_in_training_still_says_how_it_started(tmp_path, monkeypatch):
    from suite import train
    from suite.profiles import get_profile
    from suite.run.runner import Runner

    def broken(*args, **kwargs):
        raise RuntimeError("the loss went away")

    monkeypatch.setattr(train, "train", broken)
    profile = get_profile("smoke")
    row = Runner(RunSettings.build(profile, storage.prepare(tmp_path).parent, device="cpu")).run_case(
        profile.apply(get_case("simple_cnn.scratch.digits")), seed=0
    )
    assert (row["status"], row["error"]) == ("failed", "RuntimeError: the loss went away")
    assert (row["strategy"], row["replicas"], row["weights"], row["image_size"]) == ("none", 1, "none", 32)


def test_a_source_failure_the_full_disk_kept_out_of_the_folder_is_still_known_to_this_process(tmp_path, monkeypatch):
    import errno

    storage.prepare(tmp_path)

    def full(self, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "replace", full)
    storage.record_failed_source(tmp_path, "resnet50@32", "OSError: disk full")
    assert not list((tmp_path / "errors").iterdir()), "no partial file left behind"
    assert storage.failed_source(tmp_path, "resnet50@32") == "OSError: disk full"
    monkeypatch.undo()
    storage.record_failed_source(tmp_path, "mobilenet_v2@32", "OSError: disk full")
    assert storage.failed_source(tmp_path, "mobilenet_v2@32") == "OSError: disk full"
    storage.forget_failed_sources(tmp_path)
    assert storage.failed_source(tmp_path, "resnet50@32") is None
    assert storage.failed_source(tmp_path, "mobilenet_v2@32") is None
