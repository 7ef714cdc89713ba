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
TOML inline table (or the same as a JSON string; see ``suite.tuning.space``)::

    [[case]]
    arch = "simple_cnn"
    regime = "tuned"
    dataset = "digits"
    id = "simple_cnn.tuned.digits.adam"
    tuner = "bayesian"
    search_space = {optimizer = {choices = ["adam", "adamw"]}, momentum = {min = 0.8, max = 0.99}, dropout = 0.1}
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from suite.case import CASE_FIELDS, FIELD_TYPES, Case
from suite.errors import SuiteError
from suite.registry import validate

REQUIRED = ("arch", "regime", "dataset")
ACCEPTED = {int: (int,), float: (int, float), str: (str,)}  # TOML value types each field type takes


def load_cases(path: str | Path) -> list[Case]:
    """Parses and validates a cases file; raises ``SuiteError`` with the file, table and key at fault."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SuiteError(f"cases file {path} does not exist") from None
    except OSError as error:
        raise SuiteError(f"cases file {path} can't be read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: malformed TOML: {error}") from None
    extra = set(data) - {"case"}
    if extra:
        raise SuiteError(f"{path}: unknown top-level key {sorted(extra)[0]!r}; valid: [[case]] tables")
    tables = data.get("case", [])
    if not isinstance(tables, list) or not tables:
        raise SuiteError(f"{path}: no [[case]] tables; each needs arch, regime and dataset")
    cases = []
    for number, table in enumerate(tables, start=1):
        where = f"{path}: [[case]] #{number}"
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
        cases.append(validate(case))
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SuiteError(f'{path}: duplicate case id {duplicates[0]!r}; give one of them its own id = "..."')
    return cases


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
