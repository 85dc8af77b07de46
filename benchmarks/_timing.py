"""Wall-clock timing shared by the benchmarks (imported as a sibling module: the benchmarks
run as scripts, ``python benchmarks/x.py``, so this folder is on sys.path; `make bench` skips
files starting with an underscore)."""
from __future__ import annotations

import time


def timings(fn, repeats: int, budget: float | None = None) -> list[float]:
    """Wall seconds of `repeats` runs of fn() after one warm-up run, sorted (fastest first).
    With a budget (seconds), stop early once the runs took that long (at least two runs)."""
    fn()  # warm-up: allocations, thread start, caches
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
        if budget is not None and len(out) >= 2 and sum(out) > budget:
            break
    return sorted(out)


def min_median(values: list[float]) -> tuple[float, float]:
    """(smallest, median) of sorted values (the upper median for an even count)."""
    return values[0], values[len(values) // 2]
