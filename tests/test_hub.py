"""TF-Hub modules in Keras 3, offline: a stand-in Reusable SavedModel frozen, fine-tuned, saved and reloaded."""

from __future__ import annotations

import socket
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.case import Case
from suite.data.pipeline import input_side
from suite.measure import model_facts
from suite.models import build_backbone, build_classifier, hub
from suite.models.hub import HubFeatureVector, HubUnavailable, resolve_handle
from suite.regimes import REGIMES
from suite.registry import validate
from suite.train import FitInputs, train

UNREACHABLE = "https://hub.invalid/google/imagenet/inception_v3/feature_vector/5"  # .invalid never resolves (RFC 2606)


def images(n: int = 16, side: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, side, side, 3)).astype("float32")


def data(n: int = 16, classes: int = 3, seed: int = 0) -> tf.data.Dataset:
    labels = tf.one_hot(np.random.default_rng(seed).integers(0, classes, n), classes)
    return tf.data.Dataset.from_tensor_slices((images(n, seed=seed), labels)).batch(8)


def hub_model(handle: str, regime: str, **fields):
    fields = {"epochs": 1, "head_epochs": 1, "batch_size": 8, **fields}
    case = Case("hub_mobilenet_v2", regime, "digits", handle=handle, **fields)
    backbone = build_backbone(case.arch, 32, handle=handle)
    return validate(case), backbone, build_classifier(backbone, 3)


def module_weights(backbone: keras.Model) -> dict[str, np.ndarray]:
    return {w.name: w.numpy().copy() for w in backbone.get_layer("hub_mobilenet_v2_module").weights}


def test_stand_in_is_a_reusable_saved_model(hub_stand_in):
    module = hub.load_module(hub_stand_in)
    trainable = {id(v) for v in module.trainable_variables}
    assert len(module.variables) == 5 and len(trainable) == 3 and trainable <= {id(v) for v in module.variables}
    kernel = next(v for v in module.variables if "kernel" in v.name).numpy()
    # export_stand_in's penalty: 1e-4 x the kernel's squared sum
    assert float(module.regularization_losses[0]()) == pytest.approx(1e-4 * np.square(kernel).sum(), rel=1e-5)
    assert module(images(2), training=False).shape == (2, 16)
    moving_mean = next(v for v in module.variables if "moving_mean" in v.name)
    module(images(2), training=True)  # the training trace updates the moving averages
    assert not np.allclose(moving_mean.numpy(), 0.0)


def test_layer_tracks_the_module_variables_under_names_the_optimizer_accepts(hub_stand_in):
    layer = HubFeatureVector(hub_stand_in)
    module = layer._module
    assert len(layer.weights) == len(module.variables) and len(layer.trainable_weights) == 3
    assert all(":" not in w.name and "/" not in w.name for w in layer.weights)
    kernel = next(w for w in layer.weights if w.name == "conv_kernel")
    kernel.assign(tf.zeros(kernel.shape))  # the Keras variable *is* the module's variable
    assert np.allclose(next(v for v in module.variables if v.name == "conv/kernel:0").numpy(), 0.0)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 5


def test_frozen_training_leaves_the_hub_weights_unchanged(hub_stand_in):
    case, backbone, model = hub_model(hub_stand_in, "frozen", epochs=2)
    before = module_weights(backbone)
    head = model.get_layer("classifier").kernel.numpy().copy()
    train(model, backbone, REGIMES["frozen"], case, FitInputs(train=data(), val=data(8, seed=1), images=16))
    after = module_weights(backbone)
    assert all(np.array_equal(before[name], after[name]) for name in before)  # moving averages included
    assert not np.allclose(head, model.get_layer("classifier").kernel.numpy())


def test_fine_tuning_with_adam_changes_the_hub_weights_and_passes_training_through(hub_stand_in):
    case, backbone, model = hub_model(hub_stand_in, "finetune")
    assert case.optimizer == "adam"
    before = module_weights(backbone)
    result = train(model, backbone, REGIMES["finetune"], case, FitInputs(train=data(), val=data(8, seed=1), images=16))
    after = module_weights(backbone)
    assert result.history["phase"].tolist() == ["head", "finetune"]
    assert not np.allclose(before["conv_kernel"], after["conv_kernel"])  # trained by the optimizer
    assert not np.allclose(before["bn_moving_mean"], after["bn_moving_mean"])  # training=True reached the module


def test_regularization_losses_count_only_while_the_module_trains(hub_stand_in):
    _, backbone, model = hub_model(hub_stand_in, "finetune")
    model(images(2), training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) > 0
    model(images(2), training=False)
    assert model.losses == []
    backbone.trainable = False
    model(images(2), training=True)
    assert model.losses == []


def test_fine_tuned_model_saves_and_reloads_its_own_weights(hub_stand_in, tmp_path):
    case, backbone, model = hub_model(hub_stand_in, "finetune")
    train(model, backbone, REGIMES["finetune"], case, FitInputs(train=data(), val=data(8, seed=1), images=16))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # HubFeatureVector is registered: no custom_objects needed
    x = images(8, seed=2)
    assert np.allclose(model(x, training=False), reloaded(x, training=False), atol=1e-6)
    fresh = build_classifier(build_backbone(case.arch, 32, handle=hub_stand_in), 3)
    fresh.get_layer("classifier").set_weights(model.get_layer("classifier").get_weights())
    assert not np.allclose(fresh(x, training=False), reloaded(x, training=False), atol=1e-4)  # not the handle's


def test_module_stays_float32_under_mixed_precision(hub_stand_in):
    _, _, model = hub_model(hub_stand_in, "frozen")
    copy = model_facts.with_precision(model, "mixed_bfloat16")
    layer = copy.get_layer("hub_mobilenet_v2").get_layer("hub_mobilenet_v2_module")
    assert layer.dtype_policy.name == "float32" and layer.compute_dtype == "float32"
    assert copy.get_layer("classifier").dtype_policy.name == "float32"
    assert np.allclose(copy(images(2)), model(images(2)), atol=1e-2)


def stand_in_flops(side: int, features: int, classes: int) -> int:
    """The stand-in classifier's FLOPs by hand, under TF's profiler costs (tensorflow/python/profiler/internal/
    flops_registry.py and Conv2D's in nn_ops.py): multiply and add apart, rsqrt 2 per element, softmax 5, a mean
    one per input element, ReLU free.

    The stand-in (``suite.models.hub.export_stand_in``) is a 3x3, stride-2, SAME conv from 3 channels to
    ``features``, inference batch norm, ReLU and a global mean; ``build_classifier`` adds a softmax dense layer.
    """
    out = (side // 2) ** 2 * features  # conv output elements: stride 2, SAME padding
    conv = out * 3 * 3 * 3 * 2  # each output: a 3x3x3 window, one multiply and one add per tap
    # tf.nn.batch_normalization: inv = rsqrt(var + eps) * gamma per channel (add, rsqrt x2, mul), then
    # x * inv + (beta - mean * inv): per channel mul and sub, per element mul and add.
    batch_norm = features * (1 + 2 + 1 + 1 + 1) + out * 2
    pool = out  # reduce_mean over the 16x16 map
    head = features * classes * 2 + classes + classes * 5  # matmul, bias add, softmax
    return conv + batch_norm + pool + head


def test_flops_are_counted_through_the_module(hub_stand_in):
    _, _, model = hub_model(hub_stand_in, "frozen")
    # 221,184 conv + 8,288 batch norm + 4,096 pool + 114 head = 233,682
    assert model_facts.flops_per_image(model, 32) == stand_in_flops(32, features=16, classes=3)


def test_handles_resolve_to_what_hub_load_takes(tmp_path):
    assert resolve_handle(UNREACHABLE) == UNREACHABLE
    kaggle = "google/mobilenet-v2/tensorFlow2/100-224-feature-vector/2"
    assert resolve_handle(kaggle) == "https://www.kaggle.com/models/" + kaggle
    assert resolve_handle(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(HubUnavailable, match="neither a URL, a Kaggle Models handle"):
        resolve_handle("mobilenet")


def test_an_unreachable_handle_fails_in_one_line_with_the_fix():
    with pytest.raises(HubUnavailable) as error:
        HubFeatureVector(UNREACHABLE)
    message = str(error.value)
    assert message.startswith(f"hub handle {UNREACHABLE} can't be loaded (") and "\n" not in message
    assert "$TFHUB_CACHE_DIR" in message
    with pytest.raises(HubUnavailable, match="export a stand-in"):
        HubFeatureVector("/nonexistent/saved_model")


def test_a_host_that_never_answers_fails_after_the_network_timeout(monkeypatch):
    monkeypatch.setattr(hub, "NETWORK_TIMEOUT_S", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never replies
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/imagenet/feature_vector/5"
        outcome = []
        worker = threading.Thread(target=lambda: outcome.append(pytest.raises(HubUnavailable, hub.load_module, url)))
        worker.start()
        worker.join(timeout=60)  # hub.load alone waits forever here
    assert not worker.is_alive() and outcome and "timed out" in str(outcome[0].value)
    assert socket.getdefaulttimeout() is None  # the process-wide default is put back


def test_pipeline_feeds_hub_modules_their_native_side():
    assert input_side("hub_inception_v3", 32) == 299
    assert input_side("hub_mobilenet_v2", 32) == 224
    assert (
        input_side(
            "hub_mobilenet_v2", 32, handle="https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/feature_vector/5"
        )
        == 96
    )
    assert input_side("hub_mobilenet_v2", 32, image_size=64) == 64  # the case's image_size wins
    assert input_side("mobilenet_v2", 32) == 32  # a Keras application from scratch or source weights: the dataset's
    assert input_side("mobilenet_v2", 32, weights="imagenet") == 224  # from ImageNet weights: theirs


def test_hub_weights_come_from_the_handle():
    from suite.profiles import get_profile
    from suite.transfer import resolve_weights

    smoke = get_profile("smoke")
    assert resolve_weights(Case("hub_inception_v3", "frozen", "digits"), smoke) == (
        "hub:https://tfhub.dev/google/imagenet/inception_v3/feature_vector/5"
    )
    assert resolve_weights(Case("hub_mobilenet_v2", "finetune", "digits", handle="/m"), smoke) == "hub:/m"
