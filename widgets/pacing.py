"""Pacer: when the live views may redraw while training runs (no widgets, no torch in here).

Drawing runs in its own thread beside the training thread. After a redraw that cost ``cpu``
seconds of the drawing thread's CPU time (``time.thread_time``: what it took from the cores,
not how long it waited for them), the next one may start

    interval = max(min_interval, cpu * (1 - f) / (f * share))

seconds after this one started, where f = max_draw_fraction (drawing's share of this kernel's
CPU) and share is the part of a core this kernel gets: the smaller of min(1, cores / kernels
training now) (ttfs_lab.fair_threads) and the CPU this process actually used per second of
wall time over the last few seconds (``ProcessShare``; all its threads, from
``time.process_time``). One kernel alone: drawing takes at most f of a core. K kernels on C < K
cores: each draws K / C times less often, so the redraws of a classroom never crowd out its
training. The measured part matters where the cores are also busy with other work (servers,
browsers, other users): a workshop of 5 on 2 cores with the browsers on the same machine gave
each kernel 0.15 of a core, not the 0.4 of cores / kernels, and redrawing for 0.4 took most of
that 0.15 (benchmarks/classroom.py: a third of the epochs, controls answered in seconds).
The redraw's own wall time is not used: under load it measures the waiting, and a rate backed
off on it collapses exactly when the load is someone else's.

``min_interval`` bounds the rate from above (LIVE_INTERVAL: about 7 redraws per second).
"""
from __future__ import annotations

import collections
import time

LIVE_INTERVAL = 0.14  # s between live redraws at most (~7 per second)
SLOW_INTERVAL = 1.0  # s: views below the first screen (membranes, rasters, chip) while training
MAX_DRAW_FRACTION = 0.2  # issue 12: training at most ~20 % slower with live views


def draw_interval(cpu_seconds: float, min_interval: float = LIVE_INTERVAL, max_draw_fraction: float = MAX_DRAW_FRACTION,
                  share: float = 1.0) -> float:
    """max(min_interval, cpu (1 - f) / (f share)) -- see the module docstring."""
    if not 0 < max_draw_fraction < 1:
        raise ValueError(f"max_draw_fraction must lie in (0, 1), got {max_draw_fraction!r}")
    if not share > 0:
        raise ValueError(f"share must be positive, got {share!r}")
    f = max_draw_fraction
    return max(min_interval, max(cpu_seconds, 0.0) * (1 - f) / (f * min(share, 1.0)))


def core_share() -> float:
    """min(1, cores / kernels training now) from ttfs_lab.fair_threads (1.0 if unknown)."""
    from ttfs_lab import fair_threads

    try:
        kernels = fair_threads.training_kernels()
    except OSError:
        return 1.0
    return min(1.0, fair_threads.cores() / max(1, kernels))


class ProcessShare:
    """``share()``: min(core_share(), this process's CPU seconds per wall second since the last
    call) -- the part of a core the kernel really got (its threads together; capped at 1 by
    draw_interval). The first call, with nothing measured yet, gives core_share()."""

    def __init__(self, fair=core_share, cpu=time.process_time, clock=time.perf_counter):
        self._fair, self._cpu, self._clock = fair, cpu, clock
        self._last = (cpu(), clock())

    def __call__(self) -> float:
        cpu, now = self._cpu(), self._clock()
        (cpu0, t0), self._last = self._last, (cpu, now)
        fair = float(self._fair())
        if now - t0 <= 0.05:  # too short to measure
            return fair
        return min(fair, max(cpu - cpu0, 0.0) / (now - t0))


class Pacer:
    """``Pacer(min_interval, max_draw_fraction)``: ``wait_seconds()`` until the next redraw may
    start, ``drawn(started, cpu)`` after one. ``share`` is re-read every ``share_every`` s."""

    def __init__(self, min_interval: float = LIVE_INTERVAL, max_draw_fraction: float = MAX_DRAW_FRACTION,
                 share=None, share_every: float = 2.0, clock=time.perf_counter):
        draw_interval(0.0, min_interval, max_draw_fraction)  # checks the fraction
        self.min_interval = min_interval
        self.max_draw_fraction = max_draw_fraction
        self._share_source = ProcessShare() if share is None else share
        self._share_every = share_every
        self._clock = clock
        self._share, self._share_at = 1.0, -float("inf")
        self.next_at = -float("inf")
        self.draws = 0
        self.cpu_seconds = 0.0
        self._recent = collections.deque(maxlen=16)  # start times of the last redraws

    @property
    def share(self) -> float:
        now = self._clock()
        if now - self._share_at >= self._share_every:
            self._share, self._share_at = float(self._share_source()), now
        return self._share

    def wait_seconds(self) -> float:
        return max(0.0, self.next_at - self._clock())

    def drawn(self, started: float, cpu_seconds: float) -> float:
        """Record a redraw that started at ``started`` (this pacer's clock) and cost
        ``cpu_seconds``; returns the interval to the next one."""
        interval = draw_interval(cpu_seconds, self.min_interval, self.max_draw_fraction, self.share)
        self.next_at = started + interval
        self.draws += 1
        self.cpu_seconds += cpu_seconds
        self._recent.append(started)
        return interval

    def rate(self) -> float:
        """Redraws per second over the last ones (nan before two)."""
        if len(self._recent) < 2:
            return float("nan")
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)
