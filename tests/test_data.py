"""Datasets and the tf.data pipeline: splits, preprocessing, augmentation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from suite.data.loaders import load, load_digits
from suite.data.pipeline import augment_image, input_side, make_input
from suite.errors import SuiteError


def images_of(ds) -> np.ndarray:
    return np.stack([x.numpy() for x, _ in ds])


def test_digits_split_is_fixed_disjoint_and_complete():
    first, second = load_digits(), load_digits()
    assert first.sizes == {"train": 1257, "val": 180, "test": 360}
    assert sum(first.sizes.values()) == 1797
    train, test = images_of(first.train), images_of(first.test)
    assert train.shape == (1257, 32, 32, 3) and train.dtype == np.uint8
    assert np.array_equal(test, images_of(second.test)), "the split must not depend on anything but its seed"
    train_keys = {x.tobytes() for x in train}
    assert sum(x.tobytes() in train_keys for x in test) <= 2  # a few digits are pixel-identical in the source data
    labels = np.array([int(y) for _, y in first.test])
    assert np.bincount(labels, minlength=10).min() >= 34, "the test split is stratified"


@pytest.mark.parametrize(
    "arch, side, low, high",
    [
        ("simple_cnn", 32, 0.0, 1.0),
        ("mobilenet_v2", 32, -1.0, 1.0),
        ("inception_v3", 75, -1.0, 1.0),
        ("resnet50", 32, -124.0, 152.0),
    ],
)
def test_pipeline_resizes_and_preprocesses_per_architecture(arch, side, low, high):
    raw = load_digits()
    assert input_side(arch, raw.side) == side
    ds = make_input(raw.test, arch=arch, side=side, num_classes=10, batch_size=50, limit=100)
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
    moved = [augment_image(image, 0.2, flip=True) for _ in range(8)]
    assert all(m.shape == image.shape and m.dtype == tf.uint8 for m in moved)
    assert any(not np.array_equal(m.numpy(), image.numpy()) for m in moved)
    assert np.array_equal(augment_image(image, 0.0, flip=False).numpy(), image.numpy())
    raw = load_digits()
    plain = make_input(raw.train, arch="simple_cnn", side=32, num_classes=10, batch_size=64, limit=64)
    augmented = make_input(
        raw.train,
        arch="simple_cnn",
        side=32,
        num_classes=10,
        batch_size=64,
        limit=64,
        training=True,
        augment=0.2,
        seed=3,
    )
    ((_, y_plain),) = list(plain)
    ((_, y_aug),) = list(augmented)
    assert sorted(np.argmax(y_plain, 1)) == sorted(np.argmax(y_aug, 1)), "training shuffles, never relabels"


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


def test_cifar10_loads_through_tfds(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=30, data_dir=str(tmp_path)):
        raw = load("cifar10", data_dir=str(tmp_path))
        assert raw.num_classes == 10 and raw.side == 32 and raw.flip
        images, labels = next(iter(make_input(raw.train, arch="inception_v3", side=75, num_classes=10, batch_size=8)))
        assert images.shape == (8, 75, 75, 3) and labels.shape == (8, 10)
        assert len(raw.class_names) == 10 and raw.sizes["train"] > 0
