"""``Datasets``: each dataset's raw splits, loaded once per process and shared by the steps that need them."""

from __future__ import annotations

from suite.data import parse_dataset
from suite.data.loaders import load


class Datasets:
    """Each dataset's raw splits, loaded once per process (``suite.data.loaders``); ``datasets(name, side)``."""

    def __init__(self, data_dir: str | None = None):
        self.data_dir = data_dir
        self._loaded: dict[tuple[str, int], object] = {}

    def __call__(self, name: str, side: int = 0):
        key = (name, side if parse_dataset(name).kind != "digits" else 0)
        if key not in self._loaded:
            self._loaded[key] = load(name, data_dir=self.data_dir, side=side)
        return self._loaded[key]
