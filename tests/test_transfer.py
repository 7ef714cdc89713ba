"""Where transfer weights come from, and that the row says so."""

from __future__ import annotations

import numpy as np
import pytest

from suite import transfer
from suite.case import Case
from suite.models import build_backbone
from suite.profiles import SourceBudget, get_profile
from suite.registry import get_case


def test_scratch_never_gets_weights_and_transfer_never_gets_random_ones(monkeypatch):
    monkeypatch.setattr(transfer, "imagenet_available", lambda arch: False)
    quick, overnight = get_profile("quick"), get_profile("overnight")
    assert transfer.resolve_weights(get_case("resnet50.scratch.digits"), overnight) == "none"
    assert transfer.resolve_weights(get_case("resnet50.frozen.digits"), quick) == "source:glyphs"
    # Offline, the overnight profile's preference for ImageNet falls back to the suite's own source weights.
    assert transfer.resolve_weights(get_case("resnet50.frozen.cifar10"), overnight) == "source:glyphs"
    monkeypatch.setattr(transfer, "imagenet_available", lambda arch: arch != "resnet_scratch")
    assert transfer.resolve_weights(get_case("resnet50.frozen.cifar10"), overnight) == "imagenet"
    assert transfer.resolve_weights(get_case("resnet_scratch.frozen.cifar10"), overnight) == "source:glyphs"


def test_explicit_imagenet_offline_fails_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(transfer, "can_reach", lambda *a, **k: False)
    with pytest.raises(transfer.WeightsUnavailable, match="not in the Keras cache"):
        transfer.load_imagenet(build_backbone("mobilenet_v2", 32), "mobilenet_v2")


def test_weights_file_round_trip_and_shape_mismatch(tmp_path):
    source = build_backbone("simple_cnn", 16)
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    target = build_backbone("simple_cnn", 16)
    case = Case("simple_cnn", "frozen", "digits", weights=str(path))
    assert transfer.load_weights(target, str(path), "simple_cnn", case, SourceBudget()) == str(path)
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), target.get_weights()))
    with pytest.raises(transfer.WeightsUnavailable, match="don't match"):
        transfer.load_weights(build_backbone("simple_cnn", 16, depth=2), str(path), "simple_cnn", case, SourceBudget())
    with pytest.raises(transfer.WeightsUnavailable, match="does not exist"):
        transfer.load_weights(target, str(tmp_path / "nope.weights.h5"), "simple_cnn", case, SourceBudget())


def test_source_pretraining_is_cached_and_reused():
    case = Case("simple_cnn", "frozen", "digits")
    budget = SourceBudget(images_per_class=4, max_images=192, check_images=192, heldout_per_class=1)
    first = build_backbone("simple_cnn", 16)
    random = [w.copy() for w in first.get_weights()]
    assert transfer.load_weights(first, "source:glyphs", "simple_cnn", case, budget) == "source:glyphs"
    path = transfer.source_weights_path("simple_cnn", 16, case, budget)
    assert path.is_file()
    assert not all(np.array_equal(a, b) for a, b in zip(random, first.get_weights())), "pretraining moved the weights"
    stamp = path.stat().st_mtime_ns
    second = build_backbone("simple_cnn", 16)
    transfer.load_weights(second, "source:glyphs", "simple_cnn", case, budget)
    assert path.stat().st_mtime_ns == stamp, "the cached file is reused, not retrained"
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    assert transfer.source_weights_path("simple_cnn", 32, case, budget) != path
