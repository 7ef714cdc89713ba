"""Reads a dataset into three splits of raw images: uint8 HxWx3 and an integer label.

Every source ends as the same :class:`RawSplits`, so the ``tf.data`` pipeline
(``suite.data.pipeline``) is written once. Splits are fixed and seeded
independently of the run seed, so every seed of a case sees the same test set.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from suite.data import DatasetSpec, check_path, parse_dataset
from suite.errors import SuiteError

log = logging.getLogger(__name__)

SPLIT_SEED = 20261125  # fixes every split we carve ourselves; never the run seed
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
FOLDER_SIDE = 64  # side in pixels that folder images are decoded to when the case sets no image_size


@dataclass(kw_only=True)
class RawSplits:
    """A dataset as three ``tf.data`` splits of ``(uint8 image, int64 label)``."""

    name: str
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict[str, int]  # images per split
    num_classes: int
    side: int  # native image side in pixels (square)
    flip: bool  # horizontal flips keep the label (not for digits or letters)
    class_names: list[str]
    train_labels: np.ndarray | None = None  # the train split's labels in its order, where the loader has them


def load(name: str, *, data_dir: str | None = None, side: int = 0) -> RawSplits:
    """Loads the dataset called ``name`` (see ``suite.data.parse_dataset``).

    Args:
        name: ``digits``, ``cifar10``, ``tfds:<name>`` or ``folder:<path>``.
        data_dir: tfds data directory; defaults to ``$TFDS_DATA_DIR``, then tfds' own default.
        side: decode folder images (and variable-size tfds images) to this side; 0 = 64.
    """
    spec = parse_dataset(name)
    if spec.kind == "digits":
        return load_digits()
    if spec.kind == "tfds":
        return load_tfds(spec, data_dir=data_dir, side=side)
    return load_folder(spec, side=side or FOLDER_SIDE)


def _stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=SPLIT_SEED)
    train, val = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest], random_state=SPLIT_SEED
    )
    return train, val, test


def load_digits() -> RawSplits:
    """scikit-learn's 1,797 8x8 digits, upscaled to 32x32x3, split 70/10/20 (1257/180/360)."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    small = (digits.images[..., None] * (255.0 / 16.0)).astype("float32")  # 0..16 -> 0..255
    images = tf.image.resize(small, (32, 32), method="bilinear").numpy()
    images = np.repeat(np.clip(np.round(images), 0, 255).astype("uint8"), 3, axis=-1)
    labels = digits.target.astype("int64")
    train, val, test = _stratified_split(labels, 0.1, 0.2)

    def split(index: np.ndarray) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((images[index], labels[index]))

    return RawSplits(
        name="digits",
        train=split(train),
        val=split(val),
        test=split(test),
        sizes={"train": len(train), "val": len(val), "test": len(test)},
        num_classes=10,
        side=32,
        flip=False,
        class_names=[str(i) for i in range(10)],
        train_labels=labels[train],
    )


def _readable_anyway(builder) -> bool:
    """True where tfds serves data without a prepared folder (``tfds.testing.mock_data``)."""
    try:
        builder.as_dataset(split="train")
        return True
    except Exception:
        return False


def load_tfds(spec: DatasetSpec, *, data_dir: str | None = None, side: int = 0) -> RawSplits:
    """A prepared tfds image-classification set; fails at once, with the fix, if not prepared."""
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    try:
        builder = tfds.builder(spec.target, data_dir=data_dir)
    except Exception as error:  # tfds raises DatasetNotFoundError and friends
        raise SuiteError(f"tfds has no dataset {spec.target!r}: {str(error).splitlines()[0]}") from None
    if not builder.is_prepared() and not _readable_anyway(builder):
        where = data_dir or "tfds' default data dir (~/tensorflow_datasets)"
        raise SuiteError(
            f"dataset {spec.name} is not prepared in {where}; on a machine with internet run "
            f"`suite prepare {spec.name} --data-dir DIR`, then pass --data-dir DIR or set TFDS_DATA_DIR=DIR"
        )
    info = builder.info
    if not info.supervised_keys or "label" not in info.features or not hasattr(info.features["label"], "num_classes"):
        raise SuiteError(f"{spec.name} is not an image-classification set (it has no (image, label) pair)")
    splits = set(info.splits) or {"train", "test"}  # tfds' mock data has no split metadata
    if "train" not in splits:
        raise SuiteError(f"{spec.name} has no train split; it has: {', '.join(sorted(splits))}")
    if "test" in splits:
        names = {"train": "train", "test": "test"}
        names["val"] = "validation" if "validation" in splits else "train[90%:]"
        if "validation" not in splits:
            names["train"] = "train[:90%]"
    else:
        names = {"train": "train[:80%]", "val": "train[80%:90%]", "test": "train[90%:]"}
    image_shape = info.features[info.supervised_keys[0]].shape
    fixed = image_shape[0] is not None and image_shape[0] == image_shape[1]
    target_side = image_shape[0] if fixed else (side or FOLDER_SIDE)

    def to_rgb_uint8(image, label):
        image = tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image[..., :3]
        if not fixed:
            image = tf.cast(tf.clip_by_value(tf.image.resize(image, (target_side, target_side)), 0, 255), tf.uint8)
        return image, tf.cast(label, tf.int64)

    datasets = {
        key: builder.as_dataset(split=value, as_supervised=True, shuffle_files=False).map(to_rgb_uint8)
        for key, value in names.items()
    }
    if info.splits:
        sizes = {key: int(info.splits[value].num_examples) for key, value in names.items()}
    else:
        sizes = {key: int(ds.reduce(0, lambda count, _: count + 1)) for key, ds in datasets.items()}
    label = info.features["label"]
    return RawSplits(
        name=spec.name,
        train=datasets["train"],
        val=datasets["val"],
        test=datasets["test"],
        sizes=sizes,
        num_classes=label.num_classes,
        side=target_side,
        flip=True,
        class_names=list(label.names),
    )


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _readable(paths: list[Path]) -> list[Path]:
    """Drops files that aren't images (PIL can't verify them), with one warning that counts them."""
    from PIL import Image

    good = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
            good.append(path)
        except Exception:
            pass
    if len(good) < len(paths):
        log.warning("skipped %d unreadable image file(s) of %d", len(paths) - len(good), len(paths))
    return good


Parts = dict[str, tuple[list[str], np.ndarray]]  # split name -> (image paths, int64 labels)


def load_folder(spec: DatasetSpec, *, side: int = FOLDER_SIDE) -> RawSplits:
    """A directory with one sub-folder per class, or ``train/`` and ``test/`` (and ``val/``) of those.

    Images are decoded to RGB and resized to ``side``. Corrupt files are skipped
    with a warning that counts them (documented in docs/cli.md).
    """
    check_path(spec)
    root = Path(spec.target).expanduser()
    presplit = (root / "train").is_dir() and (root / "test").is_dir()
    class_names = _class_names(root, root / "train" if presplit else root)
    parts = _presplit_parts(root, class_names) if presplit else _carved_parts(root, class_names)
    for key, (paths, _) in parts.items():
        if not paths:
            raise SuiteError(f"dataset folder {root} has no readable images for the {key} split")
    parts = {key: _shuffled(*part) for key, part in parts.items()}
    train, val, test = (_decoded(*parts[k], side) for k in ("train", "val", "test"))
    return RawSplits(
        name=spec.name,
        train=train,
        val=val,
        test=test,
        sizes={k: len(v[0]) for k, v in parts.items()},
        num_classes=len(class_names),
        side=side,
        flip=True,
        class_names=class_names,
        train_labels=parts["train"][1],
    )


def _class_names(root: Path, class_root: Path) -> list[str]:
    """The sub-folders of ``class_root`` that hold images, sorted; at least two, or ``SuiteError``."""
    class_names = sorted(p.name for p in class_root.iterdir() if p.is_dir() and _images_in(p))
    if not class_names:
        raise SuiteError(f"dataset folder {root} is empty: it needs one sub-folder of images per class")
    if len(class_names) < 2:
        raise SuiteError(f"dataset folder {root} has one class ({class_names[0]}); a classifier needs at least two")
    return class_names


def _listing(base: Path, class_names: list[str]) -> tuple[list[str], np.ndarray]:
    """The readable images under ``base/<class>/`` and their labels (the class's index in ``class_names``)."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        found = _readable(_images_in(base / name)) if (base / name).is_dir() else []
        paths += [str(p) for p in found]
        labels += [label] * len(found)
    return paths, np.asarray(labels, dtype="int64")


def _presplit_parts(root: Path, class_names: list[str]) -> Parts:
    """``train/`` and ``test/`` as they are; ``val/`` (or ``validation/``) if there, else 10% of train, stratified."""
    train_paths, train_labels = _listing(root / "train", class_names)
    test = _listing(root / "test", class_names)
    val_dir = next((root / d for d in ("val", "validation") if (root / d).is_dir()), None)
    if val_dir is not None:
        return {"train": (train_paths, train_labels), "val": _listing(val_dir, class_names), "test": test}
    from sklearn.model_selection import train_test_split

    index = np.arange(len(train_labels))
    keep, val = train_test_split(index, test_size=0.1, stratify=train_labels, random_state=SPLIT_SEED)
    return {
        "train": ([train_paths[i] for i in keep], train_labels[keep]),
        "val": ([train_paths[i] for i in val], train_labels[val]),
        "test": test,
    }


def _carved_parts(root: Path, class_names: list[str]) -> Parts:
    """One folder per class, split 70/10/20 with the fixed split seed."""
    paths, labels = _listing(root, class_names)
    if np.bincount(labels).min() < 5:
        raise SuiteError(f"dataset folder {root} needs at least 5 readable images per class to split 70/10/20")
    train, val, test = _stratified_split(labels, 0.1, 0.2)
    return {
        key: ([paths[i] for i in index], labels[index])
        for key, index in zip(("train", "val", "test"), (train, val, test))
    }


def _shuffled(paths: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """A split's images and labels shuffled once with the split seed, so that a ``train_limit`` takes a sample of
    every class."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(paths))
    return [paths[i] for i in order], labels[order]


def _decoded(paths: list[str], labels: np.ndarray, side: int) -> tf.data.Dataset:
    """The split's images, in the order given, decoded to RGB at ``side``."""

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, (side, side))
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    return tf.data.Dataset.from_tensor_slices((paths, labels)).map(decode)
