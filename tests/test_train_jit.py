"""Training under XLA where a probe finds it faster: the probe, its cache, the fallbacks, the row's columns."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from suite import storage, train_jit
from suite.registry import get_case

CASE = dataclasses.replace(get_case("simple_cnn.scratch.digits"), batch_size=4)
SIDE = 8  # simple_cnn's smallest input: the cheapest XLA compile there is


def no_probe(*args):
    pytest.fail("probed where the answer was known")


def test_a_real_probe_times_both_modes_and_is_cached_per_shape(monkeypatch):
    chosen = train_jit.choose(CASE, SIDE, 10)
    assert chosen.speedup > 0 and chosen.jit_compile is (chosen.speedup >= train_jit.MIN_SPEEDUP)
    assert chosen.note.startswith(("on: probe", "off: probe")) and f"{chosen.speedup:.2f}x" in chosen.note
    monkeypatch.setattr(train_jit, "probe", no_probe)
    again = train_jit.choose(CASE, SIDE, 10)
    assert (again.jit_compile, again.speedup, again.note) == (
        chosen.jit_compile,
        chosen.speedup,
        chosen.note + " (cached)",
    )
    with pytest.raises(pytest.fail.Exception):  # another batch is another shape
        train_jit.choose(dataclasses.replace(CASE, batch_size=8), SIDE, 10)


def test_a_mirrored_case_trains_without_xla_unprobed(monkeypatch):
    monkeypatch.setattr(train_jit, "probe", no_probe)
    chosen = train_jit.choose(dataclasses.replace(CASE, strategy="mirrored"), SIDE, 10)
    assert (chosen.jit_compile, chosen.speedup) == (False, None) and "tf.distribute" in chosen.note


def test_xla_failing_in_the_probe_means_off_said_so_and_not_cached(monkeypatch):
    case = dataclasses.replace(CASE, batch_size=5)
    calls = []

    def step(case, side, num_classes, jit):
        calls.append(jit)
        if jit:
            raise RuntimeError("XLA can't compile MaxPool here\ndetails")
        return lambda: 0.01

    monkeypatch.setattr(train_jit, "_step", step)
    first = train_jit.choose(case, SIDE, 10)
    assert (first.jit_compile, first.speedup) == (False, None)
    assert first.note == "off: XLA failed in the probe (RuntimeError: XLA can't compile MaxPool here)"
    assert train_jit.choose(case, SIDE, 10) == first and calls == [False, True, False, True]  # tried again


def test_keras_refusing_xla_for_the_model_means_off(monkeypatch):
    monkeypatch.setattr(train_jit, "_step", lambda case, side, classes, jit: None if jit else (lambda: 0.01))
    chosen = train_jit.choose(dataclasses.replace(CASE, batch_size=6), SIDE, 10)
    assert (chosen.jit_compile, chosen.speedup) == (False, None) and "doesn't support" in chosen.note


@pytest.mark.parametrize(("graph_s", "xla_s", "on"), [(0.10, 0.05, True), (0.10, 0.098, False), (0.05, 0.10, False)])
def test_xla_is_used_only_when_clearly_faster(monkeypatch, graph_s, xla_s, on):
    monkeypatch.setattr(train_jit, "_step", lambda case, side, classes, jit: lambda: xla_s if jit else graph_s)
    chosen = train_jit.probe(CASE, SIDE, 10)
    assert chosen.jit_compile is on and chosen.speedup == pytest.approx(graph_s / xla_s)


def test_training_that_fails_under_xla_is_trained_again_without_it(monkeypatch, tmp_path):
    import tensorflow as tf

    from suite.profiles import get_profile
    from suite.run import steps
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    runner = Runner(RunSettings.build(get_profile("quick"), tmp_path, device="cpu"))
    built_with = []

    def build(runner, case, seed, inputs, xla=True):
        built_with.append(xla)
        choice = (
            train_jit.Choice(jit_compile=True, speedup=1.5, note="on: probe")
            if xla
            else train_jit.Choice(jit_compile=False, speedup=None, note="off: failed")
        )
        model = SimpleNamespace(jit_compile=choice.jit_compile)
        return steps.Built(model, None, None, case, {"replicas": 1, **choice.columns}, choice.jit_compile)

    def train(runner, case, seed, regime, inputs, built):
        if built.jit_compile:
            raise tf.errors.InvalidArgumentError(None, None, "Detected unsupported operations when compiling")
        return SimpleNamespace(columns={"epochs": 1})

    monkeypatch.setattr(steps, "build", build)
    monkeypatch.setattr(steps, "train", train)
    monkeypatch.setattr(steps, "evaluate", lambda *args: SimpleNamespace(model="m", columns={}))
    row: dict = {}
    assert runner._fit(CASE, None, 0, None, row) == "m"
    assert built_with == [True, False]
    assert (row["train_jit_compile"], row["train_jit_speedup"], row["epochs"]) == (False, None, 1)


def test_auto_leaves_the_choice_to_keras_and_the_row_to_what_it_resolved():
    assert train_jit.AUTO.jit_compile == "auto" and train_jit.AUTO.columns["train_jit_compile"] is None


def test_the_rows_xla_columns_are_in_the_schema_and_documented():
    readme = (Path(__file__).resolve().parent.parent / "results" / "README.md").read_text()
    for column in train_jit.Choice(jit_compile=True, speedup=1.0, note="").columns:
        assert column in storage.COLUMNS and f"`{column}`" in readme
