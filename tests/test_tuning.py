"""The tuned regime: search space from a case, resume after a kill, chief/worker search, latency budget."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from suite import search_space as space_module
from suite.errors import SuiteError
from suite.profiles import get_profile
from suite.regimes import REGIMES
from suite.registry import get_case, validate

CASE = "simple_cnn.tuned.digits"
SMOKE_TRIALS = 3  # the smoke profile's trials for *.tuned.* (suite/profiles.py): an input, not an output


def smoke_case(**fields):
    return dataclasses.replace(get_profile("smoke").apply(get_case(CASE)), **fields)


def suite_command(results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "suite", "tune", CASE, "--profile", "smoke", "--results", str(results), *extra]


def trials_table(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "tuning" / CASE / "trials.csv")


# --- the space ---------------------------------------------------------------------------------------------


def test_every_architecture_has_a_tuned_case():
    from suite.models import ARCHITECTURES
    from suite.registry import list_cases

    assert {f"{arch}.tuned.digits" for arch in ARCHITECTURES} <= set(list_cases("*.tuned.digits"))


def test_case_space_narrows_widens_and_fixes_the_default():
    case = smoke_case(
        search_space=json.dumps({"optimizer": {"choices": ["adam", "nadam"]}, "momentum": {"min": 0.8, "max": 0.99}})
    )
    space = space_module.resolve_space(case)
    assert space["optimizer"] == {"choices": ["adam", "nadam"]}
    assert space["momentum"] == {"min": 0.8, "max": 0.99, "log": False}
    assert space["learning_rate"]["log"] is True  # the rest of the default is kept
    fixed = smoke_case(search_space='{"dropout": 0.3}')
    tuned, regime = space_module.configure(
        fixed, REGIMES["tuned"], space_module.resolve_space(fixed), {"freeze_fraction": 1.0, "optimizer": "nadam"}
    )
    assert (tuned.dropout, tuned.optimizer) == (0.3, "nadam")
    assert regime.freeze_fraction == 1.0 and not regime.head_first  # fully frozen: head only, in one phase
    assert space_module.space_hash(space) != space_module.space_hash(space_module.resolve_space(fixed))


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"epochs": 3}', "can't tune 'epochs'"),
        ('{"optimizer": {"choices": ["adam", 1]}}', "choices must all be strs"),
        ('{"learning_rate": {"min": 0, "max": 1, "log": true}}', "min > 0 on a log scale"),
        ('{"dropout": {"min": 0.5, "max": 0.1}}', "min < max"),
        ("[1, 2]", "must be an object"),
    ],
)
def test_bad_spaces_are_one_line_errors(text, message):
    with pytest.raises(SuiteError, match=re.escape(message)):
        validate(smoke_case(search_space=text))


def test_toml_inline_table_becomes_the_case_space(tmp_path):
    from suite.config import load_cases

    path = tmp_path / "cases.toml"
    path.write_text(
        '[[case]]\narch = "simple_cnn"\nregime = "tuned"\ndataset = "digits"\nid = "simple_cnn.tuned.digits.adam"\n'
        'search_space = {optimizer = {choices = ["adam", "adamw"]}, dropout = 0.1}\n'
    )
    (case,) = load_cases(path)
    assert json.loads(case.search_space) == {"dropout": 0.1, "optimizer": {"choices": ["adam", "adamw"]}}
    assert space_module.resolve_space(case)["optimizer"] == {"choices": ["adam", "adamw"]}


def test_latency_budget_makes_slow_trials_infeasible_but_still_ranked():
    from suite.tuning.hypermodel import score

    assert score(0.9, 4.0, 5.0) == 0.9
    assert score(0.9, 6.0, 5.0) == pytest.approx(-0.1)
    assert score(0.9, 6.0, 5.0) < score(0.2, 4.0, 5.0) < score(0.3, 4.0, 5.0)
    assert score(0.9, 600.0, 0.0) == 0.9  # no budget: accuracy alone


def tiny_model():
    """Stands for the case's model where a test stubs training out: it has weights to save and load."""
    import keras

    return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])


# --- resume ------------------------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for a kill: KerasTuner catches Exception in a trial, not BaseException, so the search stops dead."""


def test_a_trial_killed_every_time_is_failed_not_rerun_forever(tmp_path, monkeypatch):
    """KerasTuner issue #439: a RUNNING trial left in the oracle's state must not loop or block the search."""
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings
    from suite.tuning import hypermodel, search

    runs: list[str] = []

    def fit(self, hp, model, epochs=None, initial_epoch=0):
        runs.append(hp.values["optimizer"] + str(hp.values["learning_rate"]))
        if len(runs) in (2, 3):  # the second trial dies, and dies again on the first resume
            raise Killed
        return {"score": 0.5, "val_accuracy": 0.5, "epochs": 1.0, "train_seconds": 0.0}

    monkeypatch.setattr(hypermodel.CaseHyperModel, "build", lambda self, hp: None)
    monkeypatch.setattr(hypermodel.CaseHyperModel, "fit", fit)
    runner = Runner(RunSettings.build(get_profile("smoke"), tmp_path, device="cpu"))
    case = smoke_case()
    for _ in range(2):
        with pytest.raises(Killed):
            search.search(runner, case, seed=0)
    found = search.search(runner, case, seed=0)

    table = trials_table(tmp_path)
    assert sorted(table["trial"]) == list(range(SMOKE_TRIALS))  # each trial once
    assert table.set_index("trial")["status"].to_dict() == {0: "COMPLETED", 1: "FAILED", 2: "COMPLETED"}
    assert "never finished" in table.set_index("trial").loc[1, "message"]
    assert len(runs) == 4 and runs[1] == runs[2] != runs[3]  # trial 1 rerun once, under the same values
    assert found.trials == SMOKE_TRIALS


def test_a_search_killed_mid_way_resumes_without_redoing_finished_trials(tmp_path):
    """SIGKILL while the second trial runs; the rerun finishes it and the third, and trial 0 is not run again."""
    search_root = tmp_path / "tuning" / CASE
    first = subprocess.Popen(
        suite_command(tmp_path, "--device", "cpu"), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 240
    while not list(search_root.glob("*/trial_1/starts.txt")):
        assert first.poll() is None, "the search ended before its second trial started"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (folder,) = [p for p in search_root.iterdir() if p.is_dir()]
    assert json.loads((folder / "trial_1" / "trial.json").read_text())["status"] == "RUNNING"

    done = subprocess.run(suite_command(tmp_path, "--device", "cpu"), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    table = trials_table(tmp_path)
    assert sorted(table["trial"]) == list(range(SMOKE_TRIALS))
    assert set(table["status"]) == {"COMPLETED"}
    starts = {t: int((folder / f"trial_{t}" / "starts.txt").read_text()) for t in range(SMOKE_TRIALS)}
    assert starts == {0: 1, 1: 2, 2: 1}


# --- distributed -------------------------------------------------------------------------------------------


CHIEF_SERVES = re.compile(r"chief: serving the oracle on (\S+:\d+)")  # suite.tuning.distributed.serve logs it


def start_chief(results: Path, env: dict) -> tuple[subprocess.Popen, threading.Thread, list[str], str]:
    """A chief bound to port 0, so the system picks a free port at the bind itself (a port probed, closed and bound
    later can be taken meanwhile); returns it, the thread collecting its output, that output, and its address."""
    chief = subprocess.Popen(
        suite_command(results, "--chief", "--bind", "127.0.0.1:0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    serving = threading.Event()

    def collect() -> None:
        for line in chief.stdout:
            lines.append(line)
            if CHIEF_SERVES.search(line):
                serving.set()
        serving.set()  # it ended without serving: the assertion below shows its output

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    serving.wait(timeout=240)
    found = [m.group(1) for m in map(CHIEF_SERVES.search, lines) if m]
    if not found:
        chief.kill()
    assert found, "the chief never served:\n" + "".join(lines)
    return chief, reader, lines, found[0]


def test_chief_and_two_workers_on_loopback_run_every_trial_exactly_once(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    chief, reader, chief_lines, address = start_chief(tmp_path, env)
    workers = [
        subprocess.Popen(
            suite_command(tmp_path, "--worker", name, "--oracle", address, "--device", "cpu"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for name in ("w0", "w1")
    ]
    try:
        logs = [worker.communicate(timeout=300)[0] for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), logs
        chief.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        for process in (chief, *workers):
            if process.poll() is None:
                process.kill()
    assert chief.returncode == 0, "".join(chief_lines)
    ran = [int(t) for log in logs for t in re.findall(rf"{re.escape(CASE)} trial (\d+): score", log)]
    assert sorted(ran) == list(range(SMOKE_TRIALS))  # every trial, none twice, across both workers
    table = trials_table(tmp_path)
    assert sorted(table["trial"]) == list(range(SMOKE_TRIALS)) and set(table["status"]) == {"COMPLETED"}


def test_a_second_chief_on_a_served_port_is_refused_not_shared():
    """gRPC's default SO_REUSEPORT would let two chiefs share one port and split the workers between them."""
    import grpc

    from suite.tuning.distributed import serve

    first = grpc.server(ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 1)])
    port = first.add_insecure_port("127.0.0.1:0")
    first.start()
    outcome: list[BaseException] = []

    def second_chief() -> None:
        try:
            serve(oracle=None, host="127.0.0.1", port=port)  # serves forever if it shares the port
        except BaseException as error:
            outcome.append(error)

    try:
        attempt = threading.Thread(target=second_chief, daemon=True)
        attempt.start()
        attempt.join(timeout=30)
    finally:
        first.stop(grace=None)
    assert not attempt.is_alive(), f"a second chief is serving 127.0.0.1:{port} too"
    assert isinstance(outcome[0], SuiteError) and f"can't listen on 127.0.0.1:{port} (in use?)" in str(outcome[0])


# --- the whole case ----------------------------------------------------------------------------------------


def test_tune_with_a_latency_budget_scores_each_trial_by_its_latency(tmp_path, monkeypatch, capsys):
    """Trials scripted under, over and exactly at the budget: only the one over it scores val_accuracy - 1."""
    from suite.cli import main
    from suite.tuning import hypermodel

    measure = hypermodel.batch1_latency_ms
    scripted = iter([0.5, 2.0, 1.0])  # ms, trials 0, 1 and 2 in order, against a 1 ms budget
    sides: list[int] = []

    def latency_ms(model, side, calls=hypermodel.LATENCY_CALLS):
        sides.append(side)
        assert math.isfinite(measure(model, side, calls=2))  # the real measurement still runs on the trial's model
        return next(scripted)

    monkeypatch.setattr(hypermodel, "batch1_latency_ms", latency_ms)
    command = ["tune", CASE, "--profile", "smoke", "--results", str(tmp_path), "--device", "cpu"]
    assert main([*command, "--latency-budget-ms", "1"]) == 0
    table = trials_table(tmp_path).set_index("trial").sort_index()
    assert sides == [32] * SMOKE_TRIALS  # digits' 32 px, once per trial
    assert table["latency_ms"].tolist() == [0.5, 2.0, 1.0] and set(table["latency_budget_ms"]) == {1.0}
    assert table["feasible"].tolist() == [True, False, True]  # at the budget is within it
    assert (table["score"] - table["val_accuracy"]).tolist() == pytest.approx([0.0, -1.0, 0.0], abs=1e-12)
    best = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    best_trial = table["score"].idxmax()
    assert table.loc[best_trial, "feasible"]  # a feasible trial beats an infeasible one, however accurate
    assert "learning_rate" in best
    assert best == {k[3:]: v for k, v in table.loc[best_trial].items() if k.startswith("hp_") and "tuner" not in k}


def test_a_trial_of_a_cut_case_trains_the_whole_splits_steps(monkeypatch):
    """A trial at 5 digits per class repeats its 50 images for the whole split's 40 steps an epoch, as the
    runner's final training does, not 2 steps of one pass (1/20 of the training its score stands for)."""
    import keras_tuner

    from suite import train as training
    from suite.data.loaders import load
    from suite.tuning import hypermodel

    raw = load("digits")
    runner = SimpleNamespace(profile=get_profile("smoke"), dataset=lambda name, side: raw)
    case = smoke_case(train_per_class=5, train_limit=0, batch_size=32)
    model = hypermodel.CaseHyperModel(case, REGIMES["tuned"], {}, runner, "none", seed=0)
    seen = {}

    def fake_train(model, backbone, regime, case, fit):
        seen.update(images=fit.images, steps=fit.steps_per_epoch, batches=len(list(fit.train.take(41))))
        return SimpleNamespace(epochs=1, seconds=0.0)

    monkeypatch.setattr(training, "train", fake_train)
    trained = SimpleNamespace(evaluate=lambda data, **kw: {"accuracy": 0.5})
    model.fit(keras_tuner.HyperParameters(), trained)
    assert seen == {"images": 50, "steps": math.ceil(1257 / 32), "batches": 41}, "repeated past one pass"


def test_bad_tune_input_is_one_line_and_exit_2(capsys):
    from suite.cli import main

    assert main(["tune", "simple_cnn.scratch.digits", "--profile", "smoke"]) == 2
    assert "regime tuned" in capsys.readouterr().err
    assert main(["tune", CASE, "--worker", "w0", "--oracle", "nowhere"]) == 2
    assert "ADDR:PORT" in capsys.readouterr().err


@pytest.mark.parametrize("tuner", ["random", "hyperband", "bayesian"])
def test_every_tuner_runs_its_trials_and_hyperband_sets_the_epochs(tmp_path, monkeypatch, tuner):
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings
    from suite.tuning import hypermodel, search

    seen: list[tuple[int | None, int]] = []

    def fit(self, hp, model, epochs=None, initial_epoch=0):
        seen.append((epochs, initial_epoch))
        return {"score": hp.values["learning_rate"], "val_accuracy": 0.5, "epochs": 1.0, "train_seconds": 0.0}

    monkeypatch.setattr(hypermodel.CaseHyperModel, "build", lambda self, hp: tiny_model())
    monkeypatch.setattr(hypermodel.CaseHyperModel, "fit", fit)
    case = smoke_case(tuner=tuner, trials=5, trial_epochs=3)  # bayesian: 2 random, then 3 from its model
    found = search.search(Runner(RunSettings.build(get_profile("smoke"), tmp_path, device="cpu")), case, seed=0)
    table = trials_table(tmp_path)
    # every tuner spends the whole budget: Hyperband at max 3 epochs runs 3 one-epoch trials, continues one to 3
    # epochs, then starts one more bracket, 5 trials in all
    assert found.trials == len(table) == len(seen) == case.trials
    assert found.best["learning_rate"] == table["hp_learning_rate"].max()  # the best score wins
    if tuner == "hyperband":
        assert all(epochs is not None and 1 <= epochs <= 3 for epochs, _ in seen)
        assert "hp_tuner_epochs" in table
    else:
        assert all(epochs is None for epochs, _ in seen)


def test_a_hub_module_is_searched_frozen_whole_or_trained_whole():
    import dataclasses

    from suite.errors import SuiteError
    from suite.registry import get_case
    from suite.search_space import resolve_space

    case = get_case("hub_mobilenet_v2.tuned.digits")
    assert resolve_space(case)["freeze_fraction"] == {"choices": [0.0, 1.0]}
    assert resolve_space(get_case("mobilenet_v2.tuned.digits"))["freeze_fraction"]["choices"][1] == 0.25
    with pytest.raises(SuiteError, match="frozen whole"):
        resolve_space(dataclasses.replace(case, search_space='{"freeze_fraction": {"choices": [0.5, 1.0]}}'))
