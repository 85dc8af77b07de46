"""ttfs-lab: learning with first-spike times in spiking networks.

The core is a handful of pure functions (kernel, membrane_potential, first_spike_times)
wrapped by thin torch modules (TTFSLayer, TTFSNetwork).
"""
from .kernel import kernel, kernel_derivative, membrane_potential
from .lambertw import lambertw0
from .params import NeuronParams
from .network import TTFSLayer, TTFSNetwork, predict_from_times
from .spike_times import first_spike_times

__all__ = [
    "NeuronParams",
    "kernel",
    "kernel_derivative",
    "membrane_potential",
    "first_spike_times",
    "lambertw0",
    "TTFSLayer",
    "TTFSNetwork",
    "predict_from_times",
]
__version__ = "0.1.0"
