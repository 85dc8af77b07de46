"""RasterView: every spike of the network for the selected sample, and for a whole batch.

Sample raster: one row per neuron (inputs at the bottom, then each hidden layer, outputs on
top), a dot at its spike time; silent neurons have no dot. Batch raster (switch it on): the
same for the first samples of the split, thousands of points, drawn with WebGL (bqplot-gl's
ScatterGL; plain Scatter if bqplot-gl is not installed), coloured by the sample's label.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch

from .decision_map import CLASS_NAMES
from .membrane import class_name
from .view import View, one_thread

try:  # WebGL marks for thousands of points (optional dependency bqplot-gl)
    from bqplot_gl import ScatterGL
except ImportError:  # pragma: no cover - depends on the environment
    ScatterGL = bq.Scatter

T_MAX = 5.0
LAYER_COLORS = ["#555555", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c"]


def raster_points(layer_times) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer, (times, rows) of the spikes of sample 0; rows count up across layers."""
    out, offset = [], 0
    for times in layer_times:
        t = times[0].detach().numpy()
        fired = np.isfinite(t)
        out.append((t[fired], offset + np.flatnonzero(fired)))
        offset += len(t)
    return out


def batch_points(layer_times, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, rows, label) of every spike of a batch, all layers; within its row a spike is
    offset by its sample's position in the batch (0..0.8), so samples form bands."""
    all_t, all_rows, all_labels, offset = [], [], [], 0
    n = len(labels)
    for times in layer_times:
        t = times.detach().numpy()
        sample, neuron = np.nonzero(np.isfinite(t))
        all_t.append(t[sample, neuron])
        all_rows.append(offset + neuron + 0.8 * sample / max(n, 1))
        all_labels.append(np.asarray(labels)[sample])
        offset += t.shape[1]
    return np.concatenate(all_t), np.concatenate(all_rows), np.concatenate(all_labels)


class RasterView(View):
    """``RasterView(state=None, batch_size=100)``: sample raster, plus a batch raster on demand."""

    def __init__(self, state=None, batch_size: int = 100, **kwargs):
        super().__init__(state, **kwargs)
        self.batch_size = batch_size
        x_sc, y_sc = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale(min=-0.5)
        self.layer_marks = []
        self.figure = bq.Figure(
            marks=[], title="spikes of the selected sample",
            axes=[bq.Axis(scale=x_sc, label="time t / τs"),
                  bq.Axis(scale=y_sc, side="left", label="neuron (inputs at the bottom)")],
            fig_margin={"top": 40, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="560px", height="340px"),
        )
        self._scales = {"x": x_sc, "y": y_sc}
        self.figure.add_class("ttfs-raster-figure")
        self.figures["raster"] = self.figure

        bx, by = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale(min=-0.5)
        self.batch = ScatterGL(x=np.zeros(0), y=np.zeros(0), color=np.zeros(0),
                               scales={"x": bx, "y": by, "color": bq.ColorScale(colors=CLASS_COLORS, min=0, max=2)},
                               default_size=4, stroke=None)
        self.batch_figure = bq.Figure(
            marks=[self.batch], title=f"spikes of the first {batch_size} samples (colour = class)",
            axes=[bq.Axis(scale=bx, label="time t / τs"), bq.Axis(scale=by, side="left", label="neuron")],
            fig_margin={"top": 40, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="560px", height="340px"),
        )
        self.batch_figure.add_class("ttfs-batch-raster-figure")
        self.figures["batch_raster"] = self.batch_figure
        self.show_batch = self.add_control("batch", widgets.Checkbox(value=False, description="batch view", indent=False))
        self.readout = widgets.HTML()
        self.legend = widgets.HTML()
        self.legend.add_class("ttfs-raster-legend")
        batch_legend = " ".join(f'<span style="color:{c}">●</span> {n}' for c, n in zip(CLASS_COLORS, CLASS_NAMES))
        self.batch_legend = widgets.HTML(f"colour = the sample's class: {batch_legend}")

        self.show_batch.observe(self.guard(self._on_show_batch), names="value")
        self.state.observe(self.guard(self._on_network), names="network")
        self.state.observe(self.guard(self.redraw), names=["selected", "split", "weights_version", "substrate"])
        self.children = self._children()
        self._build_layer_marks()
        self.guard(self.redraw)()

    def _build_layer_marks(self):
        """One Scatter per layer; rebuilt only when the architecture changes."""
        sizes = self.state.network.sizes
        names = ["input"] + [f"hidden {i}" for i in range(1, len(sizes) - 1)] + ["output"]
        self.layer_marks = [
            bq.Scatter(x=[], y=[], scales=self._scales, colors=[LAYER_COLORS[i % len(LAYER_COLORS)]],
                       default_size=16 if 0 < i < len(sizes) - 1 else 40, labels=[name], display_legend=False)
            for i, name in enumerate(names)
        ]
        self.figure.marks = self.layer_marks
        # The legend sits under the figure (a bqplot legend inside the plot covers spikes).
        self.legend.value = " ".join(
            f'<span style="color:{LAYER_COLORS[i % len(LAYER_COLORS)]}">●</span> {name}' for i, name in enumerate(names)
        ) + " &nbsp; rows: inputs at the bottom, outputs on top (" + ", ".join(
            f"{k} = {n}" for k, n in enumerate(CLASS_NAMES)) + ")"

    def _on_network(self, change):
        if change["old"] is None or change["old"].sizes != change["new"].sizes:
            self._build_layer_marks()

    def _on_show_batch(self, change):
        # Added to / removed from the children rather than hidden: a bqplot figure laid out
        # with zero size draws negative-sized rectangles (console errors in the browser).
        if change["new"]:
            self.redraw_batch()
        self.children = self._children()

    def _children(self):
        figures = [self.figure, self.legend]
        if self.show_batch.value:
            figures += [self.batch_figure, self.batch_legend]
        return [*figures, self.show_batch, self.readout, self.status]

    def redraw(self, change=None):
        _, times, label = self.state.sample()
        with self.state.lock, one_thread():
            layer_times = self.state.layer_times(self.state.network, times[None])
        points = raster_points(layer_times)
        for mark, (t, rows) in zip(self.layer_marks, points):
            with mark.hold_sync():
                mark.x, mark.y = t, rows
        n_spikes = sum(len(t) for t, _ in points)
        n_neurons = sum(lt.shape[1] for lt in layer_times)
        self.readout.value = f"sample {self.state.selected} (class {class_name(label)}): {n_spikes} of {n_neurons} neurons spiked"
        if self.show_batch.value:
            self.redraw_batch()
        self.clear_message()

    def redraw_batch(self):
        _, times, labels = self.state.data(self.state.split)
        times, labels = times[: self.batch_size], labels[: self.batch_size]
        with self.state.lock, torch.no_grad():
            layer_times = self.state.layer_times(self.state.network, times)
        t, rows, label = batch_points(layer_times, labels)
        with self.batch.hold_sync():
            self.batch.x, self.batch.y, self.batch.color = t, rows, label
