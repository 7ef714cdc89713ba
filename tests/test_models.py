"""Every architecture builds and trains a step; regimes freeze what they say they freeze."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from suite.models import ARCHITECTURES, build_backbone, build_classifier
from suite.regimes import REGIMES
from suite.registry import OPTIMIZERS, Case
from suite.train import freeze, train


def tiny_data(side: int, n: int = 16, classes: int = 3):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (n, side, side, 3)).astype("float32")
    labels = tf.one_hot(rng.integers(0, classes, n), classes)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


def build(arch: str, regime: str, side: int, **fields):
    case = Case(arch, regime, "digits", epochs=1, head_epochs=1, batch_size=8, **fields)
    backbone = build_backbone(arch, side, depth=case.depth, handle=case.handle)
    model = build_classifier(backbone, 3)
    return case, backbone, model


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_builds_and_takes_a_training_step(arch, hub_stand_in):
    side = ARCHITECTURES[arch].min_size
    fields = {"handle": hub_stand_in} if ARCHITECTURES[arch].hub else {}  # offline: the stand-in module
    case, backbone, model = build(arch, "scratch", side, **fields)  # everything trainable
    assert model.input_shape == (None, side, side, 3) and model.output_shape == (None, 3)
    assert model.get_layer(arch) is backbone and model.get_layer("classifier").units == 3
    before = [w.numpy().copy() for w in backbone.trainable_weights[:3]]
    result = train(model, backbone, REGIMES["scratch"], case, tiny_data(side), tiny_data(side, 8), 16)
    assert result.epochs == 1 and np.isfinite(result.history["loss"]).all()
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, backbone.trainable_weights[:3]))


def test_resnet_scratch_has_identity_and_projection_shortcuts_and_configurable_depth():
    backbone = build_backbone("resnet_scratch", 32, depth=14)
    names = [layer.name for layer in backbone.layers]
    assert sum(n.endswith("_add") for n in names) == 6  # (14 - 2) / 6 = 2 blocks x 3 stages
    assert sum(n.endswith("_proj_conv") for n in names) == 2  # where width and stride change
    assert backbone.output_shape == (None, 8, 8, 64)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        build_backbone("resnet_scratch", 32, depth=15)


def test_batch_norm_momentum_is_set_on_every_layer():
    backbone = build_backbone("mobilenet_v2", 32, bn_momentum=0.9)
    momenta = {layer.momentum for layer in backbone.layers if hasattr(layer, "moving_mean")}
    assert momenta == {0.9}


def test_freeze_fraction_freezes_the_first_layers():
    backbone = build_backbone("resnet_scratch", 32)
    weighted = [layer for layer in backbone.layers if layer.weights]
    frozen = freeze(backbone, 0.5)
    assert frozen == round(len(weighted) / 2)
    assert not any(layer.trainable for layer in weighted[:frozen])
    assert all(layer.trainable for layer in weighted[frozen:])
    assert freeze(backbone, 1.0) == len(weighted) and not backbone.trainable
    freeze(backbone, 0.0, batch_norm_frozen=True)
    assert all(layer.trainable != ("_bn" in layer.name) for layer in weighted)


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


def test_frozen_regime_leaves_the_backbone_untouched():
    case, backbone, model = build("simple_cnn", "frozen", 16)
    before = weights_of(backbone)
    head = model.get_layer("classifier").kernel.numpy().copy()
    train(model, backbone, REGIMES["frozen"], dataclasses.replace(case, epochs=2), tiny_data(16), tiny_data(16), 16)
    assert all(np.array_equal(b, a) for b, a in zip(before, weights_of(backbone)))
    assert not np.allclose(head, model.get_layer("classifier").kernel.numpy())


def test_finetune_changes_the_backbone_but_keeps_batch_norm_statistics():
    case, backbone, model = build("simple_cnn", "finetune", 16)
    bn = backbone.get_layer("block1_bn")
    mean_before, kernel_before = bn.moving_mean.numpy().copy(), backbone.get_layer("block1_conv").kernel.numpy().copy()
    result = train(model, backbone, REGIMES["finetune"], case, tiny_data(16), tiny_data(16), 16)
    assert list(result.history["phase"]) == ["head", "finetune"]
    assert not np.allclose(kernel_before, backbone.get_layer("block1_conv").kernel.numpy())
    assert np.array_equal(mean_before, bn.moving_mean.numpy()), "batch norm stays in inference mode"
    finetune_lr = result.history["lr"].iloc[-1]
    assert finetune_lr <= case.learning_rate * case.finetune_lr_scale


def test_freeze50_trains_only_the_later_half():
    case, backbone, model = build("simple_cnn", "freeze50", 16)
    first, last = backbone.get_layer("block1_conv"), backbone.get_layer("block3_conv")
    first_before, last_before = first.kernel.numpy().copy(), last.kernel.numpy().copy()
    train(model, backbone, REGIMES["freeze50"], case, tiny_data(16), tiny_data(16), 16)
    assert np.array_equal(first_before, first.kernel.numpy())
    assert not np.allclose(last_before, last.kernel.numpy())


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
def test_every_optimizer_and_schedule_trains(optimizer, schedule):
    case, backbone, model = build(
        "simple_cnn",
        "scratch",
        16,
        optimizer=optimizer,
        schedule=schedule,
        weight_decay=1e-4,
        label_smoothing=0.1,
        warmup_epochs=0.5,
    )
    result = train(
        model, backbone, REGIMES["scratch"], dataclasses.replace(case, epochs=2), tiny_data(16), tiny_data(16), 16
    )
    assert np.isfinite(result.history["loss"]).all() and result.history["lr"].iloc[-1] >= 0
