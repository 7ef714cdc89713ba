"""TF-Hub feature-vector backbones in Keras 3: a module loaded with ``hub.load`` as one trainable layer.

``hub.KerasLayer`` is a tf_keras layer, which Keras 3 models reject, and
``keras.layers.TFSMLayer`` names its weights after the SavedModel's variables,
``:0`` included, which Adam can't turn into slot-variable names.
``HubFeatureVector`` loads a Reusable SavedModel (``__call__`` with a
``training`` argument, ``variables``, ``trainable_variables``,
``regularization_losses``) and wraps each of its ``tf.Variable``\\s in a
``keras.Variable`` that *shares* it, under a clean name: the SavedModel's
functions and the optimizer read and write the same state, ``layer.trainable``
freezes it, and ``model.save()`` stores it.

Handles are URLs (tfhub.dev or Kaggle Models, downloaded into ``$TFHUB_CACHE_DIR``
by ``hub.load``, which this module never overrides), Kaggle Models handles
(``owner/model/framework/variation/version``) or SavedModel directories.
``export_stand_in`` writes a tiny Reusable SavedModel for offline runs and tests:
``python -m suite.models.hub DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import socket
from pathlib import Path

import keras
import tensorflow as tf

NETWORK_TIMEOUT_S = 20.0  # longest wait on one socket operation while hub.load downloads; an unreachable host fails
KAGGLE_MODELS_URL = "https://www.kaggle.com/models/"
KAGGLE_HANDLE = re.compile(r"^[\w.-]+/[\w.-]+/[\w.-]+/[\w.-]+(/\d+)?$")  # owner/model/framework/variation[/version]


class HubUnavailable(RuntimeError):
    """A hub handle that can't be loaded here: offline and not cached, missing, or not a Reusable SavedModel."""


def resolve_handle(handle: str) -> str:
    """The form ``hub.load`` takes: a URL as is, a Kaggle Models handle as its URL, a directory as an absolute path."""
    if "://" in handle:
        return handle
    path = Path(handle).expanduser()
    if path.exists() or handle.startswith(("/", ".", "~")):
        return str(path.resolve())
    if KAGGLE_HANDLE.match(handle):
        return KAGGLE_MODELS_URL + handle
    raise HubUnavailable(
        f"hub handle {handle!r} is neither a URL, a Kaggle Models handle (owner/model/framework/variation/version) "
        "nor an existing SavedModel directory"
    )


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Bounds every socket wait inside the block (``hub.load`` opens URLs without a timeout of its own)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def load_module(handle: str):
    """``hub.load(handle)`` with bounded network waits; ``HubUnavailable`` with one line saying why and what to do.

    A module already in ``$TFHUB_CACHE_DIR`` loads without the network.
    """
    import tensorflow_hub as hub

    resolved = resolve_handle(handle)
    try:
        with _socket_timeout(NETWORK_TIMEOUT_S):
            module = hub.load(resolved)
    except Exception as error:  # URLError, socket.timeout, OSError, tf.errors.*: all mean "not usable here"
        reason = " ".join(str(error).split()) or type(error).__name__
        hint = (
            "run once with a network (hub.load caches it under $TFHUB_CACHE_DIR) or set `handle` to a local "
            "SavedModel directory"
            if "://" in resolved
            else "set `handle` to a SavedModel directory (export a stand-in with `python -m suite.models.hub DIR`)"
        )
        raise HubUnavailable(f"hub handle {handle} can't be loaded ({reason[:200]}); {hint}") from None
    if not callable(module) or not hasattr(module, "variables"):
        raise HubUnavailable(
            f"hub handle {handle} is not a Reusable SavedModel (callable, with .variables); "
            "use a TF2 feature-vector module"
        )
    return module


def module_dir(handle: str, *, download: bool = False) -> Path | None:
    """The local SavedModel directory of ``handle``: the directory itself, or a URL's copy in the TF Hub cache
    (``$TFHUB_CACHE_DIR``, else hub's own default). ``None`` where there is none, unless ``download``: then
    ``hub.resolve`` fetches it into the cache (bounded network waits; ``None`` if that fails too).
    """
    import hashlib

    from tensorflow_hub import resolver

    try:
        resolved = resolve_handle(handle)
    except HubUnavailable:
        return None
    if "://" not in resolved:
        return Path(resolved) if (Path(resolved) / "saved_model.pb").is_file() else None
    cached = Path(resolver.tfhub_cache_dir(use_temp=True)) / hashlib.sha1(resolved.encode("utf8")).hexdigest()
    if (cached / "saved_model.pb").is_file():
        return cached
    if not download:
        return None
    import tensorflow_hub as hub

    try:
        with _socket_timeout(NETWORK_TIMEOUT_S):
            fetched = Path(hub.resolve(resolved))
    except Exception:  # offline, unreachable: building the backbone reports it in one line (load_module)
        return None
    return fetched if (fetched / "saved_model.pb").is_file() else None


def traced_sides(handle: str, *, download: bool = False) -> frozenset[int]:
    """The input sides a hub module's ``__call__`` was traced for, read from its SavedModel's own signature.

    Each concrete function of ``__call__`` takes a ``(batch, height, width, 3)`` images spec; where every one has
    a fixed, square side, those sides are returned (a module traced for 96 x 96 only gives ``{96}``). Empty where
    any is open (``None`` height or width: the module takes any side), and where the module is not on this
    machine (``module_dir``; ``download`` fetches it first). Reads the ``saved_model.pb`` proto alone: no
    variables are restored, nothing is placed on a device.
    """
    directory = module_dir(handle, download=download)
    return _signature_sides(str(directory)) if directory is not None else frozenset()


@functools.cache
def _signature_sides(directory: str) -> frozenset[int]:
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import nested_structure_coder

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((Path(directory) / "saved_model.pb").read_bytes())
        graph = saved.meta_graphs[0].object_graph_def
        node = graph.nodes[next(c.node_id for c in graph.nodes[0].children if c.local_name == "__call__")]
    except (OSError, IndexError, StopIteration, ValueError):  # not a Reusable SavedModel: load_module says so
        return frozenset()
    kind = node.WhichOneof("kind")
    names = (
        list(node.function.concrete_functions)
        if kind == "function"
        else [node.bare_concrete_function.concrete_function_name]
        if kind == "bare_concrete_function"
        else []
    )
    sides: set[int] = set()
    for name in names:
        signature = nested_structure_coder.decode_proto(graph.concrete_functions[name].canonicalized_input_signature)
        images = [
            spec for spec in tf.nest.flatten(signature) if isinstance(spec, tf.TensorSpec) and spec.shape.rank == 4
        ]
        if not images:
            continue
        height, width = images[0].shape[1], images[0].shape[2]
        if height is None or width is None or height != width:
            return frozenset()  # open (or not square, which the suite can't feed): the name decides
        sides.add(int(height))
    return frozenset(sides)


def keras_name(variable: tf.Variable) -> str:
    """A SavedModel variable's name as Keras and the optimizer accept it: no ``:0``, no slashes."""
    return re.sub(r"[^\w.-]+", "_", variable.name.rsplit(":", 1)[0]).strip("_") or "variable"


@keras.saving.register_keras_serializable(package="suite")
class HubFeatureVector(keras.layers.Layer):
    """A TF-Hub image feature-vector module as a Keras 3 layer: images in [0, 1] in, ``(batch, features)`` out.

    ``training`` reaches the module only while the layer is trainable, as with
    Keras' BatchNormalization: a frozen module runs in inference mode. The layer
    always computes in float32, whatever the dtype policy; its weights are
    restored from a ``.keras`` file over the module that ``handle`` loads.

    Args:
        handle: a URL, Kaggle Models handle or SavedModel directory (``resolve_handle``).
        **kwargs: ``keras.layers.Layer`` arguments; ``dtype`` is ignored (float32).
    """

    def __init__(self, handle: str, **kwargs):
        kwargs["dtype"] = "float32"  # with_precision rewrites dtype policies; a hub module is traced in float32
        super().__init__(**kwargs)
        self.handle = handle
        self._module = load_module(handle)
        self._takes_training = _has_training_argument(self._module)
        trainable = {id(v) for v in getattr(self._module, "trainable_variables", ())}
        for variable in self._module.variables:
            self._track_variable(
                keras.Variable(
                    variable,
                    trainable=id(variable) in trainable,
                    autocast=False,
                    name=keras_name(variable),
                )
            )
        self.built = True

    def call(self, images, training=None):
        training = bool(training) and self.trainable
        if self._takes_training:
            features = self._module(images, training=training)
        else:
            features = self._module(images)
        if training:
            for loss in getattr(self._module, "regularization_losses", ()):
                self.add_loss(loss())
        return features

    def get_config(self) -> dict:
        return {**super().get_config(), "handle": self.handle}


def _has_training_argument(module) -> bool:
    """The module's ``__call__`` takes ``training`` (the Reusable SavedModel convention for fine-tuning)."""
    import inspect

    try:
        return "training" in inspect.signature(module.__call__).parameters
    except (TypeError, ValueError):
        return False


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0, handle: str) -> keras.Model:
    """Images in, the module's feature vector out; the module is one layer named ``<arch>_module``."""
    if depth:
        raise ValueError(f"{arch} is a TF-Hub module with a fixed depth. Received: depth={depth}")
    if l2:
        raise ValueError(f"{arch} is a TF-Hub module; use weight_decay instead of l2. Received: l2={l2}")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    features = HubFeatureVector(handle, name=f"{arch}_module")(inputs)
    return keras.Model(inputs, features, name=arch)


class _StandIn(tf.Module):
    """A tiny feature-vector network: strided 3x3 conv, batch norm, ReLU, global average pool."""

    def __init__(self, features: int, seed: int):
        super().__init__(name="stand_in")
        kernel = tf.random.stateless_normal((3, 3, 3, features), seed=(seed, 0), stddev=0.5)
        self.kernel = tf.Variable(kernel, name="conv/kernel")
        self.gamma = tf.Variable(tf.ones(features), name="bn/gamma")
        self.beta = tf.Variable(tf.zeros(features), name="bn/beta")
        self.moving_mean = tf.Variable(tf.zeros(features), trainable=False, name="bn/moving_mean")
        self.moving_variance = tf.Variable(tf.ones(features), trainable=False, name="bn/moving_variance")

    @tf.function
    def __call__(self, images, training=False):
        x = tf.nn.conv2d(images, self.kernel, strides=2, padding="SAME")
        if training:  # batch statistics, and the moving averages follow them
            mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
            self.moving_mean.assign(0.9 * self.moving_mean + 0.1 * mean)
            self.moving_variance.assign(0.9 * self.moving_variance + 0.1 * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        x = tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma, 1e-3)
        return tf.reduce_mean(tf.nn.relu(x), axis=[1, 2])


def export_stand_in(directory: str | Path, *, features: int = 16, seed: int = 0, side: int = 0) -> Path:
    """Writes a Reusable SavedModel stand-in for a hub feature vector to ``directory``; returns its path.

    It follows TF Hub's Reusable SavedModel convention: ``__call__(images,
    training)`` traced for both values of ``training``, and the ``variables``,
    ``trainable_variables`` and ``regularization_losses`` attributes. Images in
    [0, 1] at any side, or at ``side`` x ``side`` only where given (a module traced for one side, as many
    published ones are); ``features`` outputs per image. No network needed.
    """
    net = _StandIn(features, seed)
    root = tf.train.Checkpoint()  # an object that saves whatever attributes it is given
    root.net = net
    images = tf.TensorSpec((None, side or None, side or None, 3), tf.float32)
    for training in (True, False):
        net.__call__.get_concrete_function(images, training=training)
    root.__call__ = net.__call__
    root.variables = list(net.variables)
    root.trainable_variables = list(net.trainable_variables)
    root.regularization_losses = [tf.function(lambda: 1e-4 * tf.reduce_sum(tf.square(net.kernel)), input_signature=[])]
    directory = Path(directory)
    tf.saved_model.save(root, str(directory))
    return directory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m suite.models.hub",
        description="Export a tiny Reusable SavedModel that stands in for a TF-Hub feature vector (no network).",
    )
    parser.add_argument("directory", help="where to write the SavedModel; use it as a case's handle")
    parser.add_argument("--features", type=int, default=16, help="feature-vector length (default: 16)")
    parser.add_argument("--side", type=int, default=0, help="trace for side x side images only (default: any side)")
    args = parser.parse_args(argv)
    print(export_stand_in(args.directory, features=args.features, side=args.side))


if __name__ == "__main__":
    main()
