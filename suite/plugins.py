"""Architectures from outside the suite: the decorator, the entry-point group, and carrying them to workers.

A Python package adds architectures without TOML in two ways:

- ``@suite.register_architecture`` on a ``build(input_shape)`` function (timm's ``@register_model`` style)
  registers it when its module is imported;
- the entry-point group ``keras_classifier_suite.architectures`` (``ENTRY_POINT_GROUP``), which the
  ``suite`` command loads when it starts (``load_entry_points``).

A case runs in a worker process (``suite.run.executors``) that knows only the built-in architectures, so every
job carries the user architectures of the process that planned it (``carried``) and the worker registers
them again (``restore``) before it builds the case.

``suite.registry`` (the whole case catalogue) is imported on first registration, not with this module, so
that ``from suite import register_architecture`` stays light.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
from collections.abc import Callable
from typing import Any

from suite.errors import SuiteError, one_line
from suite.models import ARCHITECTURES
from suite.models.spec import ArchSpec
from suite.models.user import FUNCTION_SETTINGS, add_import_path, check_settings, function_spec, import_paths

ENTRY_POINT_GROUP = "keras_classifier_suite.architectures"


def register_architecture(function: Callable | None = None, *, name: str | None = None, **settings: Any) -> Callable:
    """Registers a ``build(input_shape)`` function as an architecture, with all its catalogue cases.

    ``build`` receives ``(side, side, 3)`` and returns a ``keras.Model`` backbone: images in, a feature map
    or a feature vector out (the suite adds the head). Use it bare or with settings::

        @suite.register_architecture(preprocess="tf", min_size=64)
        def tiny_mixer(input_shape):
            ...

    Args:
        function: the builder, when used bare (``@register_architecture``).
        name: the architecture's name, lower-case ``[a-z][a-z0-9_]*``. Defaults to the function's name.
        **settings: any of these ``ArchSpec`` fields (``suite.models.user.FUNCTION_SETTINGS``):
            preprocess: input convention, a key of ``suite.models.spec.CONVENTIONS``. Defaults to ``unit``.
            min_size: smallest input side in pixels. Defaults to 32.
            native_size: side in pixels its own pretrained weights expect; 0 = none. Defaults to 0.
            summary: one line for listings. Defaults to "user architecture built by <module:function>".
            family: a family name for listings. Defaults to ``user``.

    Returns the function unchanged. ``SuiteError`` on a keyword not listed above (at once, naming it), if the
    name is taken by a built-in architecture or another builder, or if the function is not a module-level
    function of an importable module.
    """
    check_settings(settings, "register_architecture", FUNCTION_SETTINGS)

    def decorate(build: Callable) -> Callable:
        from suite.registry import add_architecture

        add_architecture(function_spec(build, name=name, **settings))
        return build

    return decorate(function) if function is not None else decorate


def _registered(target: Any) -> bool:
    """``target`` is the builder of a registered user architecture (a decorated function)."""
    builder = f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', '')}"
    return any(spec.source == "user" and spec.builder == builder for spec in ARCHITECTURES.values())


def load_entry_points() -> list[str]:
    """Loads every entry point of ``ENTRY_POINT_GROUP``; returns the names of the architectures added.

    The contract for a package: each entry point names an object, which is imported. Importing it may
    register architectures (a module using ``@suite.register_architecture``, or a decorated function
    itself); if the object is callable and not already registered by import, it is called with no
    arguments and registers architectures then (a ``register()`` hook calling ``register_architecture``).
    Loading twice is harmless. An entry point that can't be imported, or whose hook raises, is a
    ``SuiteError`` naming it.
    """
    before = set(ARCHITECTURES)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name} = {entry.value!r} (group {ENTRY_POINT_GROUP})"
        try:
            target = entry.load()
        except SuiteError as error:
            raise SuiteError(f"{where}: {error}") from None
        except Exception as error:  # missing module, or its code raised as it ran
            raise SuiteError(f"{where} can't be imported: {one_line(error)}") from None
        if callable(target) and not inspect.isclass(target) and not _registered(target):
            try:
                target()
            except SuiteError as error:
                raise SuiteError(f"{where}: {error}") from None
            except Exception as error:
                raise SuiteError(f"{where}: calling it failed: {one_line(error)}") from None
    return sorted(set(ARCHITECTURES) - before)


def carried() -> dict[str, list]:
    """What a worker process needs to know of this one's user architectures: their specs (as dicts) and
    the directories their builders are imported from."""
    specs = [dataclasses.asdict(spec) for spec in ARCHITECTURES.values() if spec.source == "user"]
    return {"specs": specs, "paths": import_paths()}


def restore(archs: dict[str, list] | None) -> None:
    """Registers in this process the user architectures ``carried`` described (a worker, a Ray task)."""
    if not archs:
        return
    from suite.registry import add_architecture

    for path in archs.get("paths", []):
        add_import_path(path)
    for spec in archs.get("specs", []):
        add_architecture(ArchSpec(**spec))
