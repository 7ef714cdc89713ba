"""KerasTuner's own chief/worker mode behind ``suite tune CASE --chief`` and ``--worker ID``.

The chief holds the oracle and serves it over gRPC; it trains nothing. Each
worker asks it for a trial, trains it, and reports the score back. KerasTuner
reads its setup from ``KERASTUNER_TUNER_ID`` (``chief`` or the worker's id),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``; these functions set
them from the command line before the tuner is made.

The chief's oracle state is the same folder a plain ``suite run`` of the case
uses (``DIR/tuning/<case_id>/<search>``), so ``suite run CASE --results DIR``
afterwards finds the search finished and retrains the best configuration.
Each worker keeps its own tuner state in ``DIR/tuning/<case_id>/workers/<id>/``.
``--bind ADDR:0`` lets the system pick a free port; the chief logs the address it serves on.
A worker killed mid-trial leaves that trial assigned to its id: start it again
with the same ``--worker ID`` and it picks the trial up (the chief waits for it);
as in a local search, a trial started ``MAX_STARTS`` times is failed, not rerun.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from suite.case import Case
from suite.errors import SuiteError
from suite.tuning.search import case_dir, make_tuner, write_trials_table

log = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8000"  # loopback: other machines reach the chief only when told to bind elsewhere
POLL_S = 0.5  # how often the chief checks whether every worker is done


def parse_address(text: str, option: str, *, any_port: bool = False) -> tuple[str, int]:
    """``ADDR:PORT`` as ``(addr, port)``; ``SuiteError`` naming the option otherwise.

    With ``any_port``, port 0 is accepted: the chief binds a free port the system picks, and logs it.
    """
    host, _, port = text.rpartition(":")
    lowest = 0 if any_port else 1
    if not host or not port.isdigit() or not lowest <= int(port) < 65536:
        raise SuiteError(f"{option} must be ADDR:PORT, e.g. 127.0.0.1:8000. Received: {option} {text}")
    return host.strip("[]"), int(port)


def _set_env(tuner_id: str, host: str, port: int) -> None:
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)


def _join(host: str, port: int) -> str:
    """``ADDR:PORT`` as gRPC takes it, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(oracle, host: str, port: int) -> None:
    """Serves ``oracle`` until every worker that asked for a trial has been told to stop and none is running.

    KerasTuner's ``oracle_chief.start_server`` does the same but polls every
    20 s at the end; this uses its servicer and polls every ``POLL_S``. The servicer is private
    (``keras_tuner.src``, no public API), hence keras-tuner<1.5 in pyproject.toml (tests/test_dependencies.py).
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    # gRPC sets SO_REUSEPORT by default, which lets a second chief share a port already served and split the
    # workers between two oracles; without it a port in use is an error.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(_join(host, port))  # port 0: the one the system picked
    except RuntimeError:  # grpcio raises where it once returned 0
        bound = 0
    if not bound:
        raise SuiteError(f"the chief can't listen on {_join(host, port)} (in use?); choose another --bind ADDR:PORT")
    server.start()
    log.info("chief: serving the oracle on %s", _join(host, bound))  # workers' --oracle; tests read the port here
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(POLL_S)
    finally:
        server.stop(grace=1.0)


def run_chief(runner, case: Case, seed: int, bind: str = DEFAULT_BIND) -> Path:
    """Serves the case's search to workers until it is done; returns the trials table."""
    host, port = parse_address(bind, "--bind", any_port=True)
    _set_env("chief", host, port)
    tuner = make_tuner(runner, case, seed)
    tuner.save()
    log.info("chief: %s search of %s, %d trials, state in %s", case.tuner, case.id, case.trials, tuner.project_dir)
    serve(tuner.oracle, host, port)
    return write_trials_table(case_dir(runner.results_dir, case))


def run_worker(runner, case: Case, seed: int, worker_id: str, oracle: str) -> None:
    """Runs trials the chief at ``oracle`` hands out until it has none left."""
    if not worker_id or "chief" in worker_id or any(c.isspace() or c == "/" for c in worker_id):
        raise SuiteError(f"--worker needs an id without 'chief', spaces or '/', e.g. worker0. Received: {worker_id!r}")
    host, port = parse_address(oracle, "--oracle")
    _set_env(worker_id, host, port)
    # The worker's own folder holds its tuner file and trial folders (start counts, Hyperband weights);
    # KerasTuner never saves or reloads an oracle there, the chief's is the only one.
    tuner = make_tuner(runner, case, seed, directory=case_dir(runner.results_dir, case) / "workers" / worker_id)
    log.info("worker %s: asking %s:%d for trials of %s", worker_id, host, port, case.id)
    tuner.search(verbose=0)
