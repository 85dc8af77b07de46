"""Training: the paper's protocol (TrainConfig / PRESETS) run by a Trainer."""
from .config import PRESETS, TrainConfig, preset
from .trainer import IdealSubstrate, Trainer, TrainingEvent, load_splits

__all__ = ["IdealSubstrate", "PRESETS", "TrainConfig", "Trainer", "TrainingEvent", "load_splits", "preset"]
