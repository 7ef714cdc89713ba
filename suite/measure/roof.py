"""The machine's compute roof for ``roofline_fraction``: a theoretical peak from the CPU, and a measured one.

- ``theoretical_peak_gflops``: cores x float32 lanes x 2 FMA units x 2 FLOPs
  per FMA x clock, read from ``/proc/cpuinfo`` (and the kernel's maximum clock
  where it tells). Meant as an upper bound, but a virtual machine often reports
  its base clock, not its boost: then the measured roof beats it.
- ``measured_peak_gflops``: the best float32 matmul rate over several sizes
  and many blocks, measured once per machine fingerprint and device, and
  cached next to the source weights, so every case of every run is divided
  by the same roof (a 1-second matmul timed in each worker gave 71-102 GFLOP/s
  on one machine).

``roof_gflops`` is the larger of the two, so a fraction above 1 can only
mean a wrong FLOP count or throughput, never a roof measured on a bad second.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

from suite.environment import cache_dir, environment

log = logging.getLogger(__name__)

MATMUL_SIZES = (1024, 2048, 3072)  # square float32 matmuls tried; the best rate of any is the roof
BLOCK_S = 0.25  # seconds per timed block ...
BLOCKS = 6  # ... and blocks per size, the best one kept
FMA_UNITS = 2  # per core: true of server x86 cores since Haswell and Zen 1
ROOF_RECIPE = 1  # bump when the measurement changes, so cached roofs are measured again


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    facts: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            facts[key.strip()] = value.strip()
    except OSError:
        pass
    return facts


def float32_lanes(info: dict[str, str]) -> int:
    """float32 lanes per FMA: 16 with AVX-512, 8 with AVX2/FMA, 4 otherwise.

    AMD's Zen 4 (family 25) runs AVX-512 on 256-bit units, two passes per
    instruction, so it counts as 8.
    """
    flags = set(info.get("flags", "").split())
    zen4 = info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25"
    if "avx512f" in flags and not zen4:
        return 16
    return 8 if {"avx2", "fma"} & flags else 4


def max_clock_ghz(info: dict[str, str]) -> float | None:
    """The highest clock the kernel reports (boost included where it tells), else ``cpu MHz``."""
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        pass
    try:
        return float(info["cpu MHz"]) / 1e3
    except (KeyError, ValueError):
        return None


def theoretical_peak_gflops() -> float | None:
    """cores x lanes x FMA units x 2 x GHz, for the CPUs this process may use; ``None`` where unknown."""
    info = _cpuinfo()
    ghz = max_clock_ghz(info)
    if not info or not ghz:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores * float32_lanes(info) * FMA_UNITS * 2 * ghz


def _matmul_rate(size: int) -> float:
    """Best GFLOP/s of ``size``-square float32 matmuls over ``BLOCKS`` blocks of about ``BLOCK_S`` each."""
    import tensorflow as tf

    a = tf.random.uniform((size, size), seed=1)
    b = tf.random.uniform((size, size), seed=2)
    product = tf.function(lambda x, y: tf.matmul(x, y))
    started = time.perf_counter()
    product(a, b).numpy()
    calls = max(1, math.ceil(BLOCK_S / max(time.perf_counter() - started, 1e-6)))
    best = math.inf
    for _ in range(BLOCKS):
        tick = time.perf_counter()
        for _ in range(calls):
            result = product(a, b)
        result.numpy()
        best = min(best, (time.perf_counter() - tick) / calls)
    return 2 * size**3 / best / 1e9


def _cache_file(device: str) -> Path:
    return cache_dir() / "roof" / f"{environment()['fingerprint']}-{device}-r{ROOF_RECIPE}.json"


def measured_peak_gflops(device: str = "cpu") -> float:
    """The best matmul GFLOP/s of this machine on ``device``, from the cache or measured now (about 5 s)."""
    path = _cache_file(device)
    try:
        return float(json.loads(path.read_text())["gflops"])
    except (OSError, ValueError, KeyError):
        pass
    rates = {size: _matmul_rate(size) for size in MATMUL_SIZES}
    record = {
        "gflops": max(rates.values()),
        "by_size": rates,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        partial.replace(path)
    except OSError as error:  # an unwritable cache costs a remeasure next time, not the case
        log.warning("  roof not cached (%s): %s", path, error.strerror)
    return record["gflops"]


def roof_gflops(device: str = "cpu") -> tuple[float, float | None, float]:
    """``(measured, theoretical, roof)``: the two peaks and the larger, the denominator of ``roofline_fraction``.

    On a GPU there is no theoretical figure here, so the roof is the measured one.
    """
    measured = measured_peak_gflops(device)
    theoretical = theoretical_peak_gflops() if device == "cpu" else None
    return measured, theoretical, max(measured, theoretical or 0.0)
