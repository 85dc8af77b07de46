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
