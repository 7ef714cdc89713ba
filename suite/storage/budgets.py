"""``budgets.json``: the latency budgets a results folder's report answers for, kept with the answers.

``suite run --budgets`` (or the profile's ``latency_budgets_ms``) and ``suite report --budgets`` write it, so that
every later report of the folder, and ``suite compare`` with it as the baseline, asks the user's question again.
A folder without it is asked the report's fixed ladder (``suite.report.front.budget_ladder``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from suite.errors import SuiteError
from suite.storage.table import replace_whole

BUDGETS_FILE = "budgets.json"
KEY = "latency_budgets_ms"


def parse_budgets(text: str) -> tuple[float, ...]:
    """``"2,5,10"`` -> ``(2.0, 5.0, 10.0)``: positive milliseconds, sorted, without repeats; ``SuiteError`` naming
    the first that is not one."""
    values = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise SuiteError(
                f"--budgets takes positive milliseconds separated by commas, e.g. 2,5,10. Received: {part!r}"
            )
        values.append(value)
    return tuple(sorted(set(values)))


def budgets_path(results_dir: Path) -> Path:
    return Path(results_dir) / BUDGETS_FILE


def write_budgets(results_dir: Path, budgets_ms: tuple[float, ...]) -> Path:
    """Writes ``budgets.json`` whole (a temporary file renamed over it), creating the folder if need be."""
    path = budgets_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_whole(path, json.dumps({KEY: sorted(budgets_ms)}) + "\n")


def read_budgets(results_dir: Path) -> tuple[float, ...] | None:
    """The folder's budgets, or None where it has no ``budgets.json``; ``SuiteError`` for one that is not ours."""
    path = budgets_path(results_dir)
    if not path.is_file():
        return None
    try:
        return parse_budgets(",".join(str(v) for v in json.loads(path.read_text())[KEY]))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, SuiteError) as error:
        raise SuiteError(
            f"{path} is not a budgets file ({type(error).__name__}); delete it, or write it again with "
            "suite report DIR --budgets LIST"
        ) from None
