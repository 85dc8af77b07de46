"""Slow, obviously-correct reference for the SPEC §1 neuron. Used only by tests.

Nothing here imports the core's code: the kernel is typed in again from the SPEC,
and the first spike is found by brute force (dense grid + bounded maximisation +
Brent's method) or, independently, by integrating the neuron's ODE with scipy.

Notation: the *drive* is v(t) = g_L (u(t) - E_L) = sum_i w_i kappa(t - t_i);
the neuron spikes at the first t with v(t) >= c, c = g_L (threshold - E_L).

`p` is anything with tau_m, tau_s, g_leak, e_leak, threshold attributes
(normally ttfs_lab.NeuronParams); c is recomputed here on purpose.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize

GRID_PER_INTERVAL = 1000  # density only changes speed: the margin below keeps the search rigorous
TAIL_TAUS = 40.0  # search this many max(tau_m, tau_s) past the last input (checked to suffice)


def threshold_drive(p) -> float:
    """c = g_L (threshold - E_L)."""
    return p.g_leak * (p.threshold - p.e_leak)


def _equal(p) -> bool:
    return p.tau_m == p.tau_s


# ----------------------------------------------------------------------------- kernel
def kappa(s, p):
    """PSP kernel of SPEC §1; 0 for s <= 0 and for s = +-inf (input at +inf)."""
    s = np.asarray(s, dtype=np.float64)
    out = np.zeros_like(s)
    ok = (s > 0) & np.isfinite(s)
    x = s[ok]
    if _equal(p):
        tau = p.tau_s
        out[ok] = (x / tau) * np.exp(-x / tau)
    else:
        # exp(-x/tau_m) - exp(-x/tau_s) = exp(-x/tau_s) expm1(x (tau_m - tau_s) / (tau_m tau_s)):
        # the same number, without cancellation when tau_m is close to tau_s
        out[ok] = p.tau_s / (p.tau_m - p.tau_s) * np.exp(-x / p.tau_s) * np.expm1(x * _rate_gap(p))
    return out


def kappa_naive(s, p):
    """The SPEC formula verbatim (cancels badly for tau_m ~ tau_s); for checking `kappa`."""
    s = np.asarray(s, dtype=np.float64)
    ok = (s > 0) & np.isfinite(s)
    x = np.where(ok, s, 0.0)
    if _equal(p):
        return np.where(ok, (x / p.tau_s) * np.exp(-x / p.tau_s), 0.0)
    return np.where(ok, p.tau_s / (p.tau_m - p.tau_s) * (np.exp(-x / p.tau_m) - np.exp(-x / p.tau_s)), 0.0)


def _rate_gap(p) -> float:
    """1/tau_s - 1/tau_m."""
    return (p.tau_m - p.tau_s) / (p.tau_m * p.tau_s)


def kappa_prime(s, p):
    """d kappa / ds for s > 0 (right derivative at the input), 0 for s <= 0."""
    s = np.asarray(s, dtype=np.float64)
    out = np.zeros_like(s)
    ok = (s > 0) & np.isfinite(s)
    x = s[ok]
    if _equal(p):
        tau = p.tau_s
        out[ok] = (1.0 - x / tau) * np.exp(-x / tau) / tau
    else:
        out[ok] = p.tau_s / (p.tau_m - p.tau_s) * (
            -np.exp(-x / p.tau_m) / p.tau_m + np.exp(-x / p.tau_s) / p.tau_s
        )
    return out


def _kappa_scalar(s: float, p) -> float:
    if not (s > 0) or math.isinf(s):
        return 0.0
    if _equal(p):
        return (s / p.tau_s) * math.exp(-s / p.tau_s)
    return p.tau_s / (p.tau_m - p.tau_s) * math.exp(-s / p.tau_s) * math.expm1(s * _rate_gap(p))


def _kappa2_bound(p) -> float:
    """An upper bound of |kappa''(s)| over s > 0 (each exponential is <= 1)."""
    if _equal(p):
        # kappa'' = (s/tau - 2) e^{-s/tau} / tau^2 and |(x - 2) e^{-x}| <= 2 for x >= 0
        return 2.0 / p.tau_s**2
    return p.tau_s / abs(p.tau_m - p.tau_s) * (1.0 / p.tau_m**2 + 1.0 / p.tau_s**2)


# -------------------------------------------------------------------------- potential
def drive(t, times, weights, p):
    """v(t) = sum_i w_i kappa(t - t_i), direct summation.

    t: [G]; times: [N]; weights: [N] or [N, M] -> [G] or [G, M].
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    times = np.asarray(times, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    k = kappa(t[:, None] - times[None, :], p)  # [G, N]
    return k @ weights


def potential(t, times, weights, p):
    """u(t) = E_L + sum_i w_i kappa(t - t_i) / g_L (shapes as in `drive`)."""
    return p.e_leak + drive(t, times, weights, p) / p.g_leak


# ------------------------------------------------------------------ first spike (brute)
def _grid(knots: np.ndarray, tail: float):
    """Dense grid whose points include every knot; returns (grid, tail_end)."""
    edges = list(knots) + [knots[-1] + tail]
    pieces = [
        np.linspace(a, b, GRID_PER_INTERVAL + 1)[:-1] for a, b in zip(edges[:-1], edges[1:]) if b > a
    ]
    pieces.append(np.array([edges[-1]]))
    return np.concatenate(pieces), edges[-1]


def first_spike_bruteforce(times, weights, p):
    """First time with v(t) >= c, or inf. times [N]; weights [N] -> float, [N, M] -> [M].

    Method (no assumption about the shape of v besides smoothness between inputs):
    1. evaluate v on a dense grid that contains every input time;
    2. v is smooth inside each grid cell [g_j, g_j+1], so by Taylor around an interior
       maximum, max over the cell <= max(v(g_j), v(g_j+1)) + h^2/8 * sup|v''|.
       Every cell before the first grid crossing whose endpoints come within that
       margin of c is searched with a bounded maximiser; a maximum >= c there is a
       (near-tangent) crossing that the grid skipped;
    3. the crossing is refined with brentq between a point below and a point >= c.
    """
    times = np.asarray(times, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64)
    squeeze = weights.ndim == 1
    w2 = weights[:, None] if squeeze else weights
    if np.isnan(times).any() or not np.isfinite(w2).all():
        raise ValueError("ground truth needs non-NaN times and finite weights")
    c = threshold_drive(p)
    m_count = w2.shape[1]
    result = np.full(m_count, np.inf)
    live = np.isfinite(times)
    if not live.any():
        return result[0] if squeeze else result
    t_live, w_live = times[live], w2[live]
    knots = np.unique(t_live)
    tail = TAIL_TAUS * max(p.tau_m, p.tau_s)
    grid, t_end = _grid(knots, tail)
    # Rigour of the tail: beyond t_end every input is past the kernel's peak (at most
    # max(tau) after the input), where kappa decreases, so |v| <= sum |w| kappa(tail) < c.
    assert float(np.abs(w_live).sum(axis=0).max()) * _kappa_scalar(tail, p) < c
    v = kappa(grid[:, None] - t_live[None, :], p) @ w_live  # [G, M]
    h = np.diff(grid)
    k2 = _kappa2_bound(p)

    for m in range(m_count):
        wm = w_live[:, m]
        pairs = [(float(ti), float(wi)) for ti, wi in zip(t_live, wm) if wi != 0.0]

        def f(t, pairs=pairs):
            return sum(wi * _kappa_scalar(t - ti, p) for ti, wi in pairs) - c

        vm = v[:, m]
        above = np.nonzero(vm >= c)[0]
        j0 = int(above[0]) if above.size else len(grid)  # first grid point at/above c
        margin = h[: max(j0 - 1, 0)] ** 2 / 8.0 * k2 * np.abs(wm).sum()
        cell_max = np.maximum(vm[:-1], vm[1:])[: max(j0 - 1, 0)]
        found = None
        for j in np.nonzero(cell_max >= c - margin)[0]:
            a, b = grid[j], grid[j + 1]
            res = optimize.minimize_scalar(
                lambda t: -f(t), bounds=(a, b), method="bounded", options={"xatol": 1e-14}
            )
            if -res.fun >= 0.0:  # a peak at/above threshold between two grid points
                found = (a, float(res.x))
                break
        if found is None and j0 < len(grid):
            assert j0 > 0  # v = 0 < c at the first input
            found = (grid[j0 - 1], grid[j0])
        if found is None:
            continue
        a, b = found
        if f(b) == 0.0:
            result[m] = b
        else:
            result[m] = optimize.brentq(f, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(result[0]) if squeeze else result


def first_spike_layer(input_times, weights, p):
    """Brute force over a batch: input_times [B, N], weights [N, M] -> [B, M]."""
    input_times = np.asarray(input_times, dtype=np.float64)
    return np.stack([first_spike_bruteforce(row, weights, p) for row in input_times])


# ------------------------------------------------------------------------------- ODE
# The kernel is the response of
#     tau_m du/dt = -(u - E_L) + I / g_L,    tau_s dI/dt = -I,    I -> I + w_i at t_i.
# Check (v = g_L (u - E_L), one input at 0, s = t): tau_m v' = -v + w e^{-s/tau_s}.
#   tau_m != tau_s: try v = A e^{-s/tau_s}: -A tau_m/tau_s = -A + w -> A = w tau_s/(tau_s - tau_m);
#     with v(0) = 0: v = w tau_s/(tau_m - tau_s) (e^{-s/tau_m} - e^{-s/tau_s}) = w kappa(s).
#   tau_m = tau_s = tau: v = w (s/tau) e^{-s/tau} solves tau v' = -v + w e^{-s/tau}, v(0) = 0.
# So the jump is exactly w (the SPEC normalisation tau_s/(tau_m - tau_s) is built in).
def _ode_rhs(p):
    def rhs(t, y):
        u, i_syn = y
        return [(-(u - p.e_leak) + i_syn / p.g_leak) / p.tau_m, -i_syn / p.tau_s]

    return rhs


def _ode_segments(times, weights, p):
    times = np.asarray(times, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    live = np.isfinite(times)
    knots = np.unique(times[live])
    jumps = [float(weights[live][times[live] == k].sum()) for k in knots]
    return knots, jumps


def ode_potential(t_eval, times, weights, p, rtol=1e-12, atol=1e-14):
    """u(t) from integrating the ODE (one neuron: weights [N]); t_eval sorted [G]."""
    t_eval = np.asarray(t_eval, dtype=np.float64)
    knots, jumps = _ode_segments(times, weights, p)
    out = np.full(t_eval.shape, float(p.e_leak))
    y = np.array([p.e_leak, 0.0])
    edges = list(knots) + [max(t_eval[-1], knots[-1] if len(knots) else t_eval[-1])]
    for k in range(len(knots)):
        y = y + np.array([0.0, jumps[k]])
        a, b = edges[k], edges[k + 1]
        sel = (t_eval >= a) & (t_eval <= b)
        if b <= a:
            continue
        sol = integrate.solve_ivp(
            _ode_rhs(p), (a, b), y, method="DOP853", rtol=rtol, atol=atol, dense_output=True
        )
        out[sel] = sol.sol(t_eval[sel])[0]
        y = sol.y[:, -1]
    return out


def first_spike_ode(times, weights, p, rtol=1e-12, atol=1e-14, max_step=0.01):
    """First threshold crossing by integrating the ODE with a terminal event (one neuron)."""
    knots, jumps = _ode_segments(times, weights, p)
    if len(knots) == 0:
        return math.inf
    c = threshold_drive(p)

    def event(t, y):
        return p.g_leak * (y[0] - p.e_leak) - c

    event.terminal = True
    event.direction = 1.0
    y = np.array([p.e_leak, 0.0])
    edges = list(knots) + [knots[-1] + TAIL_TAUS * max(p.tau_m, p.tau_s)]
    for k in range(len(knots)):
        y = y + np.array([0.0, jumps[k]])
        sol = integrate.solve_ivp(
            _ode_rhs(p),
            (edges[k], edges[k + 1]),
            y,
            method="DOP853",
            rtol=rtol,
            atol=atol,
            events=event,
            max_step=max_step,
        )
        if sol.t_events[0].size:
            return float(sol.t_events[0][0])
        y = sol.y[:, -1]
    return math.inf


# ------------------------------------------------------------------------- gradients
def implicit_gradients(times, weights, T, p):
    """SPEC §1 implicit-function gradients for one neuron (weights [N]) spiking at T.

    dT/dw_i = -kappa(T - t_i) / vdot(T),  dT/dt_i = w_i kappa'(T - t_i) / vdot(T),
    vdot(T) = sum_{t_j < T} w_j kappa'(T - t_j). Returns (dT/dw [N], dT/dt [N]).
    """
    times = np.asarray(times, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    s = T - times
    causal = np.isfinite(times) & (times < T)
    kp = np.where(causal, kappa_prime(s, p), 0.0)
    k = np.where(causal, kappa(s, p), 0.0)
    vdot = float((weights * kp).sum())
    return -k / vdot, weights * kp / vdot


def vdot_at(times, weights, T, p) -> float:
    """Slope of the drive at T (over the inputs before T)."""
    times = np.asarray(times, dtype=np.float64).ravel()
    causal = np.isfinite(times) & (times < T)
    return float((np.asarray(weights, float).ravel() * np.where(causal, kappa_prime(T - times, p), 0.0)).sum())
