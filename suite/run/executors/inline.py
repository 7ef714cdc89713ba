"""Runs every job in this process: no isolation and no timeout, but breakpoints and monkeypatches work.

For debugging and for tests that patch the suite's own functions; overnight
runs use ``local``.
"""

from __future__ import annotations

from collections.abc import Callable

from suite import progress
from suite.run.executors.base import Job, OneAtATime
from suite.run.runner import Runner
from suite.run.settings import RunSettings


class InlineExecutor(OneAtATime):
    """Each job in this process, one at a time, through one ``Runner`` (datasets loaded once)."""

    def __init__(self, settings: RunSettings):
        super().__init__(settings)
        self.runner = Runner(settings, device=self.device)

    def run(self, job: Job, on_event: Callable[[dict], None]) -> dict:
        progress.listen(on_event)
        try:
            return self.runner.run_case(job.case, job.seed)
        finally:
            progress.listen(None)
