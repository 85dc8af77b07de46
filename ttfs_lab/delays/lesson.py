"""The coincidence-detector exercise of notebooks/07_learned_delays.ipynb, with its check.

A neuron with two inputs of weight W_EACH each (too weak alone: W_EACH < e c) should fire
for the pattern "input 1 at 0, input 2 GAP later" and stay silent for the other three
patterns of early/late inputs. Positive weights cannot do it: two positive bumps sum highest
when they coincide, so a neuron that fires for the gapped pattern fires for "both at once"
too. A delay can: delaying the *early* input by GAP makes the wanted pattern coincide.
"""
from __future__ import annotations

import math

import torch

from ..exercises import Feedback, _correct, _unanswered, _wrong
from ..params import NeuronParams
from .core import synaptic_spike_times

GAP = 2.0
W_EACH = 1.6  # per input; e * c = 2.72 would be needed for one input alone
# (input 1, input 2) times; only the first pattern should make the neuron fire
PATTERNS = {"1 then 2": (0.0, GAP), "both early": (0.0, 0.0), "both late": (GAP, GAP), "2 then 1": (GAP, 0.0)}


def responses(delays, weights=(W_EACH, W_EACH), params: NeuronParams = NeuronParams()) -> dict:
    """{pattern: first spike time or inf} of the two-input neuron with these delays."""
    x = torch.tensor(list(PATTERNS.values()), dtype=torch.float64)
    w = torch.tensor(weights, dtype=torch.float64)[:, None]
    d = torch.as_tensor(delays, dtype=torch.float64).reshape(2, 1)
    times = synaptic_spike_times(x, w, d, params)[:, 0]
    return dict(zip(PATTERNS, times.tolist()))


def check_coincidence_delay(delays) -> Feedback:
    """Check (d_1, d_2): the neuron must fire for "1 then 2" only. Names the usual mistakes."""
    if delays is None or (hasattr(delays, "__len__") and len(delays) == 2 and any(v is None for v in delays)):
        return _unanswered("Set my_delays = (d_1, d_2) in units of tau_s.")
    try:
        d = [float(v) for v in delays]
    except (TypeError, ValueError):
        return _wrong(f"my_delays must be two numbers (d_1, d_2), got {delays!r}.")
    if len(d) != 2 or not all(math.isfinite(v) for v in d):
        return _wrong(f"my_delays must be two finite numbers (d_1, d_2), got {delays!r}.")
    if min(d) < 0:
        return _wrong("A delay cannot be negative: a synapse can hold a spike back, never send it before it "
                      "happened. Instead of pulling the late input forward, hold the early one back.")
    fired = {name: math.isfinite(t) for name, t in responses(d).items()}
    wanted = {name: name == "1 then 2" for name in PATTERNS}
    if fired == wanted:
        return _correct(f"With d_1 - d_2 = {d[0] - d[1]:.2f} the two inputs of '1 then 2' arrive together and only "
                        "that pattern crosses threshold: a coincidence detector for a time difference, which no "
                        "choice of positive weights can build.")
    if d[1] > d[0]:
        return _wrong("You delayed the late input (input 2): that pulls the two spikes of '1 then 2' further apart. "
                      "Delay the input that comes first, input 1, so it waits for input 2.")
    if not fired["1 then 2"]:
        return _wrong(f"'1 then 2' does not fire: its inputs arrive {GAP - (d[0] - d[1]):.2f} tau_s apart. "
                      f"Make d_1 - d_2 closer to the gap of {GAP} tau_s.")
    extra = [name for name, f in fired.items() if f and name != "1 then 2"]
    return _wrong(f"Also fires for {extra}: the delay difference d_1 - d_2 = {d[0] - d[1]:.2f} is too small to keep "
                  "coinciding inputs apart. Make it match the gap.")
