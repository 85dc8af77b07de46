"""One neuron with delayed inputs, everything a view draws (no widget code here)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..kernel import membrane_potential
from ..params import NeuronParams
from .core import synaptic_spike_times


@dataclass(frozen=True)
class DelayedResponse:
    arrival: np.ndarray  # t_i + d_i
    potential: np.ndarray  # u on the grid (no reset)
    spike_time: float  # inf if silent
    grad_delays: np.ndarray  # dT/dd_i (0 when silent)
    grad_weights: np.ndarray  # dT/dw_i


def delayed_response(times, weights, delays, params: NeuronParams, grid) -> DelayedResponse:
    """u(t) = sum_i w_i kappa(t - t_i - d_i), its first crossing T and dT/dd_i, dT/dw_i."""
    x = torch.tensor([list(times)], dtype=torch.float64)
    w = torch.tensor(list(weights), dtype=torch.float64)[:, None].requires_grad_()
    d = torch.tensor(list(delays), dtype=torch.float64)[:, None].requires_grad_()
    T = synaptic_spike_times(x, w, d, params)
    if torch.isfinite(T).all():
        gw, gd = torch.autograd.grad(T.sum(), (w, d))
        gw, gd = gw[:, 0].numpy(), gd[:, 0].numpy()
    else:
        gw = gd = np.zeros(len(times))
    arrival = (x[0] + d[:, 0].detach()).numpy()
    grid_t = torch.as_tensor(np.asarray(grid), dtype=torch.float64)
    u = membrane_potential(grid_t, torch.as_tensor(arrival)[None], w.detach(), params)[..., 0].ravel().numpy()
    return DelayedResponse(arrival, u, float(T.item()), gd, gw)
