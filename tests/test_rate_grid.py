"""suite.run.rate_grid: every regime's learning rate is chosen from one small grid, on validation only."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from suite import storage
from suite.case import Case, grid_rates, grid_rung
from suite.profiles import get_profile
from suite.run import rate_grid, steps
from suite.run.runner import Runner
from suite.run.settings import RunSettings


def test_the_grid_is_log_spaced_around_the_case_rate_and_the_rung_trains_a_third_of_the_epochs():
    case = Case("simple_cnn", "finetune", "digits", learning_rate=3e-3, lr_grid=3, epochs=8, early_stopping=4)
    assert grid_rates(case) == pytest.approx((1e-3, 3e-3, 9e-3))
    assert grid_rates(dataclasses.replace(case, lr_grid=0)) == (3e-3,)
    short = grid_rung(case, 1e-3)
    assert (short.learning_rate, short.epochs, short.head_epochs, short.early_stopping) == (1e-3, 3, 2, 0)


def test_a_case_without_a_grid_keeps_its_rate_and_its_identity():
    case = Case("simple_cnn", "scratch", "digits")
    assert rate_grid.choose_rate(None, case, None, 0, None) == (case, {})
    assert "lr_grid" not in json.loads(case.to_json()), "results written before the grid keep their keys"


def test_the_grid_trains_on_training_images_scores_on_validation_and_never_reads_the_test_split(monkeypatch, tmp_path):
    read = []
    real_case_split = steps.case_split

    def case_split(case, raw, split, **kwargs):
        read.append(split)
        return real_case_split(case, raw, split, **kwargs)

    real_training_split = steps.training_split

    def training_split(case, raw, **kwargs):
        read.append("train")
        return real_training_split(case, raw, **kwargs)

    monkeypatch.setattr(steps, "case_split", case_split)
    monkeypatch.setattr(steps, "training_split", training_split)
    runner = Runner(RunSettings.build(get_profile("smoke"), tmp_path, device="cpu"))
    case = get_profile("smoke").apply(Case("simple_cnn", "scratch", "digits", lr_grid=3))
    inputs = steps.resolve(runner, case)
    chosen, columns = rate_grid.choose_rate(runner, case, steps.REGIMES["scratch"], 0, inputs)
    assert read == ["train", "val"] * 3, "three rungs, each on the training and validation splits alone"
    scores = pd.read_csv(storage.case_file(tmp_path, "rate_grid", case.id, 0, ".csv"))
    assert scores["learning_rate"].tolist() == pytest.approx(grid_rates(case))
    assert scores["chosen"].sum() == 1
    best = scores.loc[scores["chosen"]].iloc[0]
    assert best["val_accuracy"] == scores["val_accuracy"].max()
    assert chosen.learning_rate == columns["learning_rate"] == pytest.approx(best["learning_rate"])
    assert chosen.epochs == case.epochs, "the chosen rate then trains the whole budget"


def test_the_grid_runs_on_the_first_seed_and_the_later_seeds_train_at_its_choice(monkeypatch, tmp_path):
    """One grid per case: seed 0's validation picks the rate, seeds 1-2 reuse it; an edited case searches again."""
    rungs = []
    scores = {1e-3: 0.5, 3e-3: 0.6, 9e-3: 0.9}
    paid = iter([12.5, 0.0, 0.0])  # the first rung pretrains the missing source; the others find it cached
    monkeypatch.setattr(
        steps,
        "build",
        lambda runner, trial, seed, inputs: SimpleNamespace(columns={"source_pretrain_seconds": next(paid, 0.0)}),
    )

    def rehearse(trial, seed, regime, inputs, built):
        rungs.append((seed, trial.learning_rate))
        return scores[round(trial.learning_rate, 6)]

    monkeypatch.setattr(steps, "rehearse", rehearse)
    runner = Runner(RunSettings.build(get_profile("smoke"), tmp_path, device="cpu", seeds=3))
    case = Case("simple_cnn", "scratch", "digits", learning_rate=3e-3, lr_grid=3)
    first, columns = rate_grid.choose_rate(runner, case, steps.REGIMES["scratch"], 0, None)
    assert len(rungs) == 3 and columns == {
        "learning_rate": pytest.approx(9e-3),
        "learning_rate_seed": 0,
        rate_grid.GRID_PRETRAIN: 12.5,
    }, "the grid hands on what its rungs spent pretraining, for the row's source_pretrain_seconds"
    later, columns = rate_grid.choose_rate(runner, case, steps.REGIMES["scratch"], 2, None)
    assert len(rungs) == 3, "seed 2 trained no rung"
    assert later.learning_rate == pytest.approx(9e-3) and columns["learning_rate_seed"] == 0
    edited = dataclasses.replace(case, epochs=case.epochs + 1)
    rate_grid.choose_rate(runner, edited, steps.REGIMES["scratch"], 1, None)
    assert [seed for seed, _ in rungs[3:]] == [1, 1, 1], "another case's grid is never reused: seed 1 searches"
