"""User architectures: your own backbone, from a ``build(input_shape)`` function or a saved ``.keras`` file.

Three ways declare one: an ``[[arch]]`` table in a cases TOML (``suite.config``), the
``suite.register_architecture`` decorator and the ``keras_classifier_suite.architectures`` entry-point group
(``suite.plugins``). Each makes an ``ArchSpec`` here (``make_spec``, ``function_spec``) with
``source="user"``, its builder (``"module:function"`` or the ``.keras`` file's absolute path) and
``builder_hash``, the SHA-256 (12 hex digits) of the builder module's source file or of the ``.keras`` file.
Case keys, tuner searches and cached source weights fold that hash in, so a changed builder is never resumed
as the old one. ``suite.registry.add_architecture`` registers the spec and its cases.

Declaring imports the builder's module (so a ``module:function`` that doesn't resolve is bad input at once)
but builds nothing; ``build_backbone``, like every family module's, imports TensorFlow. Keras is imported inside
the functions that build, so that declaring an architecture (``suite run --cases``, ``suite archs``) stays light.

Weights. A function's backbone is trained as it is returned, so ``build`` should return fresh weights:
``scratch`` starts from them, and every other regime replaces them (``suite.transfer``). A saved backbone
gives the architecture only: it is rebuilt from its config with fresh weights, as every backbone is built
random here; to start from the file's own weights, save them with ``save_weights`` and name that file as a
case's ``weights``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.errors import SuiteError, one_line
from suite.models import ARCHITECTURES
from suite.models.spec import CONVENTIONS, ArchSpec

if TYPE_CHECKING:
    import keras

NAME = re.compile(r"[a-z][a-z0-9_]*\Z")  # it becomes the first part of case ids
BUILDER = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")  # module:function
DEFAULT_MIN_SIZE = 32  # pixels
SAVED = ".keras"
_IMPORT_PATHS: list[str] = []  # directories put in front of sys.path for builders; worker processes get them too


def add_import_path(directory: str | Path) -> None:
    """Puts ``directory`` in front of ``sys.path`` (once) and remembers it for worker processes."""
    path = str(Path(directory).resolve())
    if path not in _IMPORT_PATHS:
        _IMPORT_PATHS.append(path)
    if path not in sys.path:
        sys.path.insert(0, path)


def import_paths() -> list[str]:
    """The directories ``add_import_path`` added, in the order added."""
    return list(_IMPORT_PATHS)


def file_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes, 12 hex digits."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def check_name(name: object, where: str) -> str:
    """``name`` if it is lower-case ``[a-z][a-z0-9_]*``; else ``SuiteError``."""
    if not isinstance(name, str) or not NAME.match(name):
        raise SuiteError(
            f"{where}: an architecture name is lower-case letters, digits and _, starting with a letter "
            f"(it becomes part of case ids). Received: name={name!r}"
        )
    return name


# The ``ArchSpec`` fields a declaration may set (an ``[[arch]]`` table, ``register_architecture``), with defaults;
# the suite sets the rest (module, source, builder, builder_hash, ...).
SETTINGS: dict[str, Any] = {
    "preprocess": "unit",  # input convention, a key of CONVENTIONS
    "min_size": DEFAULT_MIN_SIZE,  # smallest input side in pixels
    "native_size": 0,  # side in pixels its own pretrained weights expect; 0 = none
    "unsafe": False,  # a .keras builder only: deserialise it with Keras' safe_mode off
    "summary": "",  # one line for listings; "" = "user architecture built by <builder>"
    "family": "user",  # a family name for listings
}
FUNCTION_SETTINGS = tuple(key for key in SETTINGS if key != "unsafe")  # what a build function may set


def check_settings(settings: dict[str, Any], where: str, valid: Iterable[str] = tuple(SETTINGS)) -> dict[str, Any]:
    """``settings`` over the defaults of ``SETTINGS``, checked; ``SuiteError`` naming the first fault.

    Each key is one of ``valid``; the input convention is one of ``CONVENTIONS``; sides are whole pixels,
    ``min_size`` at least 1.
    """
    valid = tuple(valid)
    for key in settings:
        if key in valid:
            continue
        if key in SETTINGS:  # unsafe, to a build function
            why = f"{key} applies to a saved {SAVED} builder only"
        elif key in {field.name for field in dataclasses.fields(ArchSpec)}:
            why = f"{key} is set by the suite"
        else:
            why = f"unknown keyword {key!r}"
        raise SuiteError(f"{where}: {why}; valid: {', '.join(valid)}")
    full = {**SETTINGS, **settings}
    if full["preprocess"] not in CONVENTIONS:
        raise SuiteError(f"{where}: unknown preprocess {full['preprocess']!r}; valid: {', '.join(CONVENTIONS)}")
    for key, low in (("min_size", 1), ("native_size", 0)):
        value = full[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SuiteError(f"{where}: {key} must be a whole number of pixels >= {low}. Received: {key}={value!r}")
    return full


def make_spec(
    name: str, builder: str, *, base_dir: str | Path | None = None, where: str = "", **settings: Any
) -> ArchSpec:
    """The spec of an architecture built by ``builder``: ``"module:function"`` or a ``.keras`` file.

    ``settings`` are those of ``SETTINGS`` (an ``[[arch]]`` table's other keys). A module is imported from
    ``sys.path`` with ``base_dir`` (the TOML file's folder) and then the current directory put in front of it;
    a relative ``.keras`` path is looked up in ``base_dir``, then the current directory. ``unsafe`` lets a
    ``.keras`` file deserialise Python code (a ``Lambda`` layer).
    """
    where = where or f"architecture {name!r}"
    check_name(name, where)
    settings = check_settings(settings, where)
    if builder.endswith(SAVED):
        path = _saved_path(builder, base_dir, where)
        return _spec(name, str(path), file_hash(path), **settings)
    if settings["unsafe"]:
        raise SuiteError(
            f"{where}: unsafe = true applies to a saved {SAVED} builder only. Received: builder={builder!r}"
        )
    add_import_path(Path.cwd())
    if base_dir is not None:
        add_import_path(base_dir)
    function = resolve_builder(builder, where)
    return _spec(name, builder, source_hash(function, builder, where), **settings)


def function_spec(function: Callable, *, name: str | None = None, **settings: Any) -> ArchSpec:
    """The spec of an architecture built by ``function`` (``suite.register_architecture``), named after it
    unless ``name`` is given; ``settings`` are those of ``FUNCTION_SETTINGS``. It must be a module-level
    function of an importable module: worker processes import it by ``module:qualname``."""
    module, qualname = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    where = f"register_architecture({qualname or function!r})"
    if not callable(function):
        raise SuiteError(f"{where}: it decorates a build(input_shape) function. Received: {type(function).__name__}")
    if module in (None, "__main__") or "<locals>" in qualname:
        raise SuiteError(
            f"{where}: the builder must be a module-level function of an importable module, as worker processes "
            f"import it by name. Received: {module}:{qualname}"
        )
    name = check_name(name or function.__name__, where)
    settings = check_settings(settings, where, FUNCTION_SETTINGS)
    builder = f"{module}:{qualname}"
    return _spec(name, builder, source_hash(function, builder, where), **settings)


def _spec(name: str, builder: str, digest: str, *, summary: str = "", family: str = "user", **settings) -> ArchSpec:
    """A user architecture's spec: its settings, and what the suite sets (module, source, builder, its hash)."""
    return ArchSpec(
        name=name,
        module="user",
        imagenet=False,
        summary=summary or f"user architecture built by {builder}",
        family=family or "user",
        source="user",
        builder=builder,
        builder_hash=digest,
        **settings,
    )


def _saved_path(builder: str, base_dir: str | Path | None, where: str) -> Path:
    """The absolute path of a ``.keras`` builder: as given if absolute, else in ``base_dir``, else here."""
    path = Path(builder).expanduser()
    candidates = [path] if path.is_absolute() else [Path(d) / path for d in (base_dir, Path.cwd()) if d is not None]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = " or ".join(str(c) for c in candidates)
    raise SuiteError(f"{where}: saved backbone {builder} does not exist (looked for {looked})")


def resolve_builder(builder: str, where: str) -> Callable:
    """The function ``"module:function"`` names; ``SuiteError`` naming the module and the import error."""
    if not BUILDER.match(builder):
        raise SuiteError(
            f"{where}: builder is 'module:function' (e.g. 'my_models.mixer:build') or a {SAVED} file. "
            f"Received: builder={builder!r}"
        )
    module_name, _, attribute = builder.partition(":")
    importlib.invalidate_caches()  # a module written since the last import is found
    try:
        target = importlib.import_module(module_name)
    except Exception as error:  # not found, or the module raised as it ran
        raise SuiteError(f"{where}: builder module {module_name!r} can't be imported: {one_line(error)}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise SuiteError(f"{where}: module {module_name!r} has no {attribute!r}. Received: builder={builder!r}")
        target = getattr(target, part)
    if not callable(target):
        raise SuiteError(f"{where}: {builder} is a {type(target).__name__}, not a build(input_shape) function")
    return target


def source_hash(function: Callable, builder: str, where: str) -> str:
    """The hash of the source file that defines ``function``: what tells a changed builder apart."""
    try:
        path = inspect.getsourcefile(function)
    except TypeError:  # a builtin, or an instance whose class has no file
        path = None
    if not path or not Path(path).is_file():
        raise SuiteError(f"{where}: the source file of {builder} can't be found; define the builder in a .py file")
    return file_hash(path)


def build_backbone(arch: str, input_size: int, *, depth: int = 0, l2: float = 0.0) -> keras.Model:
    """The user architecture ``arch`` at ``input_size``: its builder's model, checked, renamed ``arch``.

    ``SuiteError`` (one line) if the builder returns something other than a one-input ``keras.Model``
    taking ``(input_size, input_size, 3)`` images and giving a feature map or a feature vector.
    """
    if depth:
        raise ValueError(
            f"{arch} is a user architecture; depth applies to simple_cnn and resnet_scratch. Received: depth={depth}"
        )
    if l2:
        raise ValueError(f"{arch} is a user architecture; use weight_decay instead of l2. Received: l2={l2}")
    spec = ARCHITECTURES[arch]
    if spec.builder.endswith(SAVED):
        backbone = _saved_backbone(spec)
    else:
        backbone = resolve_builder(spec.builder, f"architecture {arch!r}")((input_size, input_size, 3))
    check_backbone(backbone, spec, input_size)
    backbone.name = arch
    return backbone


def _saved_backbone(spec: ArchSpec) -> keras.Model:
    """The saved backbone's architecture with fresh weights, deserialised with ``safe_mode`` unless ``unsafe``."""
    import keras

    where = f"architecture {spec.name!r}: saved backbone {spec.builder}"
    try:
        with zipfile.ZipFile(spec.builder) as archive:
            config = json.loads(archive.read("config.json"))
    except FileNotFoundError:
        raise SuiteError(f"{where} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise SuiteError(f"{where} is not a Keras {SAVED} file (a zip holding config.json)") from None
    try:
        return keras.saving.deserialize_keras_object(config, safe_mode=not spec.unsafe)
    except Exception as error:
        if spec.unsafe or "safe_mode" not in str(error):
            raise
        why = str(error).strip().split(". ")[0]
        raise SuiteError(
            f"{where} needs unsafe deserialisation ({why}); if you trust the file, set unsafe = true in its "
            "[[arch]] table"
        ) from None


def check_backbone(backbone: object, spec: ArchSpec, side: int) -> None:
    """``SuiteError`` unless ``backbone`` is a Keras model from ``(side, side, 3)`` images to a feature map
    ``(batch, h, w, c)`` or a feature vector ``(batch, c)``."""
    import keras

    where = f"architecture {spec.name!r} ({spec.builder})"
    if not isinstance(backbone, keras.Model):
        raise SuiteError(f"{where}: the builder returned a {type(backbone).__name__}, not a keras.Model")
    try:
        inputs, outputs = tuple(backbone.input_shape), backbone.output_shape
    except (AttributeError, ValueError):  # a subclassed model never called on an input
        raise SuiteError(f"{where}: the model has no input shape; build it on keras.Input(input_shape)") from None
    wanted = (None, side, side, 3)
    if inputs != wanted:
        hint = (
            f"; a saved backbone takes one side only: set image_size = {inputs[1]} in the case, or "
            f"min_size = {inputs[1]} in its [[arch]] table"
            if spec.builder.endswith(SAVED) and len(inputs) == 4
            else ""
        )
        raise SuiteError(f"{where}: the model takes inputs of shape {inputs}, not {wanted} as asked{hint}")
    if not isinstance(outputs, tuple) or len(outputs) not in (2, 4):
        raise SuiteError(
            f"{where}: the model must output a feature map (batch, h, w, c) or a feature vector (batch, c). "
            f"Received: output shape {outputs}"
        )


def check(arch: str, side: int) -> None:
    """Builds ``arch`` once at ``side`` as a case would, before any case runs: anything that stops the
    builder becomes one ``SuiteError`` line (bad input, exit 2) instead of a failed row per case."""
    import keras

    try:
        build_backbone(arch, side)
    except SuiteError:
        raise
    except Exception as error:
        builder = ARCHITECTURES[arch].builder
        raise SuiteError(f"architecture {arch!r}: {builder} failed at {side}x{side}x3: {one_line(error)}") from None
    finally:
        keras.backend.clear_session()
