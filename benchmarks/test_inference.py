"""pytest-benchmark gates: inference of every selected case, at batch 1 and at the case's best batch.

Cases come from ``--suite-results DIR`` (each ``ok`` case's trained model,
``models/<case>-s<seed>.keras``, at the batch and mode its row found fastest)
or, without it, from ``--suite-profile`` (default ``smoke``): models built
fresh, one per architecture and input size, because weights don't change
inference time; the best batch is then the profile's ``probe_batch``.
``benchmark.pedantic`` with warm-up rounds keeps tracing, compiling and loading
out of the timed region; ``.numpy()`` waits for the device before each call
returns. Benchmarks are grouped by architecture, and ``extra_info`` carries the
case's accuracy, parameters, FLOPs and machine fingerprint.

Baselines are pytest-benchmark's own (see docs/gates.md): ``--benchmark-autosave``
saves one, ``--benchmark-compare --benchmark-compare-fail=median:10%`` gates.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

NATIVE_SIDE = {"digits": 32, "cifar10": 32}  # what the loaders give; folder and other tfds sets default to 64


def pytest_generate_tests(metafunc):
    if "bench_case" in metafunc.fixturenames:
        cases = selected_cases(metafunc.config.getoption("suite_results"), metafunc.config.getoption("suite_profile"))
        metafunc.parametrize("bench_case", cases, ids=[c["case_id"] for c in cases])


def selected_cases(results: str | None, profile: str) -> list[dict]:
    """One dict per benchmarked case: id, arch, image side, best batch and mode, model path, extra info."""
    if results:
        from suite import storage

        frame = storage.read_results(Path(results))
        ok = frame[frame["status"] == "ok"].sort_values("seed").drop_duplicates("case_id")
        return [
            {
                "case_id": row.case_id,
                "arch": row.arch,
                "side": int(row.image_size),
                "batch": int(row.throughput_batch),
                "xla": bool(row.throughput_xla),
                "latency_xla": bool(row.xla),
                "model": str(storage.case_file(Path(results), "models", row.case_id, int(row.seed), ".keras")),
                "info": {
                    "test_accuracy": float(row.test_accuracy),
                    "params": int(row.params),
                    "gflops_per_image": float(row.gflops_per_image),
                    "fingerprint": row.fingerprint,
                },
            }
            for row in ok.itertuples()
        ]
    from suite.data.pipeline import input_side
    from suite.profiles import get_profile
    from suite.selection import resolve_cases

    chosen = get_profile(profile)
    cases = resolve_cases(profile=chosen)
    return [
        {
            "case_id": case.id,
            "arch": case.arch,
            "side": input_side(case.arch, NATIVE_SIDE.get(case.dataset, 64), case.image_size),
            "batch": chosen.measure.probe_batch,
            "xla": False,
            "latency_xla": False,
            "model": None,
            "info": {"test_accuracy": None},
        }
        for case in cases
    ]


@cache
def load_model(arch: str, side: int, path: str | None):
    from suite.models import build_backbone, build_classifier

    if path:
        import keras

        return keras.models.load_model(path)
    return build_classifier(build_backbone(arch, side), 10)


@cache
def compiled(arch: str, side: int, path: str | None, xla: bool):
    """One compiled call per model and mode, shared by the cases and batches that use it (traces are per shape)."""
    from suite.measure.timing import compiled_call

    return compiled_call(load_model(arch, side, path), xla=xla)


@cache
def gflops(arch: str, side: int, path: str | None) -> float:
    from suite.measure import model_facts

    return model_facts.flops_per_image(load_model(arch, side, path), side) / 1e9


@cache
def fingerprint() -> str:
    from suite.environment import environment

    return environment()["fingerprint"]


@pytest.mark.parametrize("at", ["batch1", "best_batch"])
def test_inference(benchmark, bench_case, at):
    from suite.measure.timing import random_images

    key = (bench_case["arch"], bench_case["side"], bench_case["model"])
    batch = 1 if at == "batch1" else bench_case["batch"]
    call = compiled(*key, xla=bench_case["latency_xla"] if at == "batch1" else bench_case["xla"])
    images = random_images(batch, bench_case["side"])
    benchmark.group = bench_case["arch"]
    info = {"params": load_model(*key).count_params(), "fingerprint": fingerprint(), **bench_case["info"]}
    info.setdefault("gflops_per_image", gflops(*key))
    benchmark.extra_info.update(batch=batch, image_size=bench_case["side"], **info)
    outputs = benchmark.pedantic(lambda: call(images).numpy(), warmup_rounds=3, rounds=15, iterations=1)
    assert outputs.shape[0] == batch
