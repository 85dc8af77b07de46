"""The paper's loss against values and gradients computed by hand."""
import math

import pytest
import torch

from ttfs_lab.loss import LossParams, accuracy, spike_time_loss

INF = float("inf")


def test_loss_value_by_hand():
    times = torch.tensor([[1.0, 2.0, 1.5]], dtype=torch.float64)
    loss = spike_time_loss(times, torch.tensor([0]))
    # -log softmax(-t/0.2)[0] + 0.005 (e^1 - 1)
    logits = [-5.0, -10.0, -7.5]
    expected = -logits[0] + math.log(sum(math.exp(v) for v in logits)) + 0.005 * (math.e - 1)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_loss_gradient_by_hand():
    times = torch.tensor([[1.0, 2.0, 1.5]], dtype=torch.float64, requires_grad=True)
    spike_time_loss(times, torch.tensor([1])).backward()
    xi = 0.2
    p = torch.softmax(-times.detach() / xi, dim=1)[0]
    # dCE/dt_k = (delta_k,label - p_k) / xi ; d early/dt_label = alpha e^{t_label}
    expected = torch.stack([-p[0] / xi, (1 - p[1]) / xi + 0.005 * math.exp(2.0), -p[2] / xi])
    torch.testing.assert_close(times.grad[0], expected, rtol=1e-12, atol=0)


def test_silent_outputs_give_finite_loss_and_gradients():
    times = torch.tensor([[1.0, INF, INF], [INF, INF, INF], [INF, 1.2, 0.9]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0])
    loss = spike_time_loss(times, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(times.grad).all()
    assert (times.grad[torch.isinf(times)] == 0).all()
    # A silent correct output costs more than a spiking one.
    silent_right = spike_time_loss(torch.tensor([[INF, 1.0, 1.0]]), torch.tensor([0]))
    early_right = spike_time_loss(torch.tensor([[0.5, 1.0, 1.0]]), torch.tensor([0]))
    assert silent_right > early_right


def test_silent_time_is_the_stand_in():
    params = LossParams(silent_time=3.0)
    a = spike_time_loss(torch.tensor([[1.0, INF, 2.0]]), torch.tensor([0]), params)
    b = spike_time_loss(torch.tensor([[1.0, 3.0, 2.0]]), torch.tensor([0]), params)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_accuracy_counts_all_silent_as_wrong():
    times = torch.tensor([[1.0, 2.0], [INF, INF], [3.0, 0.5]])
    assert accuracy(times, [0, 0, 1]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "times, labels, message",
    [
        (torch.ones(2, 3), torch.tensor([0]), "labels"),
        (torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]), "NaN"),
        (torch.ones(1, 3), torch.tensor([3]), "labels must lie"),
    ],
)
def test_bad_loss_inputs(times, labels, message):
    with pytest.raises(ValueError, match=message):
        spike_time_loss(times, labels)


def test_bad_loss_params():
    with pytest.raises(ValueError, match="xi"):
        LossParams(xi=0)


MARGIN = LossParams(kind="margin", margin=0.5, alpha=0.0)


def test_margin_loss_value_by_hand():
    times = torch.tensor([[1.0, 1.2, 2.0], [1.5, 1.0, 1.3]], dtype=torch.float64)
    loss = spike_time_loss(times, torch.tensor([0, 2]), MARGIN)
    # sample 0: gaps 0.2, 1.0 -> shortfalls 0.3, 0; sample 1: gaps 0.2, -0.3 -> 0.3, 0.8
    expected = (0.5 * 0.3**2 + 0.5 * (0.3**2 + 0.8**2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    with_alpha = spike_time_loss(times, torch.tensor([0, 2]), LossParams(kind="margin", margin=0.5))
    assert with_alpha.item() == pytest.approx(expected + 0.005 * (math.exp(1.0) + math.exp(1.3) - 2) / 2, rel=1e-12)


def test_margin_loss_is_shift_invariant_and_matches_finite_differences():
    times = torch.tensor([[1.0, 1.2, 2.0], [1.5, 1.0, 1.3], [0.7, 0.9, 0.8]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, 1])
    loss = spike_time_loss(times, labels, MARGIN)
    assert spike_time_loss(times.detach() + 0.37, labels, MARGIN).item() == pytest.approx(loss.item(), rel=1e-12)
    loss.backward()
    h = 1e-6
    numeric = torch.zeros_like(times)
    for idx in [(b, k) for b in range(3) for k in range(3)]:
        up, down = times.detach().clone(), times.detach().clone()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (spike_time_loss(up, labels, MARGIN) - spike_time_loss(down, labels, MARGIN)) / (2 * h)
    torch.testing.assert_close(times.grad, numeric, rtol=1e-6, atol=1e-9)
    assert times.grad.abs().sum() > 0


def test_margin_loss_with_silent_outputs_is_finite():
    times = torch.tensor([[1.0, INF, INF], [INF, INF, INF], [INF, 1.2, 0.9]], dtype=torch.float64, requires_grad=True)
    loss = spike_time_loss(times, torch.tensor([0, 1, 0]), MARGIN)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(times.grad).all()
    assert (times.grad[torch.isinf(times)] == 0).all()
    # a silent correct output (stand-in at silent_time = 5) pushes the spiking wrong ones later
    assert times.grad[2, 1] < 0 and times.grad[2, 2] < 0
    with pytest.raises(ValueError, match="kind"):
        LossParams(kind="hinge")
