"""Which cases a command runs: one resolution for ``suite run``, ``suite tune`` and the benchmarks.

In order: the ``--cases`` TOML file's cases are registered for the call (one
with a built-in id replaces that case, and gives it back afterwards); the
patterns select cases (else the file's cases, else the profile's patterns);
the profile's budgets apply, then each case's own TOML fields; ``--set`` and
``--strategy`` apply to every case and ``--latency-budget-ms`` to the tuned
ones; every case is validated.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from suite.case import Case, split_size
from suite.config import load_cases, parse_overrides
from suite.errors import SuiteError
from suite.profiles import Profile
from suite.regimes import REGIMES
from suite.registry import override, register, select_cases, unregister, validate


@contextmanager
def user_cases(path: str | Path | None) -> Iterator[list[Case]]:
    """Registers the TOML file's cases for the length of one command, then removes them again.

    A TOML case with a built-in case's id replaces it for that command (and gets it back afterwards).
    """
    cases = load_cases(path) if path else []
    registered: list[Case] = []
    displaced: list[Case] = []
    try:
        for case in cases:
            previous = override(case)
            registered.append(case)
            if previous is not None:
                displaced.append(previous)
        yield cases
    finally:
        for case in registered:
            unregister(case.id)
        for case in displaced:
            register(case)


def resolve_cases(
    patterns: Sequence[str] = (),
    *,
    profile: Profile,
    cases_file: str | Path | None = None,
    settings: Sequence[str] = (),
    strategy: str | None = None,
    latency_budget_ms: float | None = None,
) -> list[Case]:
    """The validated cases a command runs, with the profile and every override applied.

    Args:
        patterns: Shell globs over case ids; none selects the file's cases, else the profile's.
        profile: Budgets, and the cases selected without patterns or a file.
        cases_file: A TOML file of ``[[case]]`` tables (``suite.config``). Defaults to none.
        settings: ``FIELD=VALUE`` strings, as ``--set`` takes them, applied to every case after the profile.
        strategy: ``--strategy``: the same as ``strategy=NAME`` in ``settings``. Defaults to the cases' own.
        latency_budget_ms: ``--latency-budget-ms``, set on the tuned cases only (the others don't search).
    """
    fields = parse_overrides(list(settings))
    sizes = (fields.pop("train_per_class"),) if "train_per_class" in fields else profile.train_per_class
    with user_cases(cases_file) as from_file:
        if patterns:
            chosen = select_sized(patterns, profile, sizes)
        elif from_file:
            chosen = [v for case in from_file for v in profile.variants(case, sizes)]
        elif cases_file:
            raise SuiteError(
                f"{cases_file} declares architectures but no [[case]] tables; name the cases to run by pattern, "
                "e.g. 'ARCH.scratch.digits' (see `suite list --cases FILE`)"
            )
        else:
            chosen = select_cases(*profile.patterns, exclude=profile.exclude)
            chosen = [v for case in chosen for v in profile.variants(case, sizes)]
    if strategy is not None:
        fields["strategy"] = strategy
    if latency_budget_ms is not None and latency_budget_ms <= 0:
        raise SuiteError(f"--latency-budget-ms must be above 0. Received: --latency-budget-ms {latency_budget_ms}")
    resolved = []
    for case in chosen:
        case = dataclasses.replace(profile.apply(case), **fields)
        if latency_budget_ms is not None and REGIMES[case.regime].searched:
            case = dataclasses.replace(case, latency_budget_ms=latency_budget_ms)
        resolved.append(validate(case))
    return resolved


def select_sized(patterns: Sequence[str], profile: Profile, sizes: tuple[int, ...]) -> list[Case]:
    """The cases ``patterns`` select, each at ``sizes``, sorted by id.

    A pattern without a size selects cases as ``select_cases`` does, at every size; one ending ``@N``
    (``*.frozen.digits@25``, ``*@5``) selects that size only. One that matches nothing is an error.
    """
    if not sizes:
        return select_cases(*patterns)
    plain = [p for p in patterns if not split_size(p)[1]]
    chosen = {v.id: v for case in (select_cases(*plain) if plain else []) for v in profile.variants(case, sizes)}
    for pattern in (p.lower() for p in patterns if split_size(p)[1]):
        cases = select_cases(split_size(pattern)[0])
        found = [v for case in cases for v in profile.variants(case, sizes) if fnmatch.fnmatchcase(v.id, pattern)]
        if not found:
            raise SuiteError(
                f"no case matches {pattern!r}: the sizes run are train_per_class {', '.join(map(str, sizes))}"
            )
        chosen.update((v.id, v) for v in found)
    return sorted(chosen.values(), key=lambda case: case.id)
