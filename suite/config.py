"""User cases from TOML: ``suite run --cases FILE.toml``.

Each ``[[case]]`` table names ``arch``, ``regime`` and ``dataset`` and may set
any other ``Case`` field; those fields win over the profile's budgets. Its id
follows the ``arch.regime.dataset`` rule unless the table sets ``id``::

    [[case]]
    arch = "resnet_scratch"
    regime = "scratch"
    dataset = "digits"
    id = "resnet_scratch.scratch.digits.sgd"
    optimizer = "nesterov"
    learning_rate = 0.05

A ``tuned`` case may narrow or widen its search space with ``search_space``, a
TOML inline table (or the same as a JSON string; see ``suite.search_space``)::

    [[case]]
    arch = "simple_cnn"
    regime = "tuned"
    dataset = "digits"
    id = "simple_cnn.tuned.digits.adam"
    tuner = "bayesian"
    search_space = {optimizer = {choices = ["adam", "adamw"]}, momentum = {min = 0.8, max = 0.99}, dropout = 0.1}

An ``[[arch]]`` table declares an architecture of your own (``suite.models.user``), with a case for every
regime and built-in dataset, which ``[[case]]`` tables and patterns can then name::

    [[arch]]
    name = "tiny_mixer"
    builder = "my_models.mixer:build"   # or "path/to/backbone.keras"
    preprocess = "unit"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from suite.case import CASE_FIELDS, FIELD_TYPES, Case
from suite.errors import SuiteError
from suite.models.spec import ArchSpec
from suite.models.user import make_spec
from suite.registry import add_architecture, validate

REQUIRED = ("arch", "regime", "dataset")
ACCEPTED = {int: (int,), float: (int, float), str: (str,)}  # TOML value types each field type takes
ARCH_KEYS = {  # the keys of an [[arch]] table and their types (suite.models.user.make_spec)
    "name": str,  # lower-case [a-z][a-z0-9_]*: the first part of its case ids
    "builder": str,  # "module:function" or a saved backbone's .keras path
    "preprocess": str,  # input convention: unit, tf, caffe, torch or raw
    "min_size": int,  # smallest input side in pixels; default 32
    "native_size": int,  # side its own pretrained weights expect; 0 = none
    "unsafe": bool,  # a .keras builder: deserialise it with Keras' safe_mode off (Lambda layers); default false
    "summary": str,  # one line for listings
    "family": str,  # a family name for listings; default "user"
}


def load_cases(path: str | Path) -> list[Case]:
    """Parses and validates a cases file; raises ``SuiteError`` with the file, table and key at fault.

    Its ``[[arch]]`` tables are registered first (``load_architectures``), for the rest of the process, so
    that its cases and patterns can name them.
    """
    path = Path(path)
    data = _read(path)
    extra = set(data) - {"case", "arch"}
    if extra:
        raise SuiteError(f"{path}: unknown top-level key {sorted(extra)[0]!r}; valid: [[case]] and [[arch]] tables")
    tables, archs = data.get("case", []), data.get("arch", [])
    for key, value in (("case", tables), ("arch", archs)):
        if not isinstance(value, list):
            raise SuiteError(f"{path}: {key} must be an array of tables, written [[{key}]]")
    if not tables and not archs:
        raise SuiteError(f"{path}: no [[case]] tables; each needs arch, regime and dataset")
    load_architectures(path, archs)
    cases = [_case(table, f"{path}: [[case]] #{number}") for number, table in enumerate(tables, start=1)]
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SuiteError(f'{path}: duplicate case id {duplicates[0]!r}; give one of them its own id = "..."')
    return cases


def _read(path: Path) -> dict:
    """The TOML file's tables; ``SuiteError`` if it is missing, unreadable or malformed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SuiteError(f"cases file {path} does not exist") from None
    except OSError as error:
        raise SuiteError(f"cases file {path} can't be read: {error.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: malformed TOML: {error}") from None


def _case(table: dict, where: str) -> Case:
    """One ``[[case]]`` table as a validated ``Case``."""
    missing = [k for k in REQUIRED if k not in table]
    if missing:
        raise SuiteError(f"{where}: missing {', '.join(missing)}; each case needs arch, regime and dataset")
    if isinstance(table.get("search_space"), dict):  # an inline table, kept on the case as canonical JSON
        table["search_space"] = json.dumps(table["search_space"], sort_keys=True)
    for key, value in table.items():
        if key not in CASE_FIELDS:
            raise SuiteError(f"{where}: unknown key {key!r}; valid: {', '.join(CASE_FIELDS)}")
        kind = FIELD_TYPES[key]
        if isinstance(value, bool) or not isinstance(value, ACCEPTED[kind]):
            raise SuiteError(f"{where}: {key} must be {kind.__name__}. Received: {key}={value!r}")
    fields = {k: v for k, v in table.items() if k not in (*REQUIRED, "id")}
    case = Case(
        table["arch"],
        table["regime"],
        table["dataset"],
        id=table.get("id", ""),
        **fields,
        overrides=tuple(sorted(fields.items())),
    )
    return validate(case)


def load_architectures(path: Path, tables: list[dict]) -> list[ArchSpec]:
    """Declares and registers each ``[[arch]]`` table's architecture (``suite.models.user``); returns them.

    A ``module:function`` builder is imported with the TOML file's folder, then the current directory, in
    front of ``sys.path`` (worker processes get the same); a relative ``.keras`` path is looked up in the
    same two places. Nothing is built here: ``suite run`` builds each once before its cases start.
    """
    specs: list[ArchSpec] = []
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[arch]] #{number}"
        _check_arch_table(table, where)
        if table["name"] in {spec.name for spec in specs}:
            raise SuiteError(f"{where}: architecture {table['name']!r} is declared twice in this file")
        spec = make_spec(**table, base_dir=path.resolve().parent, where=where)
        try:
            specs.append(add_architecture(spec))
        except SuiteError as error:
            raise SuiteError(f"{where}: {error}") from None
    return specs


def _check_arch_table(table: dict, where: str) -> None:
    """Every key of an ``[[arch]]`` table known and of its type, ``name`` and ``builder`` present."""
    missing = [key for key in ("name", "builder") if key not in table]
    if missing:
        raise SuiteError(f"{where}: missing {', '.join(missing)}; each [[arch]] needs name and builder")
    for key, value in table.items():
        if key not in ARCH_KEYS:
            raise SuiteError(f"{where}: unknown key {key!r}; valid: {', '.join(ARCH_KEYS)}")
        kind = ARCH_KEYS[key]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise SuiteError(f"{where}: {key} must be {kind.__name__}. Received: {key}={value!r}")


def parse_overrides(items: list[str]) -> dict:
    """``["label_noise=1.0", "epochs=3"]`` from ``suite run --set`` as typed ``Case`` fields."""
    overrides: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in CASE_FIELDS or key in ("id", *REQUIRED):
            valid = ", ".join(k for k in CASE_FIELDS if k not in ("id", *REQUIRED))
            raise SuiteError(f"--set takes FIELD=VALUE with a case field; valid fields: {valid}. Received: {item!r}")
        kind = FIELD_TYPES[key]
        try:
            overrides[key] = kind(text.strip())
        except ValueError:
            raise SuiteError(f"--set {key} must be {kind.__name__}. Received: {item!r}") from None
    return overrides
