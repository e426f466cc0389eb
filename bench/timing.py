"""The benchmarks' one timing rule: contenders take turns, medians are compared.

    interleaved({"mlx": run_mlx, "scipy": run_scipy}, repeats=30) -> {"mlx": s, "scipy": s}

Each work runs `warm_ups` times first (compilation, caches), then the works take turns,
run after run (a, b, c, a, b, c, ...), so that load from other processes on a shared
machine hits every contender alike, and the ratio of medians stays fair.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(
    works: dict[str, Callable[[], object]], repeats: int, warm_ups: int = 2
) -> dict[str, float]:
    """Median seconds per call of each work, taken in turns."""
    for work in works.values():
        for _ in range(warm_ups):
            work()
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
