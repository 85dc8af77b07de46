"""DelayExplorer draws what the core computes; sliders move arrivals, T and dT/dd."""
import math

import numpy as np
import torch

from ttfs_lab import NeuronParams
from ttfs_lab.delays import synaptic_spike_times
from ttfs_lab.widgets.delay_explorer import DelayExplorer


def test_delay_slider_makes_the_coincidence_and_bars_show_dT_dd():
    view = DelayExplorer()  # inputs at 0 and 2, too weak apart
    assert math.isinf(view.response.spike_time) and not view.spike.visible
    assert np.array_equal(view.bars.y, [0.0, 0.0])
    view.sliders["d"][0].value = 1.7
    r = view.response
    assert view.spike.visible and np.allclose(view.arrivals.x, [1.7, 2.0])
    x = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    d = torch.tensor([[1.7], [0.0]], dtype=torch.float64, requires_grad=True)
    T = synaptic_spike_times(x, torch.full((2, 1), 1.6, dtype=torch.float64), d, NeuronParams())
    T.sum().backward()
    assert r.spike_time == float(T) and np.allclose(view.bars.y, d.grad[:, 0].numpy())
