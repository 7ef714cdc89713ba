"""``RunSettings``: what every job of one run shares, built once and passed whole.

The CLI (``suite run``) and the Python API build it with ``RunSettings.build``, which resolves the profile's
defaults (seeds, the per-job timeout) once. Executors hand it to worker processes and Ray tasks as
``to_json`` and rebuild nothing from it: ``from_json`` gives back an equal value. The one rule the rest of the
run asks it is ``formats_for``: ``--formats`` for every case, else the profile's formats for the cases it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from suite.case import Case
from suite.errors import SuiteError
from suite.profiles import Profile, get_profile

UNITS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds in ``8h``, ``90m``, ``1h30m``, ``45s`` or a plain number of seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        seconds = float(cleaned)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)(d|h|min|m|s)", cleaned)
        if not parts or "".join(n + u for n, u in parts) != cleaned:
            raise SuiteError(f"can't read the duration {text!r}; write it like 8h, 90m, 1h30m or 45s")
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise SuiteError(f"a duration must be positive. Received: {text!r}")
    return seconds


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """One run's settings. ``profile`` travels to workers by name, so it must be one of ``suite.profiles``'
    (a test may run a ``Runner`` in process with any profile)."""

    profile: Profile  # budgets and formats; the cases already carry the profile's budgets
    results_dir: Path  # absolute: a Ray worker's working directory is not the caller's
    seeds: tuple[int, ...] = (0,)  # every case runs once per seed
    device: str = "auto"  # cpu, gpu or auto, as asked; each executor resolves it where the jobs run
    data_dir: str | None = None  # tfds data folder; None: tfds' default
    formats: tuple[str, ...] | None = None  # deployed formats for every case (--formats); None: the profile's
    force: bool = False  # rerun jobs already ok in the folder, and accept rows of another machine
    executor: str = "local"  # local, inline or ray (suite.run.executors)
    timeout_s: float | None = None  # per job; a job still running then is killed (inline ignores it)
    budget_s: float | None = None  # --budget: the jobs that fit it by estimate, cheapest first
    address: str | None = None  # ray: the cluster's HOST:PORT or "auto"; None starts a local Ray instance
    jobs: int = 1  # local: up to this many jobs at once, small networks side by side (suite.run.slots)

    @classmethod
    def build(
        cls, profile: Profile | str, results_dir: Path | str, *, seeds: int | None = None, first_seed: int = 0, **rest
    ) -> RunSettings:
        """The settings of a run of ``profile`` into ``results_dir``: ``seeds`` seeds from ``first_seed`` (default:
        the profile's count), the profile's ``case_timeout_s`` unless ``timeout_s`` is given; ``rest`` as the
        fields name them."""
        profile = get_profile(profile) if isinstance(profile, str) else profile
        count = profile.seeds if seeds is None else seeds
        formats = rest.pop("formats", None)
        return cls(
            profile=profile,
            results_dir=Path(results_dir).absolute(),
            seeds=tuple(range(first_seed, first_seed + count)),
            formats=None if formats is None else tuple(formats),
            timeout_s=rest.pop("timeout_s", None) or profile.case_timeout_s,
            **rest,
        )

    def timed(self, seed: int) -> bool:
        """Whether ``seed``'s jobs time their model and files: the run's first ``measure.timed_seeds`` seeds (0:
        every seed). The others train, evaluate and check their files' accuracy; the final lap times the network."""
        count = self.profile.measure.timed_seeds
        return count <= 0 or seed < (self.seeds[0] if self.seeds else 0) + count

    def formats_for(self, case: Case) -> tuple[str, ...]:
        """The deployed formats (``suite.deploy``) ``case`` is exported to and measured in."""
        return self.profile.formats_for(case.id, self.formats)

    def to_json(self) -> str:
        """The settings as JSON, the profile by name."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps({**fields, "profile": self.profile.name, "results_dir": str(self.results_dir)})

    @classmethod
    def from_json(cls, text: str) -> RunSettings:
        """The settings ``to_json`` wrote."""
        fields = json.loads(text)
        formats = fields.pop("formats")
        return cls(
            **fields
            | {
                "profile": get_profile(fields["profile"]),
                "results_dir": Path(fields["results_dir"]),
                "seeds": tuple(fields["seeds"]),
                "formats": None if formats is None else tuple(formats),
            }
        )
