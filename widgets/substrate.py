"""From the lab's hardware settings (a plain dict, saved with the state) to ttfs_lab.hardware objects.

    {"preset": "bss2",                        # where the distortions came from ("custom" once edited)
     "distortions": {"threshold_mismatch": 0.08, ...},   # enabled distortions: name -> strength
     "emulated": False,                       # run on an emulated BrainScaleS-2 (6-bit weights,
     "chip_id": 0, "multiplex": 5,            #   resources, hardware time and energy)
     "in_the_loop": False}                    # train with the chip in the loop

An empty dict is the ideal model.
"""
from __future__ import annotations

from ttfs_lab.hardware import DISTORTIONS, PROFILES, BrainScaleS2, Emulator, HardwareModel, InTheLoop, make
from ttfs_lab.train import IdealSubstrate

DEFAULTS = {"preset": "ideal", "distortions": {}, "emulated": False, "chip_id": 0, "multiplex": 5, "in_the_loop": False}
# Profile key -> settings: the key the profile is listed under, and the distortions by DISTORTIONS name.
_NAMES = {type(make(name, 0.1)).__name__: name for name in DISTORTIONS}


def complete(settings: dict) -> dict:
    """Settings with every key present; ValueError for unknown keys or distortions."""
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown hardware settings {sorted(unknown)}; known: {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **settings}
    bad = set(out["distortions"]) - set(DISTORTIONS)
    if bad:
        raise ValueError(f"unknown distortions {sorted(bad)}; choose from {', '.join(DISTORTIONS)}")
    for key in ("chip_id", "multiplex"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "chip_id" else 1):
            raise ValueError(f"{key} must be an integer >= {0 if key == 'chip_id' else 1}, got {value!r}")
    return out


def preset_distortions(preset: str) -> dict:
    """{distortion name: strength} of a ttfs_lab.hardware profile."""
    if preset not in PROFILES:
        raise ValueError(f"unknown hardware preset {preset!r}; choose one of {', '.join(PROFILES)}")
    return {_NAMES[type(d).__name__]: float(d.strength) for d in PROFILES[preset].distortions}


def build(settings: dict, network):
    """The forward substrate the settings describe (None = ideal model); raises ValueError
    (e.g. ttfs_lab.hardware.MappingError) if the network cannot run there."""
    s = complete(settings)
    distortions = tuple(make(name, float(strength), seed=s["chip_id"]) for name, strength in s["distortions"].items())
    model = HardwareModel(s["preset"], distortions)
    if s["emulated"]:
        chip = BrainScaleS2(model, chip_id=s["chip_id"], multiplex=s["multiplex"])
        chip.map(network)  # MappingError if the network does not fit
        return chip
    if model.is_ideal:
        return None
    return Emulator(model, seed=s["chip_id"])


def for_training(settings: dict, substrate):
    """What the Trainer's forward pass runs on: the chip in the loop, or the ideal model."""
    if complete(settings)["in_the_loop"] and substrate is not None:
        return InTheLoop(substrate)
    return IdealSubstrate()
