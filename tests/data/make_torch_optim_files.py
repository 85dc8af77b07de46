"""Writes tests/data/torch_optim/: saves made while the trainer still used torch.optim.Adam and
StepLR (run it with a checkout of such a commit, e.g. bb5101e, first on PYTHONPATH), and what
that code computed after resuming from them -- the ground truth of tests/test_adam.py.

    PYTHONPATH=<old checkout> python tests/data/make_torch_optim_files.py tests/data/torch_optim

(written with bb5101e: its own editable install, /work/main/.venv at that commit).

trainer.ckpt     Trainer.save() in the middle of epoch 2 (lr_step=1: the lr has decayed once)
trainer-end.pt   {"weights": [...], "history": {...}} of the same run after 4 epochs
lab/state.json   LabState.save() (+ state.ckpt) in the middle of epoch 2 of a playground state
lab-end.pt       {"weights": [...], "history": {...}} of that state after 3 epochs
"""
import sys
from pathlib import Path

import torch

from ttfs_lab.data import encode, yin_yang
from ttfs_lab.train import Trainer, preset


def small_data():
    def split(name, size):
        x, y = yin_yang(name, size=size)
        return torch.as_tensor(encode(x)), torch.as_tensor(y)

    return {"train": split("train", 120), "validation": split("validation", 60), "test": split("test", 60)}


TRAINER_CONFIG = dict(hidden=(8,), epochs=4, batch_size=40, lr_step=1, lr_gamma=0.5, seed=3)
LAB_SETTINGS = dict(hidden=[6], train_size=120, test_size=60, batch_size=60, epochs=3, seed=5)


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    import torch.optim  # noqa: F401  (what these files are about: written by torch.optim)

    trainer = Trainer(preset("paper", **TRAINER_CONFIG), data=small_data(), progress=False)
    assert type(trainer.optimizer).__module__.startswith("torch.optim"), "run this with a torch.optim commit"
    for _ in range(5):  # 3 batches per epoch: 2 into epoch 2
        trainer.train_batch()
    trainer.save(out / "trainer.ckpt")
    trainer.run()
    torch.save({"weights": [w.detach().clone() for w in trainer.network.weights()], "history": trainer.history},
               out / "trainer-end.pt")

    from ttfs_lab.widgets import LabState, TrainingRunner

    state = LabState(**LAB_SETTINGS)
    runner = TrainingRunner.for_state(state)
    for _ in range(3):  # 2 batches per epoch: 1 into epoch 2
        runner.step()
    (out / "lab").mkdir(exist_ok=True)
    state.save(out / "lab" / "state.json")
    while runner.epochs_left() > 0:
        runner.step()
    torch.save({"weights": [w.detach().clone() for w in state.network.weights()], "history": dict(state.history)},
               out / "lab-end.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
