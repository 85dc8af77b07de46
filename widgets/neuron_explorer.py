"""NeuronExplorer: one neuron, a handful of input spikes, and what its spike time depends on.

Move an input spike (the triangles) along the time axis with the mouse or the sliders; the
membrane potential, the threshold crossing T and the gradients dT/dw_i, dT/dt_i (bars)
follow. The tau_m / tau_s menu switches between the three regimes of the solver. The numbers
come from ttfs_lab.probe.neuron_response; this module only draws them.

Mouse: click in the plot and the input spike nearest to the mouse follows it along the time
axis; click again to drop it. (bqplot 0.13.1's own point dragging, Scatter(enable_move=True),
throws in the browser -- its handlers read d3.event, which that build never sets -- so the
plot uses an IndexSelector, which works. Setting ``inputs.x`` from a front end where dragging
works is handled too.)
"""
from __future__ import annotations

import math
import time

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ttfs_lab.probe import neuron_response

from .view import View, one_thread

T_MAX = 5.0  # plotted time window, in units of tau_s
TIME_RANGE = (0.0, 4.0)  # where inputs may be placed
WEIGHT_RANGE = (-3.0, 3.0)
GRID = np.linspace(0.0, T_MAX, 501)
ENABLE_MOVE = False  # bqplot 0.13.1's point drag throws in the browser (module docstring)
GRAB_PAUSE = 0.7  # s without mouse updates after which the next one grabs the nearest input
REGIMES = [("1 (τm = τs)", 1.0), ("2 (τm = 2τs)", 2.0), ("1.5 (general)", 1.5)]
COLORS = {"potential": "#1f77b4", "spike": "#d62728", "input": "#555555", "grad_w": "#2ca02c", "grad_t": "#9467bd"}


class NeuronExplorer(View):
    """``NeuronExplorer(state=None)``; the neuron's inputs live in state.neuron_times / _weights.

    Marks (in this order, which the browser tests rely on): potential, threshold,
    inputs (draggable), spike_line, spike.
    """

    def __init__(self, state=None, **kwargs):
        super().__init__(state, **kwargs)
        self._drawing = False
        self.response = None
        self._build_figure()
        self._build_gradient_figure()
        self.ratio = self.add_control("ratio", widgets.Dropdown(
            description="τm / τs", options=list(REGIMES), layout=widgets.Layout(width="300px")))
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-readout")
        self.rows = widgets.VBox()
        self.ratio.observe(self.guard(self._on_ratio), names="value")
        self.inputs.observe(self.guard(self._on_drag), names="x")
        self.selector.observe(self.guard(self._on_mouse), names="selected")
        self._grabbed, self._last_mouse = None, -math.inf
        self.state.observe(self.guard(self._on_state), names=["neuron_times", "neuron_weights", "tau_ratio"])
        self._build_rows()
        controls = widgets.VBox([
            self.ratio,
            widgets.HTML("input spike times t<sub>i</sub> (τ<sub>s</sub>) and weights w<sub>i</sub> "
                         "(or click in the plot: the nearest triangle follows the mouse; click again to drop it)"),
            self.rows, self.readout, self.status,
        ])
        self.children = [widgets.HBox([self.figure, self.gradient_figure]), controls]
        self._sync_ratio()
        self.redraw()

    # ------------------------------------------------------------ building
    def _build_figure(self):
        x_sc, y_sc = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale()
        sc = {"x": x_sc, "y": y_sc}
        self.potential = bq.Lines(x=GRID, y=np.zeros_like(GRID), scales=sc, colors=[COLORS["potential"]], stroke_width=2.5)
        self.threshold = bq.Lines(x=[0.0, T_MAX], y=[1.0, 1.0], scales=sc, colors=[COLORS["spike"]], line_style="dashed",
                                  labels=["threshold ϑ"], display_legend=True)
        self.inputs = bq.Scatter(x=[0.0], y=[0.0], scales=sc, marker="triangle-up", colors=[COLORS["input"]],
                                 display_names=True, default_size=120, enable_move=ENABLE_MOVE, restrict_x=True,
                                 update_on_move=True)
        self.spike_line = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], scales=sc, colors=[COLORS["spike"]], stroke_width=1)
        self.spike = bq.Scatter(x=[0.0], y=[1.0], scales=sc, marker="diamond", colors=[COLORS["spike"]], default_size=120,
                                labels=["output spike at T"], display_legend=True)
        self.selector = bq.interacts.IndexSelector(scale=x_sc, marks=[self.inputs], line_width=1, color="#999999")
        self.figure = bq.Figure(
            marks=[self.potential, self.threshold, self.inputs, self.spike_line, self.spike], interaction=self.selector,
            axes=[bq.Axis(scale=x_sc, label="time t / τs"), bq.Axis(scale=y_sc, side="left", label="u(t)")],
            fig_margin={"top": 20, "bottom": 50, "left": 60, "right": 20}, legend_location="top-right",
            layout=widgets.Layout(width="560px", height="380px"),
        )
        self.figure.add_class("ttfs-potential-figure")
        self.figures["potential"] = self.figure

    def _build_gradient_figure(self):
        """Two bar charts, dT/dw_i and dT/dt_i (bqplot 0.13's grouped 2-D Bars draw nothing)."""
        self.grad_w_bars, self.grad_t_bars, figures = None, None, []
        for name, label in (("grad_w", "∂T/∂wᵢ"), ("grad_t", "∂T/∂tᵢ")):
            x_sc, y_sc = bq.OrdinalScale(), bq.LinearScale()
            bars = bq.Bars(x=["1"], y=[0.0], scales={"x": x_sc, "y": y_sc}, colors=[COLORS[name]])
            figures.append(bq.Figure(
                marks=[bars], title=label,
                axes=[bq.Axis(scale=x_sc, label="input i"),
                      bq.Axis(scale=y_sc, side="left", tick_format=".2f", num_ticks=5)],
                fig_margin={"top": 35, "bottom": 40, "left": 60, "right": 10},
                layout=widgets.Layout(width="300px", height="190px"),
            ))
            setattr(self, f"{name}_bars", bars)
        self.gradient_figure = widgets.VBox(figures)
        self.gradient_figure.add_class("ttfs-gradient-figure")
        self.figures["grad_w"], self.figures["grad_t"] = figures

    def _build_rows(self):
        """One (time slider, weight slider) row per input; rebuilt if the count changes."""
        self.time_sliders, self.weight_sliders = [], []
        for i, (t, w) in enumerate(zip(self.state.neuron_times, self.state.neuron_weights)):
            self.time_sliders.append(self._slider("t", i, t, TIME_RANGE))
            self.weight_sliders.append(self._slider("w", i, w, WEIGHT_RANGE))
        self.rows.children = [widgets.HBox([t, w]) for t, w in zip(self.time_sliders, self.weight_sliders)]
        names = [str(i + 1) for i in range(len(self.time_sliders))]
        with self.inputs.hold_sync(), self.grad_w_bars.hold_sync(), self.grad_t_bars.hold_sync():
            self.inputs.names = names
            self.grad_w_bars.x = self.grad_t_bars.x = names

    def _slider(self, kind, i, value, bounds):
        s = widgets.FloatSlider(value=value, min=bounds[0], max=bounds[1], step=0.01, description=f"{kind}{i + 1}",
                                readout_format=".2f", style={"description_width": "2em"},
                                layout=widgets.Layout(width="300px"))
        s.add_class(f"ttfs-{kind}{i}")  # stable hooks for the browser tests
        s.observe(self.guard(self._on_slider), names="value")
        return s

    # ------------------------------------------------------------ user actions -> state
    def _on_slider(self, change):
        if self._drawing:
            return
        self.state.neuron_times = [s.value for s in self.time_sliders]
        self.state.neuron_weights = [s.value for s in self.weight_sliders]

    def _on_drag(self, change):
        if self._drawing:
            return
        x = np.asarray(change["new"], dtype=np.float64)
        if x.shape != (len(self.state.neuron_times),) or not np.isfinite(x).all():
            self.redraw()  # put the marks back where the state says
            raise ValueError("an input spike must stay a finite point on the time axis")
        self.state.neuron_times = np.clip(x, *TIME_RANGE).tolist()

    def _on_mouse(self, change):
        """The IndexSelector's x (while it follows the mouse): the grabbed input goes there.
        After a pause in the updates (the user clicked again, then elsewhere) the input
        nearest to the mouse is grabbed anew."""
        if change["new"] is None or len(change["new"]) == 0:
            return
        x = float(np.asarray(change["new"])[0])
        if not math.isfinite(x):
            raise ValueError("the mouse position is not a number")
        now = time.monotonic()
        times = list(self.state.neuron_times)
        if self._grabbed is None or now - self._last_mouse > GRAB_PAUSE or self._grabbed >= len(times):
            self._grabbed = int(np.argmin(np.abs(np.asarray(times) - x)))
        self._last_mouse = now
        times[self._grabbed] = float(np.clip(x, *TIME_RANGE))
        self.state.neuron_times = times

    def _on_ratio(self, change):
        if not self._drawing:
            self.state.tau_ratio = change["new"]

    def _on_state(self, change):
        if len(self.state.neuron_times) != len(self.state.neuron_weights):
            return  # mid-way through a change of the input count; the second change redraws
        if len(self.state.neuron_times) != len(self.time_sliders):
            self._build_rows()
        self._sync_ratio()
        self.redraw()

    def _sync_ratio(self):
        ratio = self.state.tau_ratio
        self._drawing = True
        try:
            if ratio not in [v for _, v in self.ratio.options]:
                self.ratio.options = list(REGIMES) + [(f"{ratio:g} (set by the lab)", ratio)]
            self.ratio.value = ratio
        finally:
            self._drawing = False

    # ------------------------------------------------------------ state -> marks
    def redraw(self):
        """Recompute the neuron (core) and move the existing marks; the figure stays."""
        params = self.state.params
        times, weights = self.state.neuron_times, self.state.neuron_weights
        with one_thread():
            r = neuron_response(times, weights, params, GRID)
        self.response = r
        fired = math.isfinite(r.spike_time)
        self._drawing = True
        try:
            for slider, value in zip(self.time_sliders + self.weight_sliders, times + weights):
                slider.value = value
            with self.potential.hold_sync(), self.inputs.hold_sync(), self.spike.hold_sync(), \
                    self.spike_line.hold_sync(), self.threshold.hold_sync():
                self.potential.y = r.potential
                self.threshold.y = [params.threshold, params.threshold]
                self.inputs.x, self.inputs.y = np.asarray(times), np.full(len(times), params.e_leak)
                self.spike.visible = self.spike_line.visible = fired
                if fired:
                    self.spike.x, self.spike.y = [r.spike_time], [params.threshold]
                    self.spike_line.x, self.spike_line.y = [r.spike_time] * 2, [params.e_leak, params.threshold]
            with self.grad_w_bars.hold_sync(), self.grad_t_bars.hold_sync():
                self.grad_w_bars.y, self.grad_t_bars.y = r.grad_weights, r.grad_times
        finally:
            self._drawing = False
        self.readout.value = f"<b>spike time T = {r.spike_time:.3f} τ<sub>s</sub></b>" if fired else "<b>no spike</b>"
        self.figures["grad_w"].title = "∂T/∂wᵢ" if fired else "silent: no gradient to learn from"
        self.clear_message()
