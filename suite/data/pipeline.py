"""The one ``tf.data`` input pipeline every case trains and is evaluated through.

raw uint8 -> (images per class) -> (limit) -> cache -> shuffle -> augment -> batch
    -> preprocess_input + resize -> prefetch

Images are cached, augmented and batched at the dataset's side and resized per batch to the model's side
(``suite.sides``: 224 px and more for ImageNet and hub weights), on the host, in parallel map calls.

Augmentation (random translation by reflect-pad and crop, and horizontal flip
where the dataset allows it) lives here, not in the model: Keras augmentation
layers inside a model switch XLA off for the whole model and would be timed
as part of inference. The model therefore sees preprocessed images, and its
latency excludes decoding and preprocessing (stated in results/README.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from suite.data import training_images
from suite.environment import job_threads
from suite.errors import SuiteError
from suite.models import ARCHITECTURES
from suite.models.hub import traced_sides
from suite.sides import Side, SideRequest, resolve_side

AUTOTUNE = tf.data.AUTOTUNE
SUBSET_SEED = 20260418  # with the run seed, draws a case's training images per class; never the split seed


# Keras modules whose ``preprocess_input`` implements each convention; "unit" and "raw" are plain scalings.
CONVENTION_MODULES = {"caffe": "resnet50", "tf": "mobilenet_v2", "torch": "densenet"}


def preprocess(images: tf.Tensor, arch: str) -> tf.Tensor:
    """float 0..255 RGB -> the architecture's input convention.

    A Keras application uses its own family module's ``preprocess_input``; other
    architectures use the Keras function of their declared convention.
    """
    spec = ARCHITECTURES[arch]
    if spec.source == "keras":
        return getattr(keras.applications, spec.family).preprocess_input(images)
    if spec.preprocess in CONVENTION_MODULES:
        return getattr(keras.applications, CONVENTION_MODULES[spec.preprocess]).preprocess_input(images)
    return images if spec.preprocess == "raw" else images / 255.0


def case_side(request: SideRequest, dataset_side: int, *, download: bool = False) -> Side:
    """The model's input side and why (``suite.sides.resolve_side``), a TF-Hub module's traced sides read here.

    ``request.weights`` are the resolved weights (``suite.transfer.resolve_weights``): ImageNet and hub weights run
    at their own side (or the profile's ``transfer_side``), everything else at the dataset's. ``download`` lets a
    hub module that is not on this machine be fetched to read its signature (the worker, which loads it next).
    """
    spec = ARCHITECTURES[request.arch]
    sides = traced_sides(request.handle or spec.handle, download=download) if spec.hub else frozenset()
    return resolve_side(request, dataset_side, module_sides=sides)


def input_side(
    arch: str, dataset_side: int, image_size: int = 0, handle: str = "", *, download: bool = False, **how
) -> int:
    """The model's input side in pixels: ``case_side(...).pixels``; ``how`` takes ``SideRequest``'s other fields."""
    request = SideRequest(arch=arch, image_size=image_size, handle=handle, **how)
    return case_side(request, dataset_side, download=download).pixels


def augment_image(image: tf.Tensor, strength: float, flip: bool, seed: tf.Tensor) -> tf.Tensor:
    """Random translation up to ``strength`` x side (reflect padding) and an optional horizontal flip, drawn
    statelessly from ``seed`` (shape [2]), so that one seed gives every case the same augmentation stream."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    side = image.shape[0]
    pad = int(round(strength * side))
    if pad > 0:
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


@dataclass(frozen=True, kw_only=True)
class Training:
    """How a training split is fed: reshuffled every epoch, augmented, and its labels noised, all from ``seed``.

    ``augment``: translation strength as a fraction of the side, 0 = none; ``flip``: also flip horizontally (only
    where that keeps the label); ``label_noise``: fraction of labels replaced by uniformly random classes, fixed
    per image for the whole run (drawn from ``seed`` and the image's index); 1 makes the labels carry no signal.
    """

    seed: int = 0
    augment: float = 0.0
    flip: bool = False
    label_noise: float = 0.0
    shuffle_buffer: int = 10_000


def make_input(
    raw: tf.data.Dataset, *, arch: str, side: int, num_classes: int, batch_size: int, training: Training | None = None
) -> tf.data.Dataset:
    """Batches of ``(preprocessed float32 images, one-hot labels)`` for ``arch`` at ``side`` pixels.

    ``raw``: ``(uint8 image, int label)`` pairs from ``suite.data.loaders``, already cut to the images wanted
    (``take``). ``training``: shuffle every epoch, augment and noise labels as it says; None = evaluation order.
    """
    ds = raw
    if training and training.label_noise > 0:
        noise, seed = training.label_noise, training.seed

        def relabel(index, pair):
            image, label = pair
            draw = tf.random.stateless_uniform([2], seed=tf.stack([tf.constant(seed, tf.int64), index]))
            random_class = tf.cast(tf.minimum(draw[1] * num_classes, num_classes - 1), label.dtype)
            return image, tf.where(draw[0] < noise, random_class, label)

        ds = ds.enumerate().map(relabel)
    ds = ds.cache()
    if training:
        ds = ds.shuffle(training.shuffle_buffer, seed=training.seed, reshuffle_each_iteration=True)
        if training.augment > 0 or training.flip:
            # One seeded stream of draws, zipped position by position and drawn anew each epoch: the same for every
            # case of this seed (paired), whatever the thread timing of the parallel map.
            strength, flip = training.augment, training.flip
            draws = tf.data.Dataset.random(seed=training.seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip(ds, draws).map(
                lambda pair, seed: (augment_image(pair[0], strength, flip, seed), pair[1]), num_parallel_calls=AUTOTUNE
            )
    ds = ds.batch(batch_size)

    def finish(images, labels):
        # Every input convention is a per-channel affine map (with a channel swap for caffe), which bilinear
        # resizing commutes with: preprocessing the small batch first spares it the upsampled pixels (49 times
        # as many from 32 to 224 px).
        images = preprocess(tf.cast(images, tf.float32), arch)
        if images.shape[1] != side:
            images = tf.image.resize(images, (side, side), method="bilinear")
        return images, tf.one_hot(labels, num_classes)

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
    threads = job_threads()
    if threads:  # a job training beside others (suite.run.parallel): tf.data's pool no wider than its share
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        ds = ds.with_options(options)
    return ds


def train_labels(raw) -> np.ndarray:
    """The training split's labels in its order: the loader's, else read once from the split and kept on ``raw``."""
    if raw.train_labels is None:
        labels = raw.train.map(lambda image, label: label).as_numpy_iterator()
        raw.train_labels = np.fromiter(labels, dtype=np.int64)
    return raw.train_labels


def check_per_class(case, raw) -> None:
    """Raises ``SuiteError`` naming the class counts if the training split can't give ``case.train_per_class``
    images to every class."""
    counts = np.bincount(train_labels(raw), minlength=raw.num_classes)
    if case.train_per_class <= counts.min():
        return
    shown = np.argsort(counts, kind="stable")[:10] if len(counts) > 10 else range(len(counts))
    listed = ", ".join(f"{raw.class_names[i]}: {counts[i]}" for i in shown)
    which = "the 10 smallest of " if len(counts) > 10 else ""
    raise SuiteError(
        f"case {case.id}: train_per_class={case.train_per_class} is more than the smallest class of {raw.name}'s "
        f"training split holds ({counts.min()}); training images per class ({which}{len(counts)}): {listed}"
    )


def per_class_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` images of every class, drawn with ``seed``.

    Each class's images are put in one seeded order and the first ``per_class`` taken, so a seed's smaller
    sets lie inside its larger ones, and every case of one seed gets the same images.
    """
    rng = np.random.default_rng([SUBSET_SEED, seed])
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:per_class] for label in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def per_class_subset(raw, per_class: int, seed: int) -> tf.data.Dataset:
    """The training split cut to ``per_class`` images of every class (``per_class_indices``), in split order."""
    labels = train_labels(raw)
    keep = np.zeros(len(labels), dtype=bool)
    keep[per_class_indices(labels, per_class, seed)] = True
    mask = tf.constant(keep)
    chosen = raw.train.enumerate().filter(lambda index, pair: tf.gather(mask, index))
    return chosen.map(lambda index, pair: pair)


def case_split(case, raw, split: str, *, side: int, seed: int, batch_size: int = 0) -> tuple[tf.data.Dataset, int]:
    """One split of ``raw`` (``train``, ``val`` or ``test``) as ``case`` trains or evaluates on it; and its size.

    The one place a case's input settings (images per class, limits, augmentation, label noise) become a
    pipeline, shared by the runner and the tuner's trials. ``batch_size`` overrides the case's (a mirrored run's
    global batch). ``train_per_class`` cuts the training split only, before ``train_limit``.
    """
    training = split == "train"
    images = getattr(raw, split)
    if training:
        if case.train_per_class:
            check_per_class(case, raw)
            images = per_class_subset(raw, case.train_per_class, seed)
        size = training_images(case, raw.sizes["train"], raw.num_classes)
    else:
        size = min(case.eval_limit or raw.sizes[split], raw.sizes[split])
    feed = Training(
        seed=seed,
        augment=case.augment,
        flip=raw.flip and case.augment > 0,
        label_noise=case.label_noise,
    )
    data = make_input(
        images.take(size),
        arch=case.arch,
        side=side,
        num_classes=raw.num_classes,
        batch_size=batch_size or case.batch_size,
        training=feed if training else None,
    )
    return data, size


def training_split(case, raw, *, side: int, seed: int, batch_size: int = 0) -> tuple[tf.data.Dataset, int, int]:
    """The training split as ``case`` trains on it: the dataset, its images and the steps of an epoch.

    A ``train_per_class`` cut repeats within each epoch for as many optimizer steps as the whole split takes
    (so every size of a label-efficiency study trains the same steps, epochs and validations); otherwise an epoch
    is one pass and the steps are 0 (``fit``'s default). The runner and the tuner's trials both train on this.
    """
    data, images = case_split(case, raw, "train", side=side, seed=seed, batch_size=batch_size)
    if not case.train_per_class:
        return data, images, 0
    return (
        data.repeat(),
        images,
        math.ceil(case.whole_train_images(raw.sizes["train"]) / (batch_size or case.batch_size)),
    )
