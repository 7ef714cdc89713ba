"""Shared fixtures: quiet TensorFlow, a private weights cache, seeded randomness; under CI=true a skip fails."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# Under CI=true a test that doesn't run is a failure unless allow-listed (tests/_ci_plugin.py, next to this file,
# importable because pytest puts this folder on sys.path); importing the hooks registers them.
from _ci_plugin import pytest_configure, pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402, F401


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Source-pretrained weights go to a per-session folder, never the user's cache."""
    os.environ["SUITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("suite-cache"))
    yield


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state."""
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def hub_stand_in(tmp_path_factory):
    """A tiny Reusable SavedModel exported to a temporary folder: a TF-Hub handle that needs no network."""
    from suite.models.hub import export_stand_in

    return str(export_stand_in(tmp_path_factory.mktemp("hub") / "stand_in"))


MIXER = '''
import keras


def build(input_shape):
    """A patchify conv, batch norm and a 3x3 conv: a feature map out."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 4, strides=4, name="patchify")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="mix")(x)
    return keras.Model(inputs, x)


def not_a_model(input_shape):
    return [input_shape]


def wrong_side(input_shape):
    return build((64, 64, 3))


def tokens(input_shape):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 4, strides=4)(inputs)
    return keras.Model(inputs, keras.layers.Reshape((-1, 8))(x))


def broken(input_shape):
    raise ValueError("kernel larger than the image")
'''


class UserArchFiles:
    """Writes builder modules (``MIXER`` by default) and ``[[arch]]`` cases files for user-architecture tests."""

    mixer = MIXER

    @staticmethod
    def module(folder, text: str = MIXER) -> str:
        """Writes ``text`` as a module with a fresh name into ``folder``; returns the name."""
        import textwrap
        import uuid

        name = f"ua_{uuid.uuid4().hex[:10]}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
        return name

    @staticmethod
    def toml(folder, name: str, builder: str, **more) -> str:
        """A cases file in ``folder`` with one ``[[arch]]`` table; returns its path."""
        import json
        import uuid

        lines = ["[[arch]]", f'name = "{name}"', f'builder = "{builder}"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in more.items()]
        path = folder / f"{name}-{uuid.uuid4().hex[:6]}.toml"
        path.write_text("\n".join(lines) + "\n")
        return str(path)


@pytest.fixture
def user_archs(monkeypatch):
    """``UserArchFiles``; the architectures, import paths and ``sys.path`` entries a test adds are gone after it."""
    import sys

    from suite.models import ARCHITECTURES, user
    from suite.registry import remove_architecture

    before = set(ARCHITECTURES)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(user, "_IMPORT_PATHS", [])
    yield UserArchFiles()
    for name in set(ARCHITECTURES) - before:
        remove_architecture(name)
