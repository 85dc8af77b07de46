"""The compiled spike-time kernels (ttfs_lab._native) and the switch that selects them.

ttfs_lab.spike_times has two interchangeable implementations of one layer's forward
(spike times and slopes) and backward (gradients):

- "torch": the vectorised reference in spike_times.py, readable, any device and dtype;
- "native": src/ttfs_native.c, the same formulas walked per (sample, neuron), stopping at
  the first interval that fires, with no [B, N, M] intermediates; CPU float32/float64 only,
  built at install time (optional: without a C compiler the install still succeeds).

Selection: TTFS_LAB_BACKEND=torch|native|auto (default auto), or set_backend() at run time:

    auto    native where it applies (CPU, float32/float64) and was built; else torch
    native  like auto, but a missing extension is an error instead of a fallback
    torch   always the torch reference

The kernels split the batch over up to torch.get_num_threads() threads (set_num_threads()
overrides): two only for enough work (_threads), and only where they measured faster than one
(ttfs_lab.thread_choice: on a machine whose other core is busy one thread is faster).
set_backend() returns a context manager that restores the previous choice:

    with set_backend("torch"):
        reference = first_spike_times(x, w)
"""
from __future__ import annotations

import os
import threading
import warnings

import torch

from .params import NeuronParams
from .prefix_sums import max_exponent
from .switch import Switch
from . import thread_choice

try:
    from . import _native
except ImportError as error:  # not built (no compiler at install time) or broken build
    _native = None
    _IMPORT_ERROR = error
else:
    _IMPORT_ERROR = None

BACKENDS = ("auto", "native", "torch")
_REGIME_CODES = {"equal": 0, "double": 1, "general": 2}


def _check_name(name) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name == "native" and _native is None:
        raise ValueError(f"the native backend is not available: ttfs_lab._native did not import ({_IMPORT_ERROR})")
    return name


def _backend_from_environment() -> str:
    name = os.environ.get("TTFS_LAB_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"TTFS_LAB_BACKEND must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


_backend = Switch(_backend_from_environment())
_warned = False


def available() -> bool:
    """Whether the compiled extension imported."""
    return _native is not None


def get_backend() -> str:
    """The current choice: "auto", "native" or "torch"."""
    return _backend.value


def set_backend(name: str):
    """Select the spike-time backend; usable as a plain call or as a context manager."""
    return _backend.set(_check_name(name))


def applies(*tensors: torch.Tensor) -> bool:
    """Use the native kernels for these tensors? (backend choice, device, dtype)."""
    global _warned
    backend = _backend.value
    if backend == "torch":
        return False
    if _native is None:
        if backend == "native":
            raise RuntimeError(f"TTFS_LAB_BACKEND=native but ttfs_lab._native did not import ({_IMPORT_ERROR})")
        if not _warned:
            _warned = True
            warnings.warn(
                f"ttfs_lab._native is not built ({_IMPORT_ERROR}); using the slower torch implementation. "
                "Reinstall with a C compiler available (pip install -e .) to build it.",
                RuntimeWarning,
                stacklevel=3,
            )
        return False
    dtype = tensors[0].dtype
    if dtype is not torch.float32 and dtype is not torch.float64:
        return False
    for t in tensors:  # (a plain loop: this runs for every layer call)
        if t.dtype is not dtype or t.device.type != "cpu":
            return False
    return True


_num_threads = None  # None: follow torch.get_num_threads()


def set_num_threads(n: int | None) -> None:
    """Threads the kernels may use (None: torch.get_num_threads(), the default). The kernels
    run their own pthreads, which do not spin while waiting, so giving them more threads than
    torch's OpenMP pool can pay off; on a busy machine one thread is often fastest."""
    global _num_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"number of threads must be a positive integer or None, got {n!r}")
    _num_threads = n


def get_num_threads() -> int | None:
    """What set_num_threads() set (None: follow torch.get_num_threads())."""
    return _num_threads


POOLS = ("openmp", "pthreads")
DEFAULT_POOL = _native.thread_pool() if _native is not None else "pthreads"


def thread_pool(name: str | None = None) -> str:
    """Where the kernels' threads come from; returns the choice before this call (name=None:
    only report it).

    "openmp" (the default where torch uses libgomp): torch's own OpenMP team of the calling
    thread. Its workers keep spinning for ~10 ms after every parallel torch operation; threads
    of our own, started then, would share the cores with them and 2 threads gave 1.0-1.9x.
    "pthreads": threads started for each call (~50 us each), as before.
    """
    if name is not None and name not in POOLS:
        raise ValueError(f"thread pool must be one of {', '.join(POOLS)}; got {name!r}")
    if _native is None:
        if name == "openmp":
            raise ValueError("the native backend is not available: no thread pool to choose")
        return "pthreads"
    return _native.thread_pool(name)


_glue = threading.local()  # .threads: torch's thread count outside a serial_glue() block


class serial_glue:
    """``with serial_glue(x, w):`` torch's own ops inside (the input checks' sums, the bias
    column, output buffers: small, memory-bound) run on the calling thread alone when these
    tensors go to the native kernels, which still get torch's thread count of outside.

    Each of those ops is a fork-join of torch's OpenMP team; on a busy machine its helper
    thread waits in the run queue for milliseconds, and they took more time than the kernels
    (torch.profiler, 256-246-10 forward+backward at load ~10: aten::sum/abs/fill_/cat 170 ms,
    kernels 110 ms), so 2 threads ran at 0.2-0.5x of one. Nested blocks do nothing more."""

    __slots__ = ("threads",)

    def __init__(self, *tensors):
        self.threads = None
        if getattr(_glue, "threads", None) is not None or not _native_would_run(tensors) or _small(tensors):
            return
        n = torch.get_num_threads()
        if n > 1:
            self.threads = n

    def __enter__(self):
        if self.threads is not None:
            _glue.threads = self.threads
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.threads is not None:
            torch.set_num_threads(self.threads)
            _glue.threads = None
        return False


GRAIN = 32768  # torch's at::internal::GRAIN_SIZE: smaller element-wise ops run inline anyway


def _small(tensors) -> bool:
    """input_times [B, N] and weights [N, M] whose B*N*M is below both torch's grain and the
    kernels' threading threshold: torch's ops and the kernels run on one thread anyway, so
    serial_glue would only add its own cost (~1 us a block, 1-2 % of a batch-1 step)."""
    if len(tensors) < 2 or tensors[0].dim() != 2 or tensors[1].dim() != 2:
        return False
    work = tensors[0].shape[0] * tensors[0].shape[1] * tensors[1].shape[1]
    return work < min(GRAIN, 2 * WORK_PER_THREAD)


def _native_would_run(tensors) -> bool:
    """applies() without its warning, for anything (the inputs are not checked yet)."""
    if _backend.value == "torch" or _native is None:
        return False
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
            return False
    return True


WORK_PER_THREAD = 20_000


class calling_thread_only:
    """``with calling_thread_only():`` the kernels called from this thread run on it alone,
    whatever set_num_threads() says for the process (a per-thread setting; nests). For small
    interactive jobs (a view's redraw beside training): on a busy machine a helper thread waits
    in the run queue and the calling thread waits for it."""

    __slots__ = ("previous",)

    def __enter__(self):
        self.previous = getattr(_glue, "single", False)
        _glue.single = True
        return self

    def __exit__(self, *exc):
        _glue.single = self.previous
        return False


def _threads(work: int) -> int:
    """Threads for a job of `work` (sample, input, neuron) triples: starting a thread costs
    about as much as a few tens of thousands of them."""
    if getattr(_glue, "single", False):
        return 1
    limit = _num_threads if _num_threads is not None else (getattr(_glue, "threads", None) or torch.get_num_threads())
    return max(1, min(limit, work // WORK_PER_THREAD))


def _prepare(t: torch.Tensor) -> torch.Tensor:
    # Only the memory is read (no autograd involved), so no detach(); copies only if needed.
    return t if t.is_contiguous() else t.contiguous()


def _check_shapes(x, w, *per_neuron):
    # The kernels trust these sizes when they index raw memory.
    if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"expected input_times [B, N] and weights [N, M], got {tuple(x.shape)} and {tuple(w.shape)}")
    shape = (x.shape[0], w.shape[1])
    for t in per_neuron:
        if t.shape != shape:
            raise ValueError(f"expected {list(shape)} (batch, neurons), got {tuple(t.shape)}")


def forward(input_times: torch.Tensor, weights: torch.Tensor, params: NeuronParams, span_limit: float):
    """Spike times [B, M] and slopes u'(T) [B, M] (zero where silent), as the torch path.

    Returns (times, slopes, span): span is the largest spread of one sample's finite input
    times; if it exceeds span_limit the caller must raise (those samples are left silent).
    """
    x, w = _prepare(input_times), _prepare(weights)
    _check_shapes(x, w)
    (n_batch, n_in), n_out = x.shape, w.shape[1]
    times = torch.empty((n_batch, n_out), dtype=w.dtype)
    slopes = torch.empty_like(times)
    span = thread_choice.run(
        ("forward", w.dtype, params.regime, n_in, n_out, thread_choice.bucket(n_batch)), _threads(n_batch * n_in * n_out),
        lambda threads: _native.forward(
            w.dtype == torch.float64, x.data_ptr(), w.data_ptr(), times.data_ptr(), slopes.data_ptr(),
            n_batch, n_in, n_out, _REGIME_CODES[params.regime], params.tau_m, params.tau_s, params.c,
            span_limit, threads,
        ))
    return times, slopes, span


def forward_per_neuron(input_times, weights, tau_m, tau_s, c, span_limit: float):
    """Spike times [B, M] with time constants per neuron (tau_m, tau_s [M]) and threshold
    drive c [B, M], as ttfs_lab.spike_times.per_neuron_spike_times (which checks the values).

    Returns (times, span), span as in forward().
    """
    x, w = _prepare(input_times), _prepare(weights)
    tau_m, tau_s, c = _prepare(tau_m), _prepare(tau_s), _prepare(c)
    _check_shapes(x, w, c)
    (n_batch, n_in), n_out = x.shape, w.shape[1]
    if tau_m.shape != (n_out,) or tau_s.shape != (n_out,):
        raise ValueError(f"expected tau_m, tau_s of shape [{n_out}], got {tuple(tau_m.shape)}, {tuple(tau_s.shape)}")
    if not (tau_m.dtype is tau_s.dtype is c.dtype is w.dtype):
        raise ValueError("tau_m, tau_s and c must have the weights' dtype")
    times = torch.empty((n_batch, n_out), dtype=w.dtype)
    span = thread_choice.run(
        ("per_neuron", w.dtype, n_in, n_out, thread_choice.bucket(n_batch)), _threads(n_batch * n_in * n_out),
        lambda threads: _native.forward_per_neuron(
            w.dtype == torch.float64, x.data_ptr(), w.data_ptr(), tau_m.data_ptr(), tau_s.data_ptr(), c.data_ptr(),
            times.data_ptr(), n_batch, n_in, n_out, span_limit, threads,
        ))
    return times, span


def backward(input_times, weights, times, slopes, grad_times, params: NeuronParams, min_slope: float,
             need_input_grad: bool, need_weight_grad: bool, span_limit: float):
    """(grad_input_times or None, grad_weights or None) of the spike times, as the torch path."""
    x, w = _prepare(input_times), _prepare(weights)
    t, s, g = _prepare(times), _prepare(slopes), _prepare(grad_times)
    _check_shapes(x, w, t, s, g)
    (n_batch, n_in), n_out = x.shape, w.shape[1]
    grad_x = torch.empty_like(x) if need_input_grad else None
    grad_w = torch.zeros_like(w) if need_weight_grad else None
    thread_choice.run(
        ("backward", w.dtype, params.regime, n_in, n_out, thread_choice.bucket(n_batch), need_input_grad, need_weight_grad),
        _threads(n_batch * n_in * n_out),
        lambda threads: _native.backward(
            w.dtype == torch.float64, x.data_ptr(), w.data_ptr(), t.data_ptr(), s.data_ptr(), g.data_ptr(),
            grad_x.data_ptr() if grad_x is not None else 0, grad_w.data_ptr() if grad_w is not None else 0,
            n_batch, n_in, n_out, _REGIME_CODES[params.regime], params.tau_m, params.tau_s, params.c,
            min_slope, span_limit, threads,
        ))
    return grad_x, grad_w


def span_limit(dtype: torch.dtype, params: NeuronParams) -> float:
    """Largest spread of one sample's input times whose exponentials stay finite."""
    return max_exponent(dtype) * min(params.tau_m, params.tau_s)
