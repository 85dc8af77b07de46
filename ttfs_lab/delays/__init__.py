"""Learned transmission delays: a room of their own beside the undelayed core.

    core.py     spike times and exact gradients with synaptic ([N, M]) or axonal ([N]) delays
    layer.py    DelayedTTFSLayer / DelayedTTFSNetwork (torch modules) and the >= 0 projection
"""
from .core import (
    arrival_times, axonal_spike_times, check_delays, delay_implicit_gradients, delayed_spike_times_and_slopes,
    synaptic_spike_times,
)
from .layer import KINDS, DelayedTTFSLayer, DelayedTTFSNetwork, network_for, parameter_groups

__all__ = [
    "KINDS", "DelayedTTFSLayer", "DelayedTTFSNetwork", "network_for", "parameter_groups", "arrival_times", "axonal_spike_times", "check_delays", "delay_implicit_gradients",
    "delayed_spike_times_and_slopes", "synaptic_spike_times",
]
