"""DelayExplorer: one neuron whose inputs have a time t_i, a weight w_i and a delay d_i.

Sliders per input (t, w, d >= 0); the plot shows the membrane potential over the *arrival*
times t_i + d_i (triangles) and the spike T; the bar chart shows the exact dT/dd_i. Numbers
come from ttfs_lab.delays.probe.delayed_response; this module only draws them.
"""
from __future__ import annotations

import math

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ttfs_lab import NeuronParams
from ttfs_lab.delays.probe import delayed_response

T_MAX = 7.0
GRID = np.linspace(0.0, T_MAX, 501)
RANGES = {"t": (0.0, 4.0), "w": (-3.0, 3.0), "d": (0.0, 3.0)}


class DelayExplorer(widgets.VBox):
    """``DelayExplorer(times, weights, delays)``: the two-input coincidence detector by default."""

    def __init__(self, times=(0.0, 2.0), weights=(1.6, 1.6), delays=(0.0, 0.0), params=NeuronParams(), **kwargs):
        super().__init__(**kwargs)
        if not len(times) == len(weights) == len(delays) >= 1:
            raise ValueError("times, weights and delays need one entry per input")
        self.params = params
        x_sc, y_sc = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale()
        sc = {"x": x_sc, "y": y_sc}
        self.potential = bq.Lines(x=GRID, y=np.zeros_like(GRID), scales=sc, colors=["#1f77b4"], stroke_width=2.5)
        self.threshold = bq.Lines(x=[0, T_MAX], y=[params.threshold] * 2, scales=sc, colors=["#d62728"], line_style="dashed")
        self.arrivals = bq.Scatter(x=[0.0], y=[0.0], scales=sc, marker="triangle-up", colors=["#555555"], default_size=120)
        self.spike = bq.Scatter(x=[0.0], y=[params.threshold], scales=sc, marker="diamond", colors=["#d62728"], default_size=120)
        self.figure = bq.Figure(marks=[self.potential, self.threshold, self.arrivals, self.spike],
                                axes=[bq.Axis(scale=x_sc, label="arrival time t + d / τs"),
                                      bq.Axis(scale=y_sc, side="left", label="u(t)")],
                                layout=widgets.Layout(width="520px", height="340px"))
        bx, by = bq.OrdinalScale(), bq.LinearScale()
        names = [str(i + 1) for i in range(len(times))]
        self.bars = bq.Bars(x=names, y=np.zeros(len(names)), scales={"x": bx, "y": by}, colors=["#ff7f0e"])
        self.bar_figure = bq.Figure(marks=[self.bars], title="∂T/∂dᵢ",
                                    axes=[bq.Axis(scale=bx, label="input i"), bq.Axis(scale=by, side="left", tick_format=".2f")],
                                    layout=widgets.Layout(width="300px", height="240px"))
        self.sliders = {k: [widgets.FloatSlider(value=float(v), min=RANGES[k][0], max=RANGES[k][1], step=0.01,
                                                description=f"{k}{i + 1}", layout=widgets.Layout(width="260px"))
                            for i, v in enumerate(values)]
                        for k, values in (("t", times), ("w", weights), ("d", delays))}
        for group in self.sliders.values():
            for s in group:
                s.observe(self._changed, names="value")
        self.readout = widgets.HTML()
        rows = [widgets.HBox([self.sliders[k][i] for k in "twd"]) for i in range(len(times))]
        self.children = [widgets.HBox([self.figure, self.bar_figure]), *rows, self.readout]
        self.redraw()

    def _changed(self, change):
        self.redraw()

    def values(self, kind):
        return [s.value for s in self.sliders[kind]]

    def redraw(self):
        r = delayed_response(self.values("t"), self.values("w"), self.values("d"), self.params, GRID)
        self.response = r
        fired = math.isfinite(r.spike_time)
        with self.potential.hold_sync(), self.arrivals.hold_sync(), self.spike.hold_sync():
            self.potential.y = r.potential
            self.arrivals.x, self.arrivals.y = r.arrival, np.full(len(r.arrival), self.params.e_leak)
            self.spike.visible = fired
            if fired:
                self.spike.x = [r.spike_time]
        self.bars.y = r.grad_delays
        self.bar_figure.title = "∂T/∂dᵢ" if fired else "silent: no gradient"
        self.readout.value = f"<b>spike time T = {r.spike_time:.3f} τ<sub>s</sub></b>" if fired else "<b>no spike</b>"
