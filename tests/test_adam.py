"""ttfs_lab.train.adam against torch.optim, its ground truth: the same bits.

torch.optim.Adam (CPU default: the single-tensor path) and StepLR run side by side with ours on
random problems and on real training runs; saves written while the trainer used torch.optim
(tests/data/torch_optim, by tests/data/make_torch_optim_files.py at bb5101e) load and resume
to the weights that code computed. The library itself never builds a torch.optim optimizer
(the first one imports torch._dynamo and sympy: test_no_dynamo_*; ``import torch`` itself
imports the torch.optim modules, not those).
"""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.optim

from ttfs_lab import native
from ttfs_lab.data import encode, yin_yang
from ttfs_lab.train import Trainer, preset
from ttfs_lab.train.adam import Adam, StepLR

DATA = Path(__file__).parent / "data" / "torch_optim"
REPO = Path(__file__).resolve().parents[1]


def small_data(n_train=120, n_eval=60):
    def split(name, size):
        x, y = yin_yang(name, size=size)
        return torch.as_tensor(encode(x)), torch.as_tensor(y)

    return {"train": split("train", n_train), "validation": split("validation", n_eval), "test": split("test", n_eval)}


def assert_same_bits(a, b):
    """Tensors, numbers and containers equal, tensors bit for bit (dtype, shape, NaN-aware)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a.view(torch.uint8) if a.dim() else a.reshape(1).view(torch.uint8),
                           b.view(torch.uint8) if b.dim() else b.reshape(1).view(torch.uint8))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (sorted(a, key=str), sorted(b, key=str))
        for key in a:
            assert_same_bits(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_bits(x, y)
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), (a, b)


def twin_params(seed, dtype):
    """Two identical lists of parameters (a matrix, a vector, a 0-d tensor) for two groups."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (13,), ()]
    values = [torch.randn(s, generator=g, dtype=dtype) * 3 for s in shapes]
    return ([torch.nn.Parameter(v.clone()) for v in values], [torch.nn.Parameter(v.clone()) for v in values])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_problems_same_bits_as_torch(dtype, seed):
    """400 steps with random gradients of wildly different scales (incl. exact zeros and a
    parameter skipped now and then), two groups with their own lr, StepLR every 7 steps."""
    ours_p, torch_p = twin_params(seed, dtype)
    lr, delay_lr = [0.5, 1e-3, 0.02][seed], [3.0, 0.1, 1e-5][seed]
    betas = [(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)][seed]
    groups = lambda ps: [{"params": ps[:2], "lr": lr}, {"params": ps[2:], "lr": delay_lr}]  # noqa: E731
    ours = Adam(groups(ours_p), lr=lr, betas=betas, eps=[1e-8, 1e-3, 0.0][seed])
    reference = torch.optim.Adam(groups(torch_p), lr=lr, betas=betas, eps=[1e-8, 1e-3, 0.0][seed])
    ours_s = StepLR(ours, step_size=7, gamma=0.9)
    torch_s = torch.optim.lr_scheduler.StepLR(reference, step_size=7, gamma=0.9)
    g = torch.Generator().manual_seed(100 + seed)
    for step in range(400):
        for a, b in zip(ours_p, torch_p):
            if torch.rand((), generator=g) < 0.1:
                a.grad = b.grad = None  # no gradient this step: no update, no state change
                continue
            scale = 10.0 ** float(torch.randint(-8, 4, (), generator=g))
            grad = torch.randn(a.shape, generator=g, dtype=dtype) * scale
            grad[torch.rand(a.shape, generator=g) < 0.2] = 0.0
            a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        reference.step()
        if step % 3 == 2:
            ours_s.step()
            torch_s.step()
        for a, b in zip(ours_p, torch_p):
            assert_same_bits(a.detach(), b.detach())
    assert_same_bits(ours.state_dict(), reference.state_dict())
    assert_same_bits(ours_s.state_dict(), torch_s.state_dict())
    assert ours_s.get_last_lr() == torch_s.get_last_lr()
    assert ours.param_groups[0]["lr"] < lr  # the schedule did decay


def with_torch_optimizer(trainer):
    """The same trainer, its optimizer and schedule replaced by torch.optim's (as before)."""
    groups = [{"params": list(g["params"]), "lr": g["lr"]} for g in trainer.optimizer.param_groups]
    trainer.optimizer = torch.optim.Adam(groups, lr=trainer.config.lr)
    if hasattr(trainer.network, "project_delays"):
        trainer.optimizer.register_step_post_hook(lambda *_: trainer.network.project_delays())
    trainer.scheduler = torch.optim.lr_scheduler.StepLR(trainer.optimizer, step_size=trainer.config.lr_step,
                                                        gamma=trainer.config.lr_gamma)
    return trainer


@pytest.mark.parametrize("name, settings", [
    ("paper", dict(hidden=(12,), lr_step=1, lr_gamma=0.7)),
    ("improved", dict(hidden=(10,), lr_step=2)),
    ("delays", dict(hidden=(8,), lr_step=1, delay_lr=0.05)),  # two groups, post-step projection
])
def test_training_run_same_bits_as_torch_optim(name, settings):
    config = preset(name, epochs=4, batch_size=30, seed=4, **settings)
    data = small_data()
    ours = Trainer(config, data=data, progress=False)
    reference = with_torch_optimizer(Trainer(config, data=data, progress=False))
    ours.run()
    reference.run()
    for a, b in zip(ours.network.parameters(), reference.network.parameters()):
        assert_same_bits(a.detach(), b.detach())
    assert_same_bits(ours.history["train_loss"], reference.history["train_loss"])
    assert ours.history["validation_accuracy"] == reference.history["validation_accuracy"]
    assert_same_bits(ours.optimizer.state_dict(), reference.optimizer.state_dict())
    assert_same_bits(ours.scheduler.state_dict(), reference.scheduler.state_dict())
    assert sum(ours.history["bumped_fraction"]) < len(ours.history["bumped_fraction"])  # it did step


def test_state_dicts_cross_load_both_ways():
    """torch's state into ours and ours into torch: both go on to the same bits."""
    config = preset("paper", hidden=(8,), epochs=3, batch_size=40, lr_step=1, lr_gamma=0.5, seed=2)
    data = small_data()
    trained = Trainer(config, data=data, progress=False)
    trained.run(2)
    ours_state, ours_sched = copy.deepcopy(trained.optimizer.state_dict()), trained.scheduler.state_dict()

    into_torch = with_torch_optimizer(Trainer(config, network=copy.deepcopy(trained.network), data=data,
                                              progress=False))
    into_torch.optimizer.load_state_dict(copy.deepcopy(ours_state))
    into_torch.scheduler.load_state_dict(dict(ours_sched))
    back = Trainer(config, network=copy.deepcopy(trained.network), data=data, progress=False)
    back.optimizer.load_state_dict(into_torch.optimizer.state_dict())
    back.scheduler.load_state_dict(into_torch.scheduler.state_dict())
    bumping = trained._bump_value, trained._last_bumped_layer
    for t in (trained, into_torch, back):
        t._bump_value, t._last_bumped_layer = bumping
        t.generator.manual_seed(7)
        t.epoch = 2
        t.run(3)
    for a, b, c in zip(trained.network.weights(), into_torch.network.weights(), back.network.weights()):
        assert_same_bits(a, b)
        assert_same_bits(a, c)
    assert trained.optimizer.param_groups[0]["lr"] == into_torch.optimizer.param_groups[0]["lr"] == 0.5 ** 3 * config.lr  # 3 epochs, 3 decays


def test_saved_before_with_torch_optim_resumes_to_the_same_bits():
    """A Trainer checkpoint written by the torch.optim trainer (bb5101e) resumes here to the
    weights that code reached."""
    network_state = torch.load(DATA / "trainer.ckpt", weights_only=True)["training"]["optimizer"]
    assert "foreach" in network_state["param_groups"][0]  # torch.optim's format indeed

    end = torch.load(DATA / "trainer-end.pt", weights_only=True)
    trainer = Trainer.load(DATA / "trainer.ckpt", data=small_data(), progress=False)
    assert trainer.epoch == 1 and trainer._batch_index == 2
    trainer.run()
    for a, b in zip(trainer.network.weights(), end["weights"]):
        assert_same_bits(a, b)
    timing = "seconds_per_epoch"  # wall clock: the one entry that cannot repeat
    assert_same_bits({k: v for k, v in trainer.history.items() if k != timing},
                     {k: v for k, v in end["history"].items() if k != timing})


def test_lab_state_saved_with_torch_optim_restores_and_trains_on(tmp_path):
    """The playground's autosave of the torch.optim era (LabState.save) restores and trains on
    to the same bits."""
    from ttfs_lab.widgets import LabState, TrainingRunner

    end = torch.load(DATA / "lab-end.pt", weights_only=True)
    settings = json.loads((DATA / "lab" / "state.json").read_text())["settings"]
    state = LabState(**{k: settings[k] for k in ("hidden", "train_size", "test_size", "batch_size", "seed")})
    state.restore(DATA / "lab" / "state.json")
    runner = TrainingRunner.for_state(state)
    assert runner.trainer() is state.trainer  # the restored trainer goes on (not a fresh one)
    while runner.epochs_left() > 0:
        runner.step()
    for a, b in zip(state.network.weights(), end["weights"]):
        assert_same_bits(a, b)
    assert state.history["validation_accuracy"] == end["history"]["validation_accuracy"]
    state.save(tmp_path / "again.json")  # and it saves again (our format = torch's)
    assert "foreach" in torch.load(tmp_path / "again.ckpt", weights_only=True)["training"]["optimizer"]["param_groups"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["param_groups"].append(dict(s["param_groups"][0])), "2 parameter groups"),
    (lambda s: s["param_groups"][0].update(amsgrad=True), "amsgrad=True"),
    (lambda s: s["param_groups"][0].update(lr=float("nan")), "lr must be"),
    (lambda s: s["param_groups"][0].update(betas=(0.9, 1.5)), "betas"),
    (lambda s: s["state"][0].update(exp_avg=torch.zeros(2, 2)), "exp_avg of parameter 0 must be"),
    (lambda s: s["state"][0].update(step=torch.tensor(-1.0)), "whole number"),
    (lambda s: s["state"][0].pop("exp_avg_sq"), "needs 'step'"),
    (lambda s: s["state"].update({5: s["state"][0]}), "which no group holds"),
    (lambda s: s.pop("state"), "must be a dict"),
])
def test_bad_optimizer_state_is_refused_clearly(edit, message):
    w = torch.nn.Parameter(torch.ones(3, 2))
    ours = Adam([w], lr=0.1)
    w.grad = torch.ones(3, 2)
    ours.step()
    state = copy.deepcopy(ours.state_dict())
    edit(state)
    fresh = Adam([torch.nn.Parameter(torch.ones(3, 2))], lr=0.1)
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(state)


def test_bad_hyperparameters_and_schedules_are_refused():
    w = torch.nn.Parameter(torch.ones(2))
    for kwargs, message in ((dict(lr=-1.0), "lr"), (dict(eps=float("inf")), "eps"), (dict(betas=(1.0, 0.9)), "betas")):
        with pytest.raises(ValueError, match=message):
            Adam([w], **kwargs)
    with pytest.raises(ValueError, match="unsupported"):
        Adam([{"params": [w], "weight_decay": 0.1}])
    with pytest.raises(ValueError, match="step_size"):
        StepLR(Adam([w]), step_size=0)
    scheduler = StepLR(Adam([w]), step_size=2)
    with pytest.raises(ValueError, match="lacks"):
        scheduler.load_state_dict({"gamma": 0.5})


def test_loaded_moments_are_copies():
    """Training after load_state_dict leaves the loaded dict as it was (torch would alias it)."""
    w = torch.nn.Parameter(torch.ones(3))
    ours = Adam([w], lr=0.1)
    w.grad = torch.ones(3)
    ours.step()
    saved = copy.deepcopy(ours.state_dict())
    kept = copy.deepcopy(saved)
    other = Adam([w], lr=0.1)
    other.load_state_dict(saved)
    other.step()
    assert_same_bits(saved, kept)


NO_DYNAMO = """
import sys
{body}
bad = sorted(m for m in sys.modules if m in ("sympy", "torch._dynamo") or m.startswith(("torch._dynamo.", "sympy.")))
print("imported:", bad)
assert not bad, bad
"""


def run_fresh(body: str, home):
    env = {**os.environ, "TTFS_LAB_STATE_DIR": str(home)}  # autosaves (playground) go there
    result = subprocess.run([sys.executable, "-c", NO_DYNAMO.format(body=body)], capture_output=True, text=True,
                            cwd=REPO, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported: []" in result.stdout


def test_no_dynamo_in_training(tmp_path):
    """A training epoch, in the Trainer and fused: no torch._dynamo, no sympy in the process."""
    body = """
from ttfs_lab.train import Trainer, preset
from ttfs_lab.train.fused import FusedTrainer, unsupported
from ttfs_lab.data import encode, yin_yang
import torch
def split(name, n):
    x, y = yin_yang(name, size=n)
    return torch.as_tensor(encode(x)), torch.as_tensor(y)
data = {"train": split("train", 150), "validation": split("validation", 50), "test": split("test", 50)}
config = preset("paper", hidden=(10,), epochs=1)
Trainer(config, data=data, progress=False).run()
assert Trainer(config, data=data, progress=False).optimizer.state_dict()
if unsupported(config) is None:
    FusedTrainer(config, data=data, progress=False).run()
"""
    run_fresh(body, tmp_path)


def test_no_dynamo_in_the_cli(tmp_path):
    body = f"""
from ttfs_lab.cli import main
try:
    main(["train", "yinyang", "--epochs", "1", "--hidden", "8", "--out", {str(tmp_path / "run")!r}])
except SystemExit as e:
    assert not e.code, e.code
"""
    run_fresh(body, tmp_path)


def test_no_dynamo_in_the_playground_kernel(tmp_path):
    """The playground dashboard built (as its notebook builds it), one batch stepped and an
    epoch trained in the background: no torch._dynamo, no sympy."""
    body = """
from ttfs_lab.widgets.dashboards.playground import playground
dashboard = playground()
runner = dashboard.views["training"].runner
runner.step()
runner.state.epochs = 1
runner.min_interval = 0.0
runner.start()
runner.join(300)
assert runner.error is None, runner.error
"""
    run_fresh(body, tmp_path)
