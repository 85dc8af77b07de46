"""Training: the paper's protocol (TrainConfig / PRESETS) run by a Trainer."""
from .config import PRESETS, TrainConfig, preset
from .trainer import Trainer, TrainingEvent, load_splits

__all__ = ["PRESETS", "TrainConfig", "Trainer", "TrainingEvent", "load_splits", "preset"]
