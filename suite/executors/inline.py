"""Runs every job in this process: no isolation and no timeout, but breakpoints and monkeypatches work.

For debugging and for tests that patch the suite's own functions; overnight
runs use ``local``.
"""

from __future__ import annotations

from collections.abc import Callable

from suite import progress
from suite.executors import Job, Settings


class InlineExecutor:
    def __init__(self, settings: Settings):
        from suite.profiles import get_profile
        from suite.runner import Runner

        self.settings = settings
        self.runner = Runner(get_profile(settings.profile), settings.results_dir, settings.device, settings.data_dir)

    def run(self, job: Job, on_event: Callable[[dict], None]) -> dict:
        progress.listen(on_event)
        try:
            return self.runner.run_case(job.case, job.seed)
        finally:
            progress.listen(None)
