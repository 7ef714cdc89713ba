"""Datasets and the tf.data pipeline: splits, preprocessing, augmentation, and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from suite.data.loaders import load, load_digits
from suite.data.pipeline import Training, augment_image, input_side, make_input
from suite.errors import SuiteError


def images_of(ds) -> np.ndarray:
    return np.stack([x.numpy() for x, _ in ds])


DIGITS_IMAGES = 1797  # scikit-learn's digits: 1,797 images (its DESCR); the data ships inside scikit-learn
DIGITS_PER_CLASS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)  # digits 0-9, ditto


def sklearn_split_sizes(n: int, test_fraction: float) -> tuple[int, int]:
    """``(rest, test)`` as ``train_test_split`` sizes a float ``test_size``: ceil for the test part, the rest kept."""
    test = math.ceil(test_fraction * n)
    return n - test, test


def test_digits_split_is_fixed_disjoint_and_complete():
    first, second = load_digits(), load_digits()
    # 70/10/20: the test fifth first, then val as 0.1 / 0.8 of what is left (suite.data.loaders._stratified_split).
    rest, test_size = sklearn_split_sizes(DIGITS_IMAGES, 0.2)  # 1437, ceil(359.4) = 360
    train_size, val_size = sklearn_split_sizes(rest, 0.1 / 0.8)  # 1257, ceil(179.625) = 180
    assert first.sizes == {"train": train_size, "val": val_size, "test": test_size}
    train, val, test = images_of(first.train), images_of(first.val), images_of(first.test)
    assert train.shape == (train_size, 32, 32, 3) and train.dtype == np.uint8
    assert len(val) == val_size and len(test) == test_size
    assert np.array_equal(test, images_of(second.test)), "the split must not depend on anything but its seed"
    # No two of the 1,797 source images are alike, so distinct images across the splits mean disjoint and complete.
    assert len({x.tobytes() for x in np.concatenate([train, val, test])}) == DIGITS_IMAGES
    labels = np.array([int(y) for _, y in first.test])
    # Stratified: each class keeps its 20%, floor(0.2 x its count) or one more.
    assert all(0 <= n - int(0.2 * c) <= 1 for n, c in zip(np.bincount(labels, minlength=10), DIGITS_PER_CLASS))


@pytest.mark.parametrize(
    "arch, side, low, high",
    [
        ("simple_cnn", 32, 0.0, 1.0),
        ("mobilenet_v2", 32, -1.0, 1.0),
        ("inception_v3", 75, -1.0, 1.0),
        ("resnet50", 32, -124.0, 152.0),  # caffe: 0 - 123.68 (red mean) to 255 - 103.939 (blue mean)
    ],
)
def test_pipeline_resizes_and_preprocesses_per_architecture(arch, side, low, high):
    raw = load_digits()
    assert input_side(arch, raw.side) == side
    ds = make_input(raw.test.take(100), arch=arch, side=side, num_classes=10, batch_size=50)
    batches = list(ds)
    assert [int(x.shape[0]) for x, _ in batches] == [50, 50]
    images, labels = batches[0]
    assert images.shape == (50, side, side, 3) and images.dtype == tf.float32
    assert low - 1e-3 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= high + 1e-3
    assert labels.shape == (50, 10) and np.allclose(labels.numpy().sum(axis=1), 1.0)


def test_resnet50_gets_caffe_preprocessing():
    raw = load_digits()
    images, _ = next(iter(make_input(raw.test, arch="resnet50", side=32, num_classes=10, batch_size=4)))
    # A black pixel becomes minus the ImageNet BGR mean.
    assert np.allclose(images.numpy().min(axis=(0, 1, 2)), [-103.939, -116.779, -123.68], atol=1e-3)


def test_augmentation_moves_pixels_but_keeps_shape_and_labels():
    image = tf.constant(np.arange(32 * 32 * 3).reshape(32, 32, 3) % 255, tf.uint8)
    moved = [augment_image(image, 0.2, flip=True, seed=tf.constant([7, k], tf.int64)) for k in range(8)]
    assert all(m.shape == image.shape and m.dtype == tf.uint8 for m in moved)
    assert any(not np.array_equal(m.numpy(), image.numpy()) for m in moved)
    still = augment_image(image, 0.0, flip=False, seed=tf.constant([7, 0], tf.int64))
    assert np.array_equal(still.numpy(), image.numpy())
    raw = load_digits()
    plain = make_input(raw.train.take(64), arch="simple_cnn", side=32, num_classes=10, batch_size=64)
    augmented = make_input(
        raw.train.take(64),
        arch="simple_cnn",
        side=32,
        num_classes=10,
        batch_size=64,
        training=Training(augment=0.2, seed=3),
    )
    ((_, y_plain),) = list(plain)
    ((_, y_aug),) = list(augmented)
    assert sorted(np.argmax(y_plain, 1)) == sorted(np.argmax(y_aug, 1)), "training shuffles, never relabels"


def first_epochs(seed: int, arch: str, batch_size: int, epochs: int = 2) -> list[np.ndarray]:
    """Each epoch's augmented training images in feeding order, as one case of ``arch`` at ``seed`` sees them."""
    raw = load_digits()
    feed = Training(augment=0.2, flip=True, seed=seed)
    data = make_input(raw.train.take(96), arch=arch, side=32, num_classes=10, batch_size=batch_size, training=feed)
    return [np.concatenate([x.numpy() for x, _ in data]) for _ in range(epochs)]


def test_one_seed_gives_every_case_the_same_order_and_augmentation_so_their_differences_are_paired():
    """Two networks of one dataset and seed (different batch sizes too) see the same images in the same order,
    augmented alike, epoch by epoch; each epoch draws anew, and another seed draws otherwise."""
    one, other = first_epochs(3, "simple_cnn", 32), first_epochs(3, "resnet_scratch", 64)
    assert all(np.array_equal(a, b) for a, b in zip(one, other))
    assert not np.array_equal(one[0], one[1])
    assert not np.array_equal(one[0], first_epochs(4, "simple_cnn", 32)[0])


def make_folder(root, classes: dict[str, int], side: int = 20):
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 255, (side, side + 4, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_folder_dataset_splits_and_skips_corrupt_files(tmp_path, caplog):
    root = make_folder(tmp_path / "shapes", {"circle": 10, "square": 10})
    (root / "circle" / "broken.png").write_bytes(b"not a png")
    raw = load(f"folder:{root}", side=24)
    assert raw.num_classes == 2 and raw.class_names == ["circle", "square"]
    assert sum(raw.sizes.values()) == 20, "the corrupt file is skipped"
    assert "skipped 1 unreadable image file(s)" in caplog.text
    images = images_of(raw.train)
    assert images.shape[1:] == (24, 24, 3) and images.dtype == np.uint8


def test_folder_with_train_and_test_subfolders_keeps_them(tmp_path):
    make_folder(tmp_path / "data" / "train", {"a": 10, "b": 10})
    make_folder(tmp_path / "data" / "test", {"a": 3, "b": 3})
    raw = load(f"folder:{tmp_path / 'data'}", side=16)
    assert raw.sizes == {"train": 18, "val": 2, "test": 6}


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is empty"),
        (lambda p: make_folder(p, {"only": 6}), "has one class"),
    ],
)
def test_unusable_folders_say_which_path_and_why(tmp_path, setup, message):
    root = tmp_path / "images"
    setup(root)
    with pytest.raises(SuiteError, match=message) as error:
        load(f"folder:{root}")
    assert str(root) in str(error.value)


def test_unprepared_cifar10_fails_at_once_with_the_fix(tmp_path):
    with pytest.raises(SuiteError, match="not prepared.*suite prepare cifar10") as error:
        load("cifar10", data_dir=str(tmp_path))
    assert "\n" not in str(error.value)


MOCK_EXAMPLES = 30  # what tfds.testing.mock_data(num_examples=...) serves for every split asked of it


def test_cifar10_loads_through_tfds(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(tmp_path)):
        raw = load("cifar10", data_dir=str(tmp_path))
        assert raw.num_classes == 10 and raw.side == 32 and raw.flip
        images, labels = next(iter(make_input(raw.train, arch="inception_v3", side=75, num_classes=10, batch_size=8)))
        assert images.shape == (8, 75, 75, 3) and labels.shape == (8, 10)
        assert len(raw.class_names) == 10
        # Without split metadata the loader counts what each split serves; the mock serves MOCK_EXAMPLES to every
        # request, its slices (train[:90%]) included.
        assert raw.sizes == {"train": MOCK_EXAMPLES, "val": MOCK_EXAMPLES, "test": MOCK_EXAMPLES}
        assert {key: len(images_of(getattr(raw, key))) for key in raw.sizes} == raw.sizes


def test_cifar10_sizes_come_from_its_split_metadata(tmp_path):
    """CIFAR-10 has 50,000 training and 10,000 test images (Krizhevsky 2009); validation is the last tenth of train."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("cifar10", data_dir=str(tmp_path))
    splits = [
        tfds.core.SplitInfo(name=name, shard_lengths=[count], num_bytes=0, filename_template=None)
        for name, count in (("train", 50_000), ("test", 10_000))
    ]
    builder.info.set_splits(tfds.core.SplitDict(splits))
    Path(builder.data_dir).mkdir(parents=True)
    builder.info.write_to_directory(builder.data_dir)  # the metadata a prepared cifar10 folder holds
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=str(tmp_path)):
        raw = load("cifar10", data_dir=str(tmp_path))
    assert raw.sizes == {"train": 45_000, "val": 5_000, "test": 10_000}
