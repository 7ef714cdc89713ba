"""Shared fixtures: quiet TensorFlow, a private weights cache, seeded randomness; under CI=true a skip fails."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# Under CI=true a test that doesn't run is a failure (suite/_pytest_ci.py); importing the hooks registers them.
from suite._pytest_ci import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402, F401


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
