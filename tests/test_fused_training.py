"""The fused native training step (ttfs_lab.train.fused) against the Trainer, its reference.

The Trainer runs every batch through torch autograd, Adam (ttfs_lab.train.adam: torch.optim's
bits) and the torch bumping / clipping code; the fused kernel does the same in C. Spike times
and layer gradients come from the same native layer functions; the loss, Adam and the clipping
rule are the same formulas, whose exp() and vectorised roundings differ from torch's in the
last bit. So: float64, and agreement to a few ulp of the weights' size (1e-12) after many
steps, identical decisions (bumps, predictions).
"""
import pytest
import torch

from ttfs_lab import native
from ttfs_lab.data import encode, yin_yang
from ttfs_lab.train import Trainer, preset
from ttfs_lab.train.fused import FusedTrainer, unsupported
from resume import resume_mid_epoch

pytestmark = pytest.mark.skipif(not native.available(), reason="the fused step is native code")

TIGHT = dict(rtol=1e-12, atol=1e-12)


def small_data(n_train=600, n_eval=200, grid=None):
    def split(name, size):
        x, y = yin_yang(name, size=size)
        times = torch.as_tensor(encode(x))
        if grid is not None:  # many equal input times: ties in every sort
            times = torch.round(times / grid) * grid
        return times, torch.as_tensor(y)

    return {"train": split("train", n_train), "validation": split("validation", n_eval), "test": split("test", n_eval)}


def pair(config, data, network_fix=None):
    reference, fused = Trainer(config, data=data, progress=False), FusedTrainer(config, data=data, progress=False)
    if network_fix is not None:
        for trainer in (reference, fused):
            network_fix(trainer.network)
    return reference, fused


def adam_state(trainer, p):
    """(exp_avg, exp_avg_sq, step); torch creates them at the first step, the fused trainer
    before its first call: no state is zeros."""
    state = trainer.optimizer.state[p]
    if not state:
        return torch.zeros_like(p), torch.zeros_like(p), 0.0
    return state["exp_avg"], state["exp_avg_sq"], float(state["step"])


def adam_moments(trainer):
    return [adam_state(trainer, p)[:2] for p in trainer.network.parameters()]


def assert_same_state(reference, fused):
    for a, b in zip(reference.network.weights(), fused.network.weights()):
        torch.testing.assert_close(b, a, **TIGHT)
    for (m_a, v_a), (m_b, v_b) in zip(adam_moments(reference), adam_moments(fused)):
        torch.testing.assert_close(m_b, m_a, **TIGHT)
        torch.testing.assert_close(v_b, v_a, rtol=1e-12, atol=1e-20)
    for p_a, p_b in zip(reference.network.parameters(), fused.network.parameters()):
        assert adam_state(reference, p_a)[2] == adam_state(fused, p_b)[2]
    assert reference._bump_value == fused._bump_value
    assert reference._last_bumped_layer == fused._last_bumped_layer


def run_batches(reference, fused, n):
    kinds = []
    for _ in range(n):
        a, b = reference.train_batch(), fused.train_batch()
        assert (a.bumped, a.accuracy, a.epoch, a.step) == (b.bumped, b.accuracy, b.epoch, b.step)
        if a.loss == a.loss:
            assert b.loss == pytest.approx(a.loss, rel=1e-13)
        else:
            assert b.loss != b.loss
        assert_same_state(reference, fused)
        kinds.append(a.bumped)
    return kinds


def test_gradients_match_autograd_and_the_clipping_rule():
    """After one Adam step exp_avg = (1 - beta1) grad, and every later exp_avg mixes in the new
    gradient: matching moments step after step are matching gradients (loss, backward through
    both layers, the max_dw_norm rule). With the paper's 0.2 the rule drops a contribution once in
    many epochs; at 0.001 it drops some in every step. The comparison can fail: the same run
    without the rule departs from it."""
    data = small_data()
    reference, fused = pair(preset("paper", seed=3, max_dw_norm=0.001), data)
    unclipped = FusedTrainer(preset("paper", seed=3, max_dw_norm=None), data=data, progress=False)
    departed = False
    for _ in range(6):
        run_batches(reference, fused, 1)
        unclipped.train_batch()
        departed |= not all(torch.equal(a, b) for a, b in zip(fused.network.weights(), unclipped.network.weights()))
    assert departed, "the clipping rule dropped nothing in these batches"


@pytest.mark.parametrize("overrides", [
    dict(),                                                           # the paper protocol
    dict(hidden=(40,), skip_step_on_bump=False, max_silent_output=0.05, keep_best=True),  # "improved"-like
    dict(silent_outputs="label", max_dw_norm=None),
    dict(hidden=(30, 20)),                                            # two hidden layers
])
def test_steps_match_the_reference(overrides):
    reference, fused = pair(preset("paper", seed=1, **overrides), small_data())
    kinds = run_batches(reference, fused, 10)
    assert len(kinds) == 10


def test_silent_neurons_and_bumps_match():
    """Weak hidden weights: most hidden neurons silent, bumps doubling batch after batch."""
    def weaken(network):
        with torch.no_grad():
            network.layers[0].weight.mul_(0.15)

    reference, fused = pair(preset("paper", seed=2), small_data(), weaken)
    kinds = run_batches(reference, fused, 8)
    assert sum(kinds) >= 3, "this network should have needed bumps"
    assert fused._bump_value > preset("paper").bump  # doubled at least once


def test_ties_match():
    """Input times on a coarse grid (equal times in a sample and across samples) and two
    identical output neurons (equal output times: the first one wins, as torch.argmin)."""
    def twin_outputs(network):
        with torch.no_grad():
            network.layers[1].weight[:, 1] = network.layers[1].weight[:, 0]

    data = small_data(grid=0.25)
    reference, fused = pair(preset("paper", seed=4), data, twin_outputs)
    x = torch.cat([data["train"][0], torch.full((len(data["train"][0]), 1), 0.9)], dim=1)
    output = reference.network(data["train"][0])
    assert (torch.isfinite(output[:, 0]) & (output[:, 0] == output[:, 1])).any()
    assert any(len(set(row.tolist())) < len(row) for row in x), "no sample with equal input times"
    run_batches(reference, fused, 6)


def test_short_run_gives_the_same_epochs():
    data = small_data(n_train=900)
    config = preset("paper", epochs=3, seed=5, batch_size=100)
    reference, fused = Trainer(config, data=data, progress=False), FusedTrainer(config, data=data, progress=False)
    h_ref, h_fused = reference.run(), fused.run()
    for key in ("train_accuracy", "validation_accuracy", "bumped_fraction"):
        assert h_fused[key] == h_ref[key], key
    for key in ("train_loss", "validation_loss"):
        assert h_fused[key] == pytest.approx(h_ref[key], rel=1e-11, nan_ok=True), key
    assert fused.evaluate("test") == pytest.approx(reference.evaluate("test"), rel=1e-11)
    assert_same_state(reference, fused)


def test_float32_runs_close_to_the_reference():
    config = preset("paper", seed=6, dtype="float32")
    data = small_data()
    data = {k: (x.float(), y) for k, (x, y) in data.items()}
    reference, fused = pair(config, data)
    for _ in range(4):
        a, b = reference.train_batch(), fused.train_batch()
        assert a.bumped == b.bumped
    for a, b in zip(reference.network.weights(), fused.network.weights()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_checkpoint_resumes_across_trainers(tmp_path):
    """A fused run saved mid-epoch resumes (fused or not) where an uninterrupted run goes."""
    data = small_data()
    config = preset("paper", epochs=2, seed=7)
    whole = FusedTrainer(config, data=data, progress=False)
    whole.run()
    resumed = resume_mid_epoch(FusedTrainer, config, data, 5, tmp_path / "mid.pt")
    assert resumed.history == {**whole.history, "seconds_per_epoch": resumed.history["seconds_per_epoch"]}
    for a, b in zip(whole.network.weights(), resumed.network.weights()):
        assert torch.equal(a, b)
    by_reference = Trainer.load(tmp_path / "mid.pt", data=data, progress=False)
    by_reference.run()
    assert by_reference.history["validation_accuracy"] == whole.history["validation_accuracy"]


def test_stop_from_a_callback_ends_after_that_batch():
    seen = []

    def callback(event):
        seen.append(event.kind)
        if len(seen) == 3:
            trainer.stop()

    trainer = FusedTrainer(preset("paper", epochs=2), data=small_data(), callbacks=(callback,), progress=False)
    trainer.run()
    assert seen == ["batch"] * 3 and trainer.step_count == 3


def test_unsupported_configurations_are_refused():
    for overrides in (dict(delays="synaptic"), dict(input_noise=0.1), dict(weight_average=0.9)):
        config = preset("paper", **overrides)
        assert unsupported(config) is not None
        with pytest.raises(ValueError, match="use ttfs_lab.train.Trainer"):
            FusedTrainer(config, data=small_data(), progress=False)


def test_bad_data_gives_one_clear_error():
    data = small_data()
    x, y = data["train"]
    bad = dict(data, train=(torch.where(torch.arange(len(x))[:, None] == 3, float("nan"), x), y))
    with pytest.raises(ValueError, match="finite or \\+inf"):
        FusedTrainer(preset("paper"), data=bad, progress=False)
    x_far = x.clone()
    x_far[0, 0] = 1e4  # a sample spanning far more than the exponentials allow
    trainer = FusedTrainer(preset("paper"), data=dict(data, train=(x_far, y)), progress=False)
    with pytest.raises(ValueError, match="span"):
        trainer.run()
    with pytest.raises(ValueError, match="span"):  # the reference refuses the same sample
        Trainer(preset("paper"), data=dict(data, train=(x_far, y)), progress=False).run()


def test_stop_from_another_thread_ends_a_fused_epoch_early():
    """Without callbacks an epoch is one native call; stop() still ends it after the current
    batch (the kernel reads a flag the trainer sets), and the bookkeeping stays whole."""
    import threading

    data = small_data(n_train=3000)
    trainer = FusedTrainer(preset("paper", epochs=3, batch_size=5), data=data, progress=False)

    def stopper():
        while trainer._order is None:  # set just before the native call starts
            pass
        trainer.stop()

    thread = threading.Thread(target=stopper)
    thread.start()
    trainer.run()
    thread.join()
    assert trainer.epoch == 0 and 1 <= trainer._batch_index < 600
    assert trainer.step_count == trainer._batch_index == trainer._epoch_stats.batches
    trainer.run()  # and resumes where it stopped
    assert trainer.epoch == 3 and trainer.step_count == 3 * 600
