"""The neuron page (apps/neuron.ipynb): one neuron's explorer, and the link to it as it is.

    +---------------------------------------------------------------------------------+
    | (a line only when the page's link asked for something it could not have)        |
    | u(t) with the input spikes and the spike T      | dT/dw_i, dT/dt_i (dT/dd_i)     |
    | tau_m / tau_s, delays switch, the (t_i, w_i, d_i) sliders, readout              |
    | SHARE  the link, Copy link                                                      |
    +---------------------------------------------------------------------------------+
"""
from __future__ import annotations

from ..neuron_explorer import NeuronExplorer
from ..share_link import ShareLink
from ..state import LabState
from .layout import Dashboard, column, heading, row


def neuron_page(state: LabState | None = None) -> Dashboard:
    """The neuron explorer over ``state`` (a fresh LabState by default), with its link."""
    state = state if state is not None else LabState()
    explorer, link = NeuronExplorer(state), ShareLink(state, page="neuron")
    share = row([column("share", [heading("Share", "this neuron as a link"), link], width="560px")], name="share")
    return Dashboard(state, {"explorer": explorer, "link": link}, [link.notice, explorer, share], name="neuron")
