"""The regression gate pytest-benchmark lacks: test accuracy within its noise, latency p90 within a tolerance.

``suite gate BASELINE CANDIDATE`` (or ``pytest benchmarks/test_gate.py
--baseline A --candidate B``) compares two results folders case by case and
device by device (a case's CPU and GPU rows are never pooled), over the ``ok``
rows of the cases and devices both hold, as ``suite.report.summary.per_case``
aggregates them:

- **accuracy**: the candidate fails if the suite's one accuracy test (``suite.stats``: paired on the seeds
  and test images both runs kept, with training variance and test sampling) finds it less accurate than the
  baseline, and by more than ``accuracy_min_drop``. The front, the budget picks and ``compare`` ask the same
  test, so the gate never fails a change the report calls a tie.
- **latency**: a test of a difference, calibrated on the noise of this machine now. Where both folders kept the
  case's saved model, the gate loads both and times them side by side (``retime``: ``LATENCY_ROUNDS`` rounds of
  ``LATENCY_CALLS`` batch-1 calls, in a new random order each round, every case of the gate together), and takes
  each round's ratio of the candidate's p90 to the baseline's. The candidate fails when the sign test's interval
  over those ratios (95% for the whole gate: Bonferroni over its latency checks) lies wholly above
  ``1 + latency_min_rise``: a slowdown that every round shows, and that is not too small to matter. A load swing
  falls on both sides of a round alike, so busy cores widen the spread without failing an identical rerun.
  Without the models, the stored p90 intervals are compared (the candidate's must lie wholly above the
  baseline's, grown by ``latency_min_rise``); without those either, the p90 may rise by ``latency_p90_tolerance``.
- **deployed formats** (where the candidate has a ``formats.csv``): a quantised
  format fails if its mean test accuracy is more than ``format_accuracy_drop_points``
  below its own case's ``keras`` row in the same run (both measured on the same test images).

Thresholds come from a TOML file, defaults first, then per case glob (later wins)::

    [defaults]
    accuracy_min_drop = 0.0      # absolute; a smaller drop never fails
    latency_min_rise = 0.05      # fraction: a smaller slowdown never fails, however sure
    latency_p90_tolerance = 0.15 # fraction, only for folders without saved models or p90 intervals
    format_accuracy_drop_points = 1.0  # a quantised format against its Keras row

    [cases."inception_v3.*"]
    latency_min_rise = 0.10
    format_accuracy_drop_points = 2.0

The gate honours the machine-fingerprint guard: rows from different machines
are refused unless ``force``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from suite import storage
from suite.environment import require_one_fingerprint
from suite.errors import SuiteError
from suite.report.deployed import per_format
from suite.report.intervals import difference
from suite.report.summary import MATCH_KEYS, by_case_and_device, per_case
from suite.stats import median_rank


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    accuracy_min_drop: float = 0.0  # absolute accuracy, 0..1: a smaller drop never fails
    latency_min_rise: float = 0.05  # fraction of the baseline p90: a smaller slowdown never fails, however sure
    latency_p90_tolerance: float = 0.15  # fraction a p90 may rise where there is nothing to measure noise by
    format_accuracy_drop_points: float = 1.0  # points (0..100) a quantised format may lose against its Keras row


def load_thresholds(path: str | Path | None) -> tuple[Thresholds, list[tuple[str, dict]]]:
    """Defaults and per-glob overrides from a TOML file (see the module docstring)."""
    if path is None:
        return Thresholds(), []
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SuiteError(f"thresholds file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: malformed TOML: {error}") from None
    valid = {f.name for f in fields(Thresholds)}
    unknown = set(data) - {"defaults", "cases"}
    if unknown:
        raise SuiteError(f'{path}: unknown table {sorted(unknown)[0]!r}; valid: [defaults], [cases."GLOB"]')
    tables = [("[defaults]", data.get("defaults", {}))]
    tables += [(f'[cases."{glob}"]', table) for glob, table in data.get("cases", {}).items()]
    for where, table in tables:
        for key, value in table.items():
            if key not in valid:
                raise SuiteError(f"{path}: {where}: unknown key {key!r}; valid: {', '.join(sorted(valid))}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise SuiteError(f"{path}: {where}: {key} must be a number >= 0. Received: {value!r}")
    return Thresholds(**data.get("defaults", {})), list(data.get("cases", {}).items())


def thresholds_for(case_id: str, defaults: Thresholds, per_case: list[tuple[str, dict]]) -> Thresholds:
    chosen = defaults
    for glob, table in per_case:
        if fnmatch.fnmatchcase(case_id, glob):
            chosen = replace(chosen, **table)
    return chosen


@dataclass(frozen=True, kw_only=True)
class Check:
    """One figure of one case on one device: both values, the allowed band, and the verdict."""

    case_id: str
    device: str  # cpu or gpu; "" where the rows do not say
    figure: str  # test_accuracy, latency_p90_ms, or "<format> test_accuracy" (against its Keras row)
    baseline: float
    candidate: float
    limit: float  # the worst value the candidate may have
    band: str  # how the limit was reached, in words
    passed: bool

    def message(self) -> str:
        verdict = "ok" if self.passed else "REGRESSED"
        return (
            f"{case_name(self.case_id, self.device)}: {self.figure} {self.candidate:.4g} against baseline "
            f"{self.baseline:.4g}; allowed {self.band}: {verdict}"
        )


def case_name(case_id: str, device: str) -> str:
    """``case_id (device)``, or the id alone where the rows name no device."""
    return f"{case_id} ({device})" if device else case_id


FIGURES = ["seeds", "test_accuracy_mean", "test_accuracy_std", "test_images", "latency_p90_ms", "outcomes",
           "latency_p90_ci_low_ms", "latency_p90_ci_high_ms"]  # fmt: skip
LATENCY_ROUNDS, LATENCY_CALLS = 10, 20  # the side-by-side timing of the two folders' models
LATENCY_LEVEL = 0.95  # for all the gate's latency checks together


def accuracy_check(key: tuple[str, str], old: pd.Series, new: pd.Series, limits: Thresholds) -> Check:
    """Fails a candidate that the paired test (``suite.stats``, on the seeds and test images both runs kept)
    finds less accurate than the baseline, by more than ``accuracy_min_drop``."""
    change = difference(new, old)  # candidate minus baseline
    allowed = max(limits.accuracy_min_drop, change.high - change.mean)
    floor = old["test_accuracy_mean"] - allowed
    test = "paired on seeds and test images" if change.paired else "unpaired: no per-image outcomes kept"
    band = (
        f">= {floor:.4f} (the change's 95% interval {change.low:+.4f} to {change.high:+.4f} must reach 0; "
        f"{test}; seeds {int(old['seeds'])} and {int(new['seeds'])})"
    )
    case_id, device = key
    regressed = change.verdict == "lower" and -change.mean > limits.accuracy_min_drop
    return Check(
        case_id=case_id,
        device=device,
        figure="test_accuracy",
        baseline=old["test_accuracy_mean"],
        candidate=new["test_accuracy_mean"],
        limit=floor,
        band=band,
        passed=not regressed,
    )


@dataclass(frozen=True, kw_only=True)
class Retimed:
    """One case's p90 per round of the side-by-side timing, baseline and candidate (ms)."""

    baseline: np.ndarray
    candidate: np.ndarray
    level: float  # the interval's level for this check (the gate's, shared by its checks)


def latency_check(key: tuple[str, str], old: pd.Series, new: pd.Series, limits: Thresholds, retimed=None):
    """Fails a candidate slower than the baseline at batch-1 p90 (see the module docstring); None where one lacks a
    p90. ``retimed``: the case's ``Retimed`` figures, where both folders kept its model."""
    if retimed is not None:
        return retimed_check(key, retimed, limits)
    before, after = old["latency_p90_ms"], new["latency_p90_ms"]
    if pd.isna(before) or pd.isna(after):
        return None
    rise = 1 + limits.latency_min_rise
    bounds = [old.get("latency_p90_ci_high_ms"), new.get("latency_p90_ci_low_ms")]
    if all(v is not None and pd.notna(v) for v in bounds):
        ceiling, passed = bounds[0] * rise, bool(bounds[1] <= bounds[0] * rise)
        band = f"its p90 interval to start at or below {ceiling:.4g} ms (the baseline's top, +{100 * (rise - 1):g}%)"
    else:
        ceiling = before * (1 + limits.latency_p90_tolerance)
        passed = bool(after <= ceiling)
        band = f"<= {ceiling:.4g} ms (+{100 * limits.latency_p90_tolerance:g}%: no models or intervals to test by)"
    return Check(case_id=key[0], device=key[1], figure="latency_p90_ms", baseline=before, candidate=after,
                 limit=ceiling, band=band, passed=passed)  # fmt: skip


def retimed_check(key: tuple[str, str], retimed: Retimed, limits: Thresholds) -> Check:
    """The side-by-side test: the sign test's interval over the rounds' candidate/baseline p90 ratios must reach
    ``1 + latency_min_rise``."""
    ratios = np.sort(retimed.candidate / retimed.baseline)
    rank = median_rank(len(ratios), retimed.level)
    low, high = (ratios[rank - 1], ratios[-rank]) if rank else (ratios[0], ratios[-1])
    before = float(np.median(retimed.baseline))
    rise = 1 + limits.latency_min_rise
    band = (
        f"<= {before * rise:.4g} ms: the candidate/baseline p90 ratio's interval {low:.3f} to {high:.3f} "
        f"({len(ratios)} rounds, timed side by side here) must reach {rise:g}"
    )
    return Check(case_id=key[0], device=key[1], figure="latency_p90_ms", baseline=before,
                 candidate=float(np.median(retimed.candidate)), limit=before * rise, band=band,
                 passed=bool(low <= rise))  # fmt: skip


def model_paths(folder: Path, rows: pd.DataFrame) -> dict[tuple[str, str], tuple[Path, bool]]:
    """Each CPU case's saved model in ``folder`` (its lowest seed that kept one) and its execution mode."""
    found = {}
    devices = rows["device"].fillna("") if "device" in rows else pd.Series("", index=rows.index)
    ok = rows[(rows["status"] == "ok") & devices.isin(["cpu", ""])]
    for _, row in ok.sort_values("seed").iterrows():
        key = (row["case_id"], devices[row.name])
        path = storage.case_file(folder, "models", row["case_id"], int(row["seed"]), ".keras")
        if key not in found and path.is_file():
            found[key] = (path, str(row.get("xla")).lower() == "true")
    return found


def retime(pairs: dict[tuple[str, str], tuple], rounds: int = LATENCY_ROUNDS, calls: int = LATENCY_CALLS):
    """Both models of every pair (``{key: ((baseline path, xla), (candidate path, xla))}``) timed side by side in
    one lap; each key's ``Retimed`` figures."""
    if not pairs:
        return {}
    # TensorFlow starts here, not when the gate is imported: a gate of folders without models needs none of it.
    from suite.measure.timing import round_latencies
    from suite.run.lap import load_model_call

    loaded = {(key, side): load_model_call(*pair[side]) for key, pair in pairs.items() for side in (0, 1)}
    samples = round_latencies({k: c for k, (c, _) in loaded.items()}, {k: i for k, (_, i) in loaded.items()},
                              rounds, calls, warmup=5)  # fmt: skip
    level = 1 - (1 - LATENCY_LEVEL) / len(pairs)

    def per_round(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.array([np.percentile(values[labels == r], 90) for r in range(rounds)])

    return {key: Retimed(baseline=per_round(*samples[(key, 0)]), candidate=per_round(*samples[(key, 1)]), level=level)
            for key in pairs}  # fmt: skip


def format_checks(formats: pd.DataFrame, defaults: Thresholds, per_glob: list[tuple[str, dict]]) -> list[Check]:
    """Fails each quantised format whose accuracy is more than ``format_accuracy_drop_points`` below its case's
    Keras row (``formats``: one run's ``formats.csv`` rows; a case without an ok Keras row is not checked)."""
    rows = per_format(formats)
    if rows.empty:
        return []
    checks = []
    for _, row in rows[rows["quantised"] & rows["keras_test_accuracy_mean"].notna()].iterrows():
        allowed = thresholds_for(row["case_id"], defaults, per_glob).format_accuracy_drop_points
        keras, accuracy = row["keras_test_accuracy_mean"], row["test_accuracy_mean"]
        floor = keras - allowed / 100
        band = f">= {floor:.4f} (its Keras row's accuracy less {allowed:g} points)"
        device = "" if pd.isna(row.get("device")) else str(row["device"])
        passed = bool(accuracy >= floor - 1e-9)  # a drop of exactly the allowance passes
        checks.append(
            Check(
                case_id=row["case_id"],
                device=device,
                figure=f"{row['format']} test_accuracy",
                baseline=keras,
                candidate=accuracy,
                limit=floor,
                band=band,
                passed=passed,
            )
        )
    return checks


def gate(
    baseline_dir: Path, candidate_dir: Path, thresholds: str | Path | None = None, force: bool = False
) -> tuple[list[Check], list[str]]:
    """Every check of every case and device in both folders, and the ``case (device)`` only one of them holds."""
    defaults, per_glob = load_thresholds(thresholds)
    baseline, candidate = (
        storage.with_outcomes(storage.read_results(Path(d)), Path(d)) for d in (baseline_dir, candidate_dir)
    )
    both = pd.concat([baseline[baseline["status"] == "ok"], candidate[candidate["status"] == "ok"]])
    require_one_fingerprint(both, force, f"the baseline {baseline_dir} and the candidate {candidate_dir}")
    # Grouped on the match keys alone: a case's seeds with other weights (weights=auto resolving to imagenet one
    # night and source:glyphs another) are pooled as before, never dropped; devices are never pooled.
    a, b = (by_case_and_device(per_case(rows, MATCH_KEYS), FIGURES) for rows in (baseline, candidate))
    common = sorted(set(a.index) & set(b.index))
    if not common:
        raise SuiteError(f"no ok case is in both {baseline_dir} and {candidate_dir}; nothing to gate")
    models = [model_paths(Path(d), rows) for d, rows in ((baseline_dir, baseline), (candidate_dir, candidate))]
    retimed = retime({k: (models[0][k], models[1][k]) for k in common if k in models[0] and k in models[1]})
    checks = []
    for key in common:
        limits = thresholds_for(key[0], defaults, per_glob)
        old, new = a.loc[key], b.loc[key]
        checks += [accuracy_check(key, old, new, limits), latency_check(key, old, new, limits, retimed.get(key))]
    checks += format_checks(storage.read_formats(Path(candidate_dir)), defaults, per_glob)
    only_one = sorted(case_name(*key) for key in set(a.index) ^ set(b.index))
    return [c for c in checks if c is not None], only_one


def table(checks: list[Check]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "case_id": c.case_id,
                "device": c.device,
                "figure": c.figure,
                "baseline": round(c.baseline, 4),
                "candidate": round(c.candidate, 4),
                "limit": round(c.limit, 4),
                "verdict": "ok" if c.passed else "REGRESSED",
            }
            for c in checks
        ]
    )
