"""Hardware: distortions of an analog substrate, an emulated BrainScaleS-2, in-the-loop training.

    distortions.py   small frozen dataclasses (quantization, clipping, fixed-pattern mismatch,
                     trial-to-trial noise, jitter, input noise, spike loss, dead neurons)
    model.py         HardwareModel profiles ("ideal", "bss2", "uncalibrated", "noisy") and the
                     Emulator that runs a network under one
    per_neuron.py    spike times when every neuron has its own threshold and time constants
    bss2.py          BrainScaleS2: resource mapping, 6-bit weights, hardware time and energy
    in_the_loop.py   InTheLoop: forward on the chip, ideal gradients at the measured times
    cli.py           the train command's --hardware/--in-the-loop/--chip-id options
"""
from .bss2 import (
    BrainScaleS2, Mapping, MappingError, RunReport, hardware_weights, map_network, synapse_rows, to_hardware_time_us,
)
from .distortions import (
    DISTORTIONS, DeadNeurons, Distortion, InputNoise, NeuronDeviation, OutputJitter, SpikeLoss, ThresholdMismatch,
    ThresholdNoise, TimeConstantMismatch, WeightClipping, WeightQuantization, make,
)
from .in_the_loop import InTheLoop, in_the_loop_config, in_the_loop_spike_times
from .model import PROFILES, Emulator, HardwareModel, profile
from .per_neuron import per_neuron_spike_times

__all__ = [
    "BrainScaleS2", "DISTORTIONS", "DeadNeurons", "Distortion", "Emulator", "HardwareModel", "InTheLoop",
    "InputNoise", "Mapping", "MappingError", "NeuronDeviation", "OutputJitter", "PROFILES", "RunReport",
    "SpikeLoss", "ThresholdMismatch", "ThresholdNoise", "TimeConstantMismatch", "WeightClipping",
    "WeightQuantization", "hardware_weights", "in_the_loop_config", "in_the_loop_spike_times", "make", "map_network",
    "per_neuron_spike_times", "profile", "synapse_rows", "to_hardware_time_us",
]
