"""MembraneView: membrane potentials of chosen neurons of the network, for the selected sample.

Each trace is u(t) of one neuron driven by the spikes its layer receives for this sample
(drawn without reset, so you also see what would have happened after the spike); the dashed
line is the threshold and the diamonds are the spike times. Under an emulated chip the
spikes are the measured ones, while the traces stay the ideal neuron's response to the
measured inputs.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ttfs_lab.probe import layer_potentials

from .decision_map import CLASS_NAMES
from .view import View, one_thread

T_MAX = 5.0
GRID = np.linspace(0.0, T_MAX, 401)
PALETTE = bq.CATEGORY10


def class_name(label: int) -> str:
    """0, 1, 2 -> yin, yang, dot (the Yin-Yang classes; the output neuron k stands for class k)."""
    return CLASS_NAMES[label] if 0 <= label < len(CLASS_NAMES) else str(label)


def neuron_name(output: bool, i: int) -> str:
    return f"output {i} ({class_name(i)})" if output else f"hidden {i}"


def parse_indices(text: str) -> list[int]:
    """"0, 2, 5" or "0-3" -> [0, 2, 5] / [0, 1, 2, 3]; ValueError for anything else."""
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(part)])
        except ValueError:
            raise ValueError(f"neurons: {part!r} is not an index or a range like 0-3") from None
    if not out:
        raise ValueError("neurons: choose at least one neuron index, e.g. 0, 1, 2")
    if len(out) > len(PALETTE):
        raise ValueError(f"neurons: show at most {len(PALETTE)} at a time")
    return out


class MembraneView(View):
    """``MembraneView(state=None, layer=None, neurons=None)``; layer 1 = first hidden layer,
    default the output layer with all its neurons."""

    def __init__(self, state=None, layer: int | None = None, neurons=None, **kwargs):
        super().__init__(state, **kwargs)
        n_layers = len(self.state.network.layers)
        layer = n_layers if layer is None else layer
        x_sc, y_sc = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale()
        sc = {"x": x_sc, "y": y_sc}
        self.traces = bq.Lines(x=GRID, y=np.zeros((1, len(GRID))), scales=sc, colors=PALETTE, stroke_width=2,
                               display_legend=True, labels=["0"])
        self.threshold = bq.Lines(x=[0.0, T_MAX], y=[1.0, 1.0], scales=sc, colors=["#d62728"], line_style="dashed",
                                  labels=["threshold ϑ"], display_legend=True)
        self.spikes = bq.Scatter(x=[], y=[], scales=sc, marker="diamond", colors=PALETTE, default_size=90,
                                 stroke="black", stroke_width=0.5, labels=["spike (u reaches ϑ)"], display_legend=True)
        self.figure = bq.Figure(
            marks=[self.traces, self.threshold, self.spikes], title="membrane potentials",
            axes=[bq.Axis(scale=x_sc, label="time t / τs"), bq.Axis(scale=y_sc, side="left", label="u(t)")],
            legend_location="top-left", fig_margin={"top": 40, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="560px", height="340px"),
        )
        self.figure.add_class("ttfs-membrane-figure")
        self.figures["membrane"] = self.figure
        self.layer = self.add_control("layer", widgets.Dropdown(description="layer", layout=widgets.Layout(width="200px")))
        self.neurons = self.add_control("neurons", widgets.Text(description="neurons", layout=widgets.Layout(width="260px"),
                                                                continuous_update=False))
        self._set_layer_options(layer, neurons)
        self.readout = widgets.HTML()
        self.layer.observe(self.guard(self._on_layer), names="value")
        self.neurons.observe(self.guard(self._on_neurons), names="value")
        self.state.observe(self.guard(self._on_network), names="network")
        self.state.observe(self.guard(self.redraw), names=["selected", "split", "weights_version", "substrate"])
        self.children = [self.figure, widgets.HBox([self.layer, self.neurons]), self.readout, self.status]
        self.guard(self.redraw)()

    def _set_layer_options(self, layer, neurons=None):
        n_layers = len(self.state.network.layers)
        names = [(f"hidden {i}", i) for i in range(1, n_layers)] + [("output", n_layers)]
        self.layer.options = names
        self.layer.value = min(max(1, layer), n_layers)
        size = self.state.network.layers[self.layer.value - 1].n_out
        self.neurons.value = ", ".join(str(i) for i in (neurons if neurons is not None else range(min(size, 5))))

    def _on_layer(self, change):
        size = self.state.network.layers[change["new"] - 1].n_out
        text = ", ".join(str(i) for i in range(min(size, 5)))
        if text != self.neurons.value:
            self.neurons.value = text  # its observer redraws
        else:
            self.redraw()

    def _on_neurons(self, change):
        try:
            self.redraw()
        except ValueError:
            self.neurons.value = change["old"]  # a rejected value: back to what is drawn
            raise


    def _on_network(self, change):
        if change["old"] is None or change["old"].sizes != change["new"].sizes:
            self._set_layer_options(self.layer.value)

    def redraw(self, change=None):
        """Traces for the selected sample (core) into the existing marks."""
        neurons = parse_indices(self.neurons.value)
        layer = self.layer.value
        _, times, label = self.state.sample()
        with self.state.lock, one_thread():
            network = self.state.network
            layer_times = self.state.layer_times(network, times[None])
            potentials, spikes = layer_potentials(network, times, layer, neurons, GRID, layer_times=layer_times)
            params = network.params
        fired = np.isfinite(spikes)
        with self.traces.hold_sync(), self.spikes.hold_sync(), self.threshold.hold_sync():
            self.traces.y = potentials.T
            self.traces.labels = [neuron_name(layer == len(network.layers), i) for i in neurons]
            self.threshold.y = [params.threshold] * 2
            self.spikes.x = spikes[fired]
            self.spikes.y = np.full(int(fired.sum()), params.threshold)
            self.spikes.colors = [PALETTE[i] for i in np.flatnonzero(fired)]
        silent = [n for n, f in zip(neurons, fired) if not f]
        text = f"sample {self.state.selected} ({self.state.split}), class {class_name(label)}"
        if silent:
            text += f" · silent: {', '.join(map(str, silent))}"
        self.readout.value = text
        self.clear_message()
        return potentials, spikes
