"""The worker process of the ``local`` executor: runs one job (or probes it) and writes the answer as JSON.

``python -m suite.run.executors.worker JOB.json``. The job file names the case
(every field), the seed, the run's settings (``RunSettings.to_json``) and the device the executor resolved, where
to write the result and the parent's user architectures (``suite.plugins``), which are
registered here again before the case is built. The row is written to a temporary file and renamed, so the runner
sees a whole result or none.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path


def die_with_parent(parent_pid: int) -> None:
    """Asks Linux to SIGKILL this process when its parent dies; exits now if it already has."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: an orphan may finish its case, its row is then dropped
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _plain(value):
    """JSON for numpy scalars and anything else a row may hold."""
    return value.item() if hasattr(value, "item") else str(value)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    die_with_parent(spec["parent_pid"])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if spec.get("threads"):  # one of several jobs side by side: its share of the cores, before TensorFlow starts
        from suite.environment import limit_threads

        limit_threads(int(spec["threads"]))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    for noisy in ("absl", "tensorflow", "h5py"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    # Deferred until the log is set up and the parent is watched: these start TensorFlow.
    from suite.case import Case
    from suite.plugins import restore
    from suite.run.runner import Runner
    from suite.run.settings import RunSettings

    restore(spec.get("archs"))  # the parent's user architectures, before the case is built
    case = Case.from_json(spec["case"])
    runner = Runner(RunSettings.from_json(spec["settings"]), device=spec["device"])
    answer = {"probe": runner.probe(case)} if spec.get("probe") else {"row": runner.run_case(case, spec["seed"])}
    result = Path(spec["result"])
    partial = result.with_suffix(".partial")
    partial.write_text(json.dumps(answer, default=_plain))
    partial.replace(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
