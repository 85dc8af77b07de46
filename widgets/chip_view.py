"""ChipView: the network as it sits on an emulated BrainScaleS-2.

The heat map is the chip's synapse array: 256 synapse rows by 512 neuron circuits, each
synapse a 6-bit value 0..63 on an excitatory (shown positive, red) or inhibitory (negative,
blue) row; grey = unused. Below: how many neuron circuits the network occupies, and the
emulated hardware time, energy and latency per sample (estimates from the published
figures, see ttfs_lab.hardware.bss2).

If the lab does not run on the emulated chip, the view shows how the network *would* be
mapped onto one with the lab's chip settings.

Only the circuits in use are drawn, and while training runs only the numbers are updated; the
array follows when training pauses. (A full 256 x 512 heat map redrawn at every training
update kept the browser busy long enough to delay a click on "pause" by over a minute.)
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ttfs_lab.hardware import BrainScaleS2
from ttfs_lab.hardware.bss2 import NEURON_CIRCUITS, ROWS_PER_CIRCUIT
from ttfs_lab.probe import synapse_array

from . import substrate as hw_settings
from .view import View, one_thread


class ChipView(View):
    """``ChipView(state=None)``; redraws when the weights or the hardware change."""

    def __init__(self, state=None, **kwargs):
        super().__init__(state, **kwargs)
        self.chip = None
        self.array = None
        self.report = None
        x_sc, y_sc = bq.LinearScale(min=0, max=NEURON_CIRCUITS), bq.LinearScale(min=0, max=ROWS_PER_CIRCUIT)
        self._x_scale = x_sc
        color = bq.ColorScale(scheme="RdBu", min=-63, max=63, reverse=True)
        self.synapses = bq.HeatMap(x=np.arange(NEURON_CIRCUITS) + 0.5, y=np.arange(ROWS_PER_CIRCUIT) + 0.5,
                                   color=np.full((ROWS_PER_CIRCUIT, NEURON_CIRCUITS), np.nan, dtype=np.float32),
                                   scales={"x": x_sc, "y": y_sc, "color": color}, null_color="#eeeeee")
        self.figure = bq.Figure(
            marks=[self.synapses], title="synapse array (6-bit weights; red excitatory, blue inhibitory)",
            axes=[bq.Axis(scale=x_sc, label="neuron circuit (those in use)"),
                  bq.Axis(scale=y_sc, side="left", label="synapse row"),
                  bq.ColorAxis(scale=color, side="right", label="6-bit weight", tick_values=[-63, -32, 0, 32, 63], tick_format="d")],
            padding_x=0, padding_y=0, fig_margin={"top": 40, "bottom": 50, "left": 60, "right": 110},
            layout=widgets.Layout(width="760px", height="360px"),
        )
        self.figure.add_class("ttfs-chip-figure")
        self.figures["chip"] = self.figure
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-chip-readout")
        self.state.observe(self.guard(self.redraw), names=["weights_version", "substrate", "selected", "split"])
        self.state.observe(self.guard(self._on_status), names="status")
        self.children = [self.figure, self.readout, self.status]
        self.guard(self.redraw)()

    def _chip(self):
        """The lab's chip, or one built from its chip settings to show the mapping."""
        if isinstance(self.state.substrate, BrainScaleS2):
            return self.state.substrate, True
        s = hw_settings.complete(self.state.hardware)
        if self.chip is None or (self.chip.chip_id, self.chip.multiplex) != (s["chip_id"], s["multiplex"]):
            self.chip = BrainScaleS2("bss2", chip_id=s["chip_id"], multiplex=s["multiplex"])
        return self.chip, False

    def _on_status(self, change):
        if change["old"] == "running":
            self.redraw()

    def redraw(self, change=None):
        chip, in_use = self._chip()
        _, times, _ = self.state.sample()
        with self.state.lock, one_thread():
            network = self.state.network
            array = synapse_array(chip, network)  # MappingError (a ValueError) if it does not fit
            mapping = chip.map(network)
            output = chip.run(network, times[None])[-1] if in_use else network(times[None]).detach()
        self.array = array
        if self.state.status != "running" or self.synapses.color.shape[1] != mapping.circuits:
            used = array[:, :mapping.circuits]
            with self.synapses.hold_sync():
                self.synapses.x = np.arange(mapping.circuits) + 0.5
                self.synapses.color = used.astype(np.float32)  # half the bytes of float64
            self._x_scale.max = mapping.circuits
        self.report = BrainScaleS2.report(mapping, output)
        r = self.report
        layers = ", ".join(f"layer {i + 1}: {m.n_neurons} × {m.circuits_per_neuron}" for i, m in enumerate(mapping.layers))
        latency = "no output spike" if np.isnan(r.latency_us) else f"first output spike after {r.latency_us:.1f} µs"
        if in_use:
            where = "running on the emulated chip"
        elif self.state.substrate is None:
            where = "the lab runs the ideal model: this is how the network would be mapped"
        else:
            where = "the lab runs its distortions without the chip: this is how the network would be mapped"
        self.readout.value = (
            f"neuron circuits in use: <b>{mapping.circuits} / {NEURON_CIRCUITS}</b> ({layers}) · "
            f"per sample: {r.hardware_time_us:.0f} µs hardware time, {r.energy_uj:.2f} µJ (estimates), {latency}"
            f"<br><i>{where}; chip {chip.chip_id}, inputs sent {chip.multiplex}×</i>"
        )
        self.clear_message()
