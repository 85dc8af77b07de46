"""First-spike times of a layer whose neurons do not share their parameters.

The core's ``first_spike_times`` takes one NeuronParams for the whole layer. On an analog
chip every neuron circuit has its own time constants and threshold (fixed-pattern
mismatch), and the threshold even changes from run to run (trial-to-trial noise):

    sum_{i: t_i < T} w_im kappa_m(T - t_i) = c_bm

with tau_m, tau_s per neuron m and c per sample b and neuron m. The core solves this too
(ttfs_lab.spike_times.per_neuron_spike_times: the same causal-set search with prefix sums per
neuron, compiled or in torch); this module is where the hardware package takes it from.

Why not rescale? A threshold alone could be folded into the weights (dividing f = c_m by
c_m / c is exact), but that needs per-sample weights once the threshold is redrawn every
run, and time constants cannot be folded at all when tau_m and tau_s deviate differently
(the ratio tau_m / tau_s, hence the kernel's shape, changes).
"""
from __future__ import annotations

from ..spike_times import per_neuron_spike_times

__all__ = ["per_neuron_spike_times"]
