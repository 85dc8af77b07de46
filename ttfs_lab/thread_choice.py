"""Two threads only where they pay: each kind of kernel call picks 1 thread or its limit by
the wall time it measured for both.

The native kernels split a batch over threads (ttfs_lab.native). On a quiet machine two
threads run a batch of 1,000 1.7-1.9x faster, but with the other core busy every fork-join
waits for a helper thread that sits in the run queue, and two threads were measured 1.5x
*slower* than one (256-246-10, batch 1,000, load ~5: ``benchmarks/bench_core.py --small``).
No static rule knows the machine's load, so each call measures it. For every kind of call
(key: kernel, dtype, inputs, neurons and the batch size rounded to a power of two) keep

    s_n = running mean of the wall seconds of the calls made on n threads,   n in {1, L}
    s_n <- s_n + ALPHA (min(t, CLIP s_n) - s_n)          (t: the call just timed)

(L = the thread limit, native._threads) and run on the n with the smaller s_n. The other
count is re-timed once every ``interval`` calls (that time replaces its s_n): the interval
doubles (up to MAX_INTERVAL) each time that re-timing confirms the choice, and drops back to
MIN_INTERVAL when it does not, so a change of load (the other core falls idle) is found within MAX_INTERVAL calls while
a confirmed loser costs at most 1/MAX_INTERVAL of the calls. The first four calls of a key
time both counts (L twice, then 1 twice); the first call of each count is a warm-up and not
recorded (on 2 threads it starts the thread team: measured ~50x a normal call, which had
made a fresh key run on 1 thread for its first ~500 calls).

The choice changes speed only: the forward kernels compute each row alone and the backward
sums fixed blocks of rows in block order, so results are the same bits on any count
(tests/test_native.py). ``fixed()`` switches the measuring off (the limit is used, as
before); tests that compare thread counts use it.
"""
from __future__ import annotations

import time

from .switch import Switch

ALPHA = 0.25
CLIP = 2.0
MIN_INTERVAL = 8
MAX_INTERVAL = 128

_measured = Switch(True)
_stats: dict = {}  # key -> _Stat


class _Stat:
    __slots__ = ("seconds", "calls", "interval", "next_check", "warmed")

    def __init__(self):
        self.seconds = {}  # threads -> running mean of wall seconds
        self.warmed = set()  # counts whose first (warm-up) call was made, not recorded
        self.calls = 0
        self.interval = MIN_INTERVAL
        self.next_check = MIN_INTERVAL


def fixed():
    """Always use the thread limit (no measuring) from now on, or inside ``with fixed():``."""
    return _measured.set(False)


def measured():
    """Measure and pick (the default), from now on or inside a ``with`` block."""
    return _measured.set(True)


def reset() -> None:
    """Forget every measurement."""
    _stats.clear()


def bucket(n_batch: int) -> int:
    """The batch size's power-of-two class (keys for batch 100 and 120 are the same)."""
    return int(n_batch).bit_length()


def _best(seconds: dict, limit: int) -> int:
    """The count with the smaller running figure (1 on a tie)."""
    return 1 if seconds[1] <= seconds[limit] else limit


def pick(key, limit: int) -> int:
    """Threads for the next call of `key` (1 or `limit`)."""
    if limit <= 1 or not _measured.value:
        return limit
    stat = _stats.get(key)
    if stat is None:
        stat = _stats[key] = _Stat()
    seconds = stat.seconds
    if limit not in seconds:
        return limit
    if 1 not in seconds:
        return 1
    best = _best(seconds, limit)
    if stat.calls >= stat.next_check:
        return limit if best == 1 else 1  # re-time the other count
    return best


def record(key, threads: int, limit: int, seconds: float) -> None:
    """The wall time of a call of `key` that ran on `threads` (pick() chose it under `limit`)."""
    if limit <= 1 or not _measured.value:
        return
    stat = _stats.get(key)
    if stat is None:
        stat = _stats[key] = _Stat()
    known = stat.seconds
    if threads not in stat.warmed:  # a count's first call starts threads, touches new memory
        stat.warmed.add(threads)
        return
    stat.calls += 1
    other = limit if threads == 1 else 1
    if threads not in known or other not in known:
        known[threads] = seconds
        return
    best_before = _best(known, limit)
    if threads != best_before:  # the re-timing of the other count
        # replaced, not averaged: the old figure is `interval` calls old (the load may have
        # changed since), and one far off (a preemption) took averaging hundreds of calls to forget
        known[threads] = seconds
        if _best(known, limit) == best_before:
            stat.interval = min(2 * stat.interval, MAX_INTERVAL)
        else:
            stat.interval = MIN_INTERVAL
        stat.next_check = stat.calls + stat.interval
    else:
        # one slow call (a preemption) moves the figure by at most ALPHA (CLIP - 1), so it
        # cannot flip the choice alone; a lasting slow-down still does within a few calls
        known[threads] += ALPHA * (min(seconds, CLIP * known[threads]) - known[threads])
        if _best(known, limit) != best_before:
            stat.interval = MIN_INTERVAL  # flipped: re-time the count left soon
            stat.next_check = stat.calls + MIN_INTERVAL


def run(key, limit: int, call):
    """``call(threads)`` on the count pick() chooses, timed for record()."""
    threads = pick(key, limit)
    if threads == limit and (limit <= 1 or not _measured.value):
        return call(threads)
    started = time.perf_counter()
    out = call(threads)
    record(key, threads, limit, time.perf_counter() - started)
    return out


def choices() -> dict:
    """{key: {threads: mean seconds}} measured so far (for benchmarks and tests)."""
    return {key: dict(stat.seconds) for key, stat in _stats.items()}
