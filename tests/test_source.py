"""Source pretraining: the held-out accuracy it records, a reported set that decides nothing, a cache keyed by
the whole recipe, `suite prepare glyphs`."""

from __future__ import annotations

import dataclasses
import json

import pytest

from suite import source
from suite.case import Case, reaches
from suite.cli import main
from suite.profiles import SourceBudget

TINY = SourceBudget(images_per_class=4, max_images=384, check_images=192, heldout_per_class=2)


def test_record_holds_held_out_and_training_accuracy_and_seconds():
    case = Case("simple_cnn", "frozen", "digits")
    path = source.pretrain_on_source("simple_cnn", 16, case, TINY)
    record = json.loads(source.source_record(path).read_text())
    assert {"source_accuracy", "stop_accuracy", "train_accuracy", "seconds", "images_seen"} <= set(record)
    assert record["images_seen"] == 2 * 192 and len(record["curve"]) == 2  # two checks of 3 batches of 64
    assert 0.0 <= record["source_accuracy"] <= 1.0 and record["seconds"] > 0
    # The reported figure is measured on 104 images of its own: a multiple of 1/104, not the training accuracy.
    assert round(record["source_accuracy"] * 104, 3) == round(record["source_accuracy"] * 104)
    assert source.source_accuracy("simple_cnn", 16, case, TINY) == record["source_accuracy"]
    assert record["recipe"] == source.recipe("simple_cnn", 16, case, TINY)


def test_reaching_the_target_stops_training():
    case = Case("simple_cnn", "frozen", "digits")
    budget = dataclasses.replace(TINY, target_accuracy=1e-9)  # any held-out accuracy above zero reaches it
    record = json.loads(source.source_record(source.pretrain_on_source("simple_cnn", 16, case, budget)).read_text())
    assert len(record["curve"]) == 1 and record["images_seen"] == 192


def test_the_reported_set_decides_nothing(monkeypatch, tmp_path):
    """Blanking the reported set's images leaves the stopping curve, the stop and the images seen as they were.

    On blank images every prediction is the same class, so the reported figure is exactly 1/52, below the
    target: if the reported set decided stopping, the blanked run would spend its whole budget instead (checked:
    passing the reported set to ``fit`` as its validation data fails this test on the curve).
    """
    import numpy as np

    from suite.data import glyphs

    case = Case("simple_cnn", "frozen", "digits")
    # Learns above chance in three checks on this CPU (stopping curve 1.9%, 11.5%, 28.8%; 4 s), so 5% stops it early.
    budget = SourceBudget(
        images_per_class=8,
        max_images=3_072,
        check_images=1_024,
        heldout_per_class=2,
        learning_rate=3e-3,
        batch_size=32,
        target_accuracy=0.05,
    )

    def pretrain(folder: str) -> dict:
        monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / folder))  # the reported set is not in the cache key
        path = source.pretrain_on_source("simple_cnn", 16, case, budget)
        return json.loads(source.source_record(path).read_text())

    honest = pretrain("honest")
    assert honest["images_seen"] < budget.max_images, "the stopping set must stop this run early for the test to bite"
    render = glyphs.make_glyphs

    def blank_reported_set(per_class: int, side: int, seed: int = 0):
        images, labels = render(per_class, side, seed=seed)
        return (np.zeros_like(images) if seed == source.REPORT_SEED else images), labels

    monkeypatch.setattr(glyphs, "make_glyphs", blank_reported_set)
    blanked = pretrain("blanked")
    assert blanked["source_accuracy"] == pytest.approx(1 / 52)  # measured on the blanked images ...
    for key in ("curve", "stop_accuracy", "images_seen", "train_accuracy"):  # ... which chose nothing
        assert blanked[key] == honest[key], key


def test_an_exact_hit_stored_as_float32_reaches_the_target():
    """Keras' accuracy is a float32 mean, handed to callbacks as a Python float: 468/520 (exactly 90%) arrives as
    0.89999998, and must count as 90%."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    exact, short = float(np.float32(468 / 520)), float(np.float32(467 / 520))
    assert exact < 0.9 and reaches(exact, 0.9) and not reaches(short, 0.9)
    assert list(reaches(pd.Series([short, exact]), 0.9)) == [False, True]  # the history column time_to_target reads
    stopper, model = source.ReachTarget(0.9), SimpleNamespace(stop_training=False)
    stopper.set_model(model)
    stopper.on_epoch_end(0, {"val_accuracy": short})
    assert not model.stop_training
    stopper.on_epoch_end(1, {"val_accuracy": exact})
    assert model.stop_training


@pytest.mark.parametrize(
    "change",
    [
        dict(budget=dataclasses.replace(TINY, learning_rate=3e-3)),
        dict(budget=dataclasses.replace(TINY, target_accuracy=0.9)),
        dict(budget=dataclasses.replace(TINY, images_per_class=5)),
        dict(side=24),
        dict(arch="resnet_scratch"),
        dict(case=Case("simple_cnn", "frozen", "digits", depth=2)),
        dict(renderer=2),
        dict(fonts=("DejaVuSans.ttf",)),
        dict(recipe=99),
    ],
)
def test_any_change_to_the_recipe_is_a_new_cache_file(change, monkeypatch):
    from suite.data import glyphs

    args = dict(arch="simple_cnn", side=16, case=Case("simple_cnn", "frozen", "digits"), budget=TINY)
    before = source.source_weights_path(**args)
    assert source.source_weights_path(**args) == before
    if "renderer" in change:
        monkeypatch.setattr(glyphs, "RENDERER_VERSION", change.pop("renderer"))
    if "fonts" in change:
        fonts = change.pop("fonts")
        monkeypatch.setattr(glyphs, "font_names", lambda: fonts)
    if "recipe" in change:
        monkeypatch.setattr(source, "SOURCE_RECIPE", change.pop("recipe"))
    assert source.source_weights_path(**{**args, **change}) != before


def test_prepare_glyphs_pretrains_once_then_skips(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))  # its own cache: other tests may have pretrained this one
    assert main(["prepare", "glyphs", "--profile", "smoke", "--arch", "simple_cnn"]) == 0
    first = capsys.readouterr().out
    assert "simple_cnn at 32px: pretrained, held-out source accuracy" in first
    assert "1 source backbone(s) ready for profile smoke" in first
    files = sorted(source.source_dir().glob("simple_cnn-glyphs-32px-*.weights.h5"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    assert main(["prepare", "glyphs", "--profile", "smoke", "--arch", "simple_cnn"]) == 0
    assert "simple_cnn at 32px: cached, held-out source accuracy" in capsys.readouterr().out
    assert files[0].stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "weekend"], "invalid choice: 'weekend'"),
        (
            ["--arch", "vgg99"],
            "profile quick runs no architecture 'vgg99'; it runs: mobilenet_v2, resnet_scratch, simple_cnn",
        ),
    ],
)
def test_prepare_glyphs_bad_input_is_one_line_and_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["prepare", "glyphs", *args]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_profile_can_budget_one_architecture_apart():
    from suite.profiles import Profile

    profile = Profile(
        name="p", summary="", patterns=("*",), source=TINY, source_budgets=(("resnet5*", dict(max_images=96)),)
    )
    assert profile.source_for("resnet50").max_images == 96
    assert profile.source_for("resnet_scratch") == TINY
    case = Case("resnet50", "frozen", "digits")
    assert source.source_weights_path("resnet50", 32, case, profile.source_for("resnet50")) != (
        source.source_weights_path("resnet50", 32, case, TINY)
    )
