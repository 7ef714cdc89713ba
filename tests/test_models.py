"""Every architecture builds and trains a step; regimes freeze what they say; optimisers and schedules are as asked."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.case import OPTIMIZERS, SCHEDULES, Case
from suite.models import ARCHITECTURES, build_backbone, build_classifier
from suite.profiles import SEED_ARCHS
from suite.regimes import REGIMES
from suite.train import FitInputs, freeze, train


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


# The suite's own, the TF-Hub modules, the seed networks and one network that rescales its own pixels;
# tests/test_archs.py builds all 40 Keras applications and runs each forward. A first training step traces the
# whole graph: 126 s for NASNetMobile and 47 s for EfficientNetB0 on 2 busy cores, so not every network takes one.
TRAINED_HERE = sorted(
    {a for a, spec in ARCHITECTURES.items() if spec.source != "keras"} | set(SEED_ARCHS) | {"mobilenet_v3_small"}
)


@pytest.mark.parametrize("arch", TRAINED_HERE)
def test_the_suites_and_the_profiles_architectures_build_and_take_a_training_step(arch, hub_stand_in):
    side = ARCHITECTURES[arch].min_size
    fields = {"handle": hub_stand_in} if ARCHITECTURES[arch].hub else {}  # offline: the stand-in module
    case, backbone, model = build(arch, "scratch", side, **fields)  # everything trainable
    assert model.input_shape == (None, side, side, 3) and model.output_shape == (None, 3)
    assert model.get_layer(arch) is backbone and model.get_layer("classifier").units == 3
    before = [w.numpy().copy() for w in backbone.trainable_weights[:3]]
    result = train(
        model, backbone, REGIMES["scratch"], case, FitInputs(train=tiny_data(side), val=tiny_data(side, 8), images=16)
    )
    assert result.epochs == 1 and np.isfinite(result.history["loss"]).all()
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, backbone.trainable_weights[:3]))


def test_resnet_scratch_has_identity_and_projection_shortcuts_and_configurable_depth():
    backbone = build_backbone("resnet_scratch", 32, depth=14)
    names = [layer.name for layer in backbone.layers]
    assert sum(n.endswith("_add") for n in names) == 6  # (14 - 2) / 6 = 2 blocks x 3 stages
    assert sum(n.endswith("_proj_conv") for n in names) == 2  # where width and stride change
    assert backbone.output_shape == (None, 8, 8, 64)  # He et al. 2016's CIFAR net: 32 px halved twice, 64 wide last
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


def rate_at(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    """The learning rate ``optimizer`` uses at ``step``: its own schedule, read at that iteration."""
    optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def test_frozen_regime_leaves_the_backbone_untouched():
    case, backbone, model = build("simple_cnn", "frozen", 16)
    before = weights_of(backbone)
    head = model.get_layer("classifier").kernel.numpy().copy()
    train(
        model,
        backbone,
        REGIMES["frozen"],
        dataclasses.replace(case, epochs=2),
        FitInputs(train=tiny_data(16), val=tiny_data(16), images=16),
    )
    assert all(np.array_equal(b, a) for b, a in zip(before, weights_of(backbone)))
    assert not np.allclose(head, model.get_layer("classifier").kernel.numpy())


def test_finetune_changes_the_backbone_but_keeps_batch_norm_statistics():
    case, backbone, model = build("simple_cnn", "finetune", 16)
    bn = backbone.get_layer("block1_bn")
    mean_before, kernel_before = bn.moving_mean.numpy().copy(), backbone.get_layer("block1_conv").kernel.numpy().copy()
    result = train(
        model, backbone, REGIMES["finetune"], case, FitInputs(train=tiny_data(16), val=tiny_data(16), images=16)
    )
    assert list(result.history["phase"]) == ["head", "finetune"]
    assert not np.allclose(kernel_before, backbone.get_layer("block1_conv").kernel.numpy())
    assert np.array_equal(mean_before, bn.moving_mean.numpy()), "batch norm stays in inference mode"
    # The fine-tuning phase's own optimizer starts at the scaled peak (cosine, no warm-up: step 0 is the peak).
    assert rate_at(model.optimizer, 0) == pytest.approx(case.learning_rate * case.finetune_lr_scale)


def test_freeze50_trains_only_the_later_half():
    case, backbone, model = build("simple_cnn", "freeze50", 16)
    first, last = backbone.get_layer("block1_conv"), backbone.get_layer("block3_conv")
    first_before, last_before = first.kernel.numpy().copy(), last.kernel.numpy().copy()
    train(model, backbone, REGIMES["freeze50"], case, FitInputs(train=tiny_data(16), val=tiny_data(16), images=16))
    assert np.array_equal(first_before, first.kernel.numpy())
    assert not np.allclose(last_before, last.kernel.numpy())


# What each optimiser name asks for (suite.registry.Case.optimizer): the Keras class and the settings it passes on.
EXPECTED_OPTIMIZERS = {
    "sgd": (keras.optimizers.SGD, {"momentum": 0.8, "nesterov": False}),
    "nesterov": (keras.optimizers.SGD, {"momentum": 0.8, "nesterov": True}),
    "adam": (keras.optimizers.Adam, {}),
    "adamw": (keras.optimizers.AdamW, {}),
    "rmsprop": (keras.optimizers.RMSprop, {"momentum": 0.8}),
    "nadam": (keras.optimizers.Nadam, {}),
}
PEAK_LR = 0.02  # not Case's default 1e-3, so a default can't pass for it
STEPS_PER_EPOCH, EPOCHS, WARMUP_EPOCHS = 4, 2, 0.5  # 32 images in batches of 8; warm-up 2 steps (cosine only)


def expected_lr(schedule: str, step: int) -> float | None:
    """The rate of optimizer step ``step`` (0-based) as ``make_schedule``'s docstring describes it, or ``None`` where
    the description leaves it open.

    ``cosine``: linear warm-up from 0 over ``warmup_epochs``, then half a cosine from the peak to 0 at the phase's
    end. ``step``: x0.1 at 50% and x0.01 at 75% of the phase; the two steps at those boundaries are left open (the
    code switches one step after the boundary, PiecewiseConstantDecay's ``step <= boundary``). ``constant``: the peak.
    """
    total, warmup = STEPS_PER_EPOCH * EPOCHS, round(WARMUP_EPOCHS * STEPS_PER_EPOCH)
    if schedule == "cosine":
        if step < warmup:
            return PEAK_LR * step / warmup
        return PEAK_LR * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
    if schedule == "step":
        if step in (total // 2, 3 * total // 4):
            return None
        return PEAK_LR * (1.0 if step < total // 2 else 0.1 if step < 3 * total // 4 else 0.01)
    return PEAK_LR


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_optimizer_and_schedule_asked_for_are_the_ones_that_run(optimizer, schedule):
    case, backbone, model = build(
        "simple_cnn",
        "scratch",
        16,
        optimizer=optimizer,
        schedule=schedule,
        learning_rate=PEAK_LR,
        momentum=0.8,
        weight_decay=1e-4,
        warmup_epochs=WARMUP_EPOCHS,
    )
    images = STEPS_PER_EPOCH * case.batch_size
    case = dataclasses.replace(case, epochs=EPOCHS)
    result = train(
        model,
        backbone,
        REGIMES["scratch"],
        case,
        FitInputs(train=tiny_data(16, images), val=tiny_data(16), images=images),
    )
    ran = model.optimizer
    kind, settings = EXPECTED_OPTIMIZERS[optimizer]
    assert type(ran) is kind  # exactly: AdamW is an Adam, Nadam is not
    assert {name: getattr(ran, name) for name in settings} == pytest.approx(settings)
    assert ran.weight_decay == pytest.approx(1e-4)  # decoupled weight decay, on every optimiser
    total = STEPS_PER_EPOCH * EPOCHS
    assert int(ran.iterations) == total  # the schedule spans exactly the steps that ran
    # The history's lr is the rate after each epoch's last step, i.e. of the next step.
    recorded = [rate_at(ran, STEPS_PER_EPOCH * (epoch + 1)) for epoch in range(EPOCHS)]
    assert result.history["lr"].tolist() == pytest.approx(recorded, rel=1e-6)
    for step in range(total):
        expected = expected_lr(schedule, step)
        if expected is not None:
            assert rate_at(ran, step) == pytest.approx(expected, rel=1e-5, abs=1e-9), f"step {step}"
