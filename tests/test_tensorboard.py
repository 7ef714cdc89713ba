"""TensorBoard: every case's epochs and fields as HParams under ``DIR/tensorboard/<case_id>-s<seed>/``, read back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

from suite.profiles import get_profile
from suite.registry import get_case
from suite.train import TensorBoardRun, case_hparams, tensorboard_dir

TRAIN_TAGS = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}  # Keras' names, in the run's train/
VAL_TAGS = {"epoch_loss", "epoch_accuracy"}  # val_loss and val_accuracy, in the run's validation/


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of one event folder: tag -> [(step, value)], by step.

    Sorted because the reader walks event files in name order, and two files
    opened in one second sort by their counter as text (``.11`` before ``.8``).
    """
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    out = {tag: [(e.step, float(e.value)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    for tag in events.Tags()["tensors"]:  # TF2 summaries are stored as tensors
        out[tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
    return {tag: sorted(points) for tag, points in out.items()}


def hparams(folder: Path) -> dict[str, object]:
    """The HParams session's values written at the top of a run folder (``{}`` if there are none)."""
    events = EventAccumulator(str(folder))
    events.Reload()
    for content in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            values = data.session_start_info.hparams
            return {k: getattr(v, v.WhichOneof("kind")) for k, v in values.items()}
    return {}


def tiny_fit(board: TensorBoardRun, epochs: int) -> None:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.rand(16, 2), keras.utils.to_categorical(np.arange(16) % 2, 2)
    model.fit(x, y, validation_data=(x, y), epochs=epochs, callbacks=[board], verbose=0)


def test_phases_number_epochs_on_and_hparams_are_written_once(tmp_path):
    """A head phase of 2 epochs then a fine-tune phase of 3: one run, steps 0..4, one HParams session."""
    run = tmp_path / "case-s0"
    board = TensorBoardRun(run, {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 8, "mixup": False})
    tiny_fit(board, 2)
    tiny_fit(board, 3)
    train, val = scalars(run / "train"), scalars(run / "validation")
    assert TRAIN_TAGS <= set(train) and VAL_TAGS <= set(val)
    assert [step for step, _ in train["epoch_loss"]] == [0, 1, 2, 3, 4]
    assert [step for step, _ in val["epoch_accuracy"]] == [0, 1, 2, 3, 4]
    assert hparams(run) == {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 8, "mixup": False}
    assert len(list(run.glob("events.out.tfevents.*"))) == 1

    (run / "trials" / "0").mkdir(parents=True)
    again = TensorBoardRun(run, {"optimizer": "sgd"})  # a retry starts clean, and leaves the search's trials
    tiny_fit(again, 1)
    assert [step for step, _ in scalars(run / "train")["epoch_loss"]] == [0]
    assert hparams(run) == {"optimizer": "sgd"} and (run / "trials" / "0").is_dir()


def test_case_hparams_are_the_scalar_fields_and_the_extras():
    case = get_case("simple_cnn.scratch.digits")
    values = case_hparams(case, seed=3)
    assert values["seed"] == 3 and values["optimizer"] == case.optimizer
    assert values["learning_rate"] == case.learning_rate and values["batch_size"] == case.batch_size
    assert all(isinstance(v, (str, int, float, bool)) for v in values.values())
    scalar = {f.name for f in dataclasses.fields(case) if isinstance(getattr(case, f.name), (str, int, float, bool))}
    assert set(values) == scalar | {"seed"} and "id" in values  # the case id names the run in the HParams table


def test_one_smoke_case_writes_its_epochs_and_fields(tmp_path):
    """A real case (about 10 s): the run's scalars per epoch match its history, its HParams its case."""
    from suite import storage
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    storage.prepare(tmp_path)  # the folders a run makes, tensorboard/ among them
    assert (tmp_path / "tensorboard").is_dir()
    profile = get_profile("smoke")
    case = profile.apply(get_case("simple_cnn.scratch.digits"))
    row = Runner(RunSettings.build(profile, tmp_path, device="cpu")).run_case(case, 0)
    assert row["status"] == "ok", row.get("error")
    run = tensorboard_dir(tmp_path, case.id, 0)
    assert run == tmp_path / "tensorboard" / f"{case.id}-s0"
    history = pd.read_csv(tmp_path / "history" / f"{case.id}-s0.csv")
    train, val = scalars(run / "train"), scalars(run / "validation")
    assert TRAIN_TAGS <= set(train) and VAL_TAGS <= set(val)
    assert [step for step, _ in train["epoch_loss"]] == list(range(len(history)))
    assert [v for _, v in train["epoch_loss"]] == pytest.approx(history["loss"].tolist(), rel=1e-5)
    assert [v for _, v in val["epoch_accuracy"]] == pytest.approx(history["val_accuracy"].tolist(), rel=1e-5)
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx(history["lr"].tolist(), rel=1e-5)
    fields = hparams(run)
    assert fields["seed"] == 0 and fields["optimizer"] == case.optimizer
    assert fields["learning_rate"] == pytest.approx(case.learning_rate)
    assert fields["batch_size"] == row["batch_size"]


def test_each_trial_of_a_search_gets_its_own_run_under_the_case(tmp_path, monkeypatch):
    """The tuner points the hypermodel at ``tensorboard/<case_id>-s<seed>/trials/<trial_id>`` before each fit."""
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings
    from suite.tuning import hypermodel, search

    seen: list[Path] = []

    def fit(self, hp, model, epochs=None, initial_epoch=0):
        seen.append(self.board_dir)
        return {"score": 0.5, "val_accuracy": 0.5, "epochs": 1.0, "train_seconds": 0.0}

    monkeypatch.setattr(hypermodel.CaseHyperModel, "build", lambda self, hp: None)
    monkeypatch.setattr(hypermodel.CaseHyperModel, "fit", fit)
    case = dataclasses.replace(get_profile("smoke").apply(get_case("simple_cnn.tuned.digits")), trials=2)
    search.search(Runner(RunSettings.build(get_profile("smoke"), tmp_path, device="cpu")), case, seed=1)
    root = tmp_path / "tensorboard" / f"{case.id}-s1" / "trials"
    assert seen == [root / "0", root / "1"]
