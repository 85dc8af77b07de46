"""NeuronExplorer: one neuron, a handful of input spikes, and what its spike time depends on.

Move an input spike (the triangles) along the time axis with the mouse or the sliders; the
membrane potential, the threshold crossing T and the gradients dT/dw_i, dT/dt_i (bars)
follow. The tau_m / tau_s menu switches between the three regimes of the solver. The numbers
come from ttfs_lab.probe.neuron_response; this module only draws them.

The "delays" switch gives every input a transmission delay d_i >= 0 (a slider each): input i
is sent at t_i (hollow circle) and arrives at t_i + d_i (triangle), and a third bar chart
shows dT/dd_i, from ttfs_lab.delays.probe.delayed_response (the delays core). Since only the
arrival time enters u(t), dT/dd_i = dT/dt_i; the difference is that a network can learn d_i,
never the input time t_i.

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

from ttfs_lab.delays.probe import delayed_response
from ttfs_lab.probe import neuron_response

from .view import View, one_thread

T_MAX = 5.0  # plotted time window, in units of tau_s
TIME_RANGE = (0.0, 4.0)  # where inputs may be placed
WEIGHT_RANGE = (-3.0, 3.0)
DELAY_RANGE = (0.0, 3.0)
GRID = np.linspace(0.0, T_MAX, 501)
ENABLE_MOVE = False  # bqplot 0.13.1's point drag throws in the browser (module docstring)
GRAB_PAUSE = 0.7  # s without mouse updates after which the next one grabs the nearest input
REGIMES = [("1 (τm = τs)", 1.0), ("2 (τm = 2τs)", 2.0), ("1.5 (general)", 1.5)]
COLORS = {"potential": "#1f77b4", "spike": "#d62728", "input": "#555555", "grad_w": "#2ca02c", "grad_t": "#9467bd",
          "grad_d": "#ff7f0e"}


class NeuronExplorer(View):
    """``NeuronExplorer(state=None)``; the neuron's inputs live in state.neuron_times / _weights.

    Marks (in this order, which the browser tests rely on): potential, threshold, its label,
    the spike's label, inputs (draggable; at the arrival times t_i + d_i), sent (the send
    times t_i, shown with delays on), spike_line, spike.
    """

    def __init__(self, state=None, **kwargs):
        super().__init__(state, **kwargs)
        self._drawing = False
        self.response = None
        self._build_figure()
        self._build_gradient_figure()
        self.ratio = self.add_control("ratio", widgets.Dropdown(
            description="τm / τs", options=list(REGIMES), layout=widgets.Layout(width="300px")))
        self.delays_switch = self.add_control("delays", widgets.Checkbox(
            value=any(d > 0 for d in self.state.neuron_delays), description="delays dᵢ",
            tooltip="give each input a transmission delay d_i >= 0: sent at t_i, it arrives at t_i + d_i",
            indent=False, layout=widgets.Layout(width="120px")))
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-readout")
        self.rows = widgets.VBox()
        self.ratio.observe(self.guard(self._on_ratio), names="value")
        self.delays_switch.observe(self.guard(self._on_delays_switch), names="value")
        self.inputs.observe(self.guard(self._on_drag), names="x")
        self.selector.observe(self.guard(self._on_mouse), names="selected")
        self._grabbed, self._last_mouse = None, -math.inf
        self.state.observe(self.guard(self._on_state), names=["neuron_times", "neuron_weights", "neuron_delays", "tau_ratio"])
        self._build_rows()
        controls = widgets.VBox([
            widgets.HBox([self.ratio, self.delays_switch]),
            widgets.HTML("input spike times t<sub>i</sub> (τ<sub>s</sub>), weights w<sub>i</sub> and, with delays on, "
                         "delays d<sub>i</sub> (τ<sub>s</sub>) (or click in the plot: the nearest triangle follows "
                         "the mouse; click again to drop it)"),
            self.rows, self.readout, self.status,
        ])
        self.top = widgets.HBox([self.figure, self.gradient_figure])
        self.children = [self.top, controls]
        self._show_delays()
        self._sync_ratio()
        self.redraw()

    # ------------------------------------------------------------ building
    def _build_figure(self):
        x_sc, y_sc = bq.LinearScale(min=0.0, max=T_MAX), bq.LinearScale()
        sc = {"x": x_sc, "y": y_sc}
        self.potential = bq.Lines(x=GRID, y=np.zeros_like(GRID), scales=sc, colors=[COLORS["potential"]], stroke_width=2.5)
        self.threshold = bq.Lines(x=[0.0, T_MAX], y=[1.0, 1.0], scales=sc, colors=[COLORS["spike"]], line_style="dashed")
        # Names written on the plot next to what they name (a legend box would cover the curve).
        self.threshold_label = bq.Label(x=[T_MAX], y=[1.0], scales=sc, text=["threshold ϑ"], colors=[COLORS["spike"]],
                                        align="end", x_offset=-4, y_offset=-6, default_size=13)
        self.spike_label = bq.Label(x=[0.0], y=[1.0], scales=sc, text=["spike at T"], colors=[COLORS["spike"]],
                                    align="start", x_offset=9, y_offset=16, default_size=13)
        self.inputs = bq.Scatter(x=[0.0], y=[0.0], scales=sc, marker="triangle-up", colors=[COLORS["input"]],
                                 display_names=True, default_size=120, enable_move=ENABLE_MOVE, restrict_x=True,
                                 update_on_move=True)
        self.spike_line = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], scales=sc, colors=[COLORS["spike"]], stroke_width=1)
        self.spike = bq.Scatter(x=[0.0], y=[1.0], scales=sc, marker="diamond", colors=[COLORS["spike"]], default_size=120)
        self.sent = bq.Scatter(x=[0.0], y=[0.0], scales=sc, marker="circle", colors=[COLORS["input"]], fill=False,
                               default_size=70, visible=False)
        self.selector = bq.interacts.IndexSelector(scale=x_sc, marks=[self.inputs], line_width=1, color="#999999")
        self.figure = bq.Figure(
            marks=[self.potential, self.threshold, self.threshold_label, self.spike_label, self.inputs, self.sent,
                   self.spike_line, self.spike], interaction=self.selector,
            axes=[bq.Axis(scale=x_sc, label="time t / τs"),
                  bq.Axis(scale=y_sc, side="left", label=f"u(t) (threshold ϑ = {self.state.params.threshold:g})")],
            fig_margin={"top": 20, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="560px", height="380px"),
        )
        self.figure.add_class("ttfs-potential-figure")
        self.figures["potential"] = self.figure

    def _build_gradient_figure(self):
        """Bar charts dT/dw_i, dT/dt_i and (delays on) dT/dd_i; bqplot 0.13's grouped 2-D Bars
        draw nothing, hence one chart each."""
        self.grad_w_bars, self.grad_t_bars, self.grad_d_bars, figures = None, None, None, []
        # y: T in tau_s per unit of w_i, t_i or d_i (the latter two are times: tau_s per tau_s).
        # The title needs a top margin of 2 x its ~20 px line, or bqplot draws it into the bars.
        for name, label, unit in (("grad_w", "∂T/∂wᵢ", "τs per unit w"), ("grad_t", "∂T/∂tᵢ", "τs per τs"),
                                  ("grad_d", "∂T/∂dᵢ", "τs per τs")):
            x_sc, y_sc = bq.OrdinalScale(), bq.LinearScale()
            bars = bq.Bars(x=["1"], y=[0.0], scales={"x": x_sc, "y": y_sc}, colors=[COLORS[name]])
            figures.append(bq.Figure(
                marks=[bars], title=label,
                axes=[bq.Axis(scale=x_sc, label="input i"),
                      bq.Axis(scale=y_sc, side="left", tick_format=".2f", num_ticks=5, label=unit,
                              label_offset="42px")],
                fig_margin={"top": 44, "bottom": 40, "left": 60, "right": 10},
                layout=widgets.Layout(width="300px", height="190px"),
            ))
            setattr(self, f"{name}_bars", bars)
        # The dT/dd chart is a column of its own, there only while delays are on: a bqplot
        # figure rendered while hidden (display: none) gets a negative width and logs errors.
        self.gradient_figure = widgets.VBox(figures[:2])
        self.delay_gradient = widgets.VBox([figures[2], widgets.HTML(
            "<small>= ∂T/∂t<sub>i</sub>: only the arrival t<sub>i</sub> + d<sub>i</sub> enters u(t).<br>"
            "The difference: a network can learn d<sub>i</sub>, never t<sub>i</sub>.</small>",
            layout=widgets.Layout(width="290px", padding="0 0 0 10px"))])
        self.delay_gradient.add_class("ttfs-delay-gradient")
        self.gradient_figure.add_class("ttfs-gradient-figure")
        self.figures["grad_w"], self.figures["grad_t"], self.figures["grad_d"] = figures

    def _build_rows(self):
        """One (time, weight, delay) slider row per input; rebuilt if the count changes."""
        self.time_sliders, self.weight_sliders, self.delay_sliders = [], [], []
        for i, (t, w, d) in enumerate(zip(self.state.neuron_times, self.state.neuron_weights, self.delays())):
            self.time_sliders.append(self._slider("t", i, t, TIME_RANGE))
            self.weight_sliders.append(self._slider("w", i, w, WEIGHT_RANGE))
            self.delay_sliders.append(self._slider("d", i, d, DELAY_RANGE, width="200px"))
        self.rows.children = [widgets.HBox(row) for row in zip(self.time_sliders, self.weight_sliders, self.delay_sliders)]
        self._show_delays()
        names = [str(i + 1) for i in range(len(self.time_sliders))]
        with self.inputs.hold_sync(), self.grad_w_bars.hold_sync(), self.grad_t_bars.hold_sync(), \
                self.grad_d_bars.hold_sync():
            self.inputs.names = names
            self.grad_w_bars.x = self.grad_t_bars.x = self.grad_d_bars.x = names

    def delays(self) -> list[float]:
        """The state's delays, one per input (missing entries are 0)."""
        d = list(self.state.neuron_delays)[: len(self.state.neuron_times)]
        return d + [0.0] * (len(self.state.neuron_times) - len(d))

    def arrivals(self) -> np.ndarray:
        """Where the inputs reach the neuron: t_i + d_i (t_i without delays)."""
        times = np.asarray(self.state.neuron_times, dtype=np.float64)
        return times + np.asarray(self.delays()) if self.delays_switch.value else times

    def _show_delays(self):
        on = self.delays_switch.value
        for s in self.delay_sliders:
            s.layout.display = None if on else "none"
        if hasattr(self, "top"):
            self.top.children = (self.figure, self.gradient_figure, *([self.delay_gradient] if on else []))

    def _slider(self, kind, i, value, bounds, width="300px"):
        s = widgets.FloatSlider(value=value, min=bounds[0], max=bounds[1], step=0.01, description=f"{kind}{i + 1}",
                                readout_format=".2f", style={"description_width": "2em"},
                                layout=widgets.Layout(width=width))
        s.add_class(f"ttfs-{kind}{i}")  # stable hooks for the browser tests
        s.observe(self.guard(self._on_slider), names="value")
        return s

    # ------------------------------------------------------------ user actions -> state
    def _on_slider(self, change):
        if self._drawing:
            return
        self.state.neuron_times = [s.value for s in self.time_sliders]
        self.state.neuron_weights = [s.value for s in self.weight_sliders]
        if self.delays_switch.value:
            self.state.neuron_delays = [s.value for s in self.delay_sliders]

    def _on_delays_switch(self, change):
        if self._drawing:
            return
        self._show_delays()
        if not change["new"]:
            self.state.neuron_delays = []  # off means none: the neuron of the lessons before delays
        self.redraw()

    def _on_drag(self, change):
        if self._drawing:
            return
        x = np.asarray(change["new"], dtype=np.float64)
        if x.shape != (len(self.state.neuron_times),) or not np.isfinite(x).all():
            self.redraw()  # put the marks back where the state says
            raise ValueError("an input spike must stay a finite point on the time axis")
        # the triangles sit at the arrival times; the state keeps the send times
        self.state.neuron_times = np.clip(x - (self.arrivals() - self.state.neuron_times), *TIME_RANGE).tolist()

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
        times, arrivals = list(self.state.neuron_times), self.arrivals()
        if self._grabbed is None or now - self._last_mouse > GRAB_PAUSE or self._grabbed >= len(times):
            self._grabbed = int(np.argmin(np.abs(arrivals - x)))
        self._last_mouse = now
        delay = arrivals[self._grabbed] - times[self._grabbed]
        times[self._grabbed] = float(np.clip(x - delay, *TIME_RANGE))
        self.state.neuron_times = times

    def _on_ratio(self, change):
        if not self._drawing:
            self.state.tau_ratio = change["new"]

    def _on_state(self, change):
        if len(self.state.neuron_times) != len(self.state.neuron_weights):
            return  # mid-way through a change of the input count; the second change redraws
        if len(self.state.neuron_times) != len(self.time_sliders):
            self._build_rows()
        if any(d > 0 for d in self.state.neuron_delays) and not self.delays_switch.value:
            self._drawing = True  # delays set by a lesson or a restored state: show them
            try:
                self.delays_switch.value = True
            finally:
                self._drawing = False
            self._show_delays()
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
        times, weights, delays = self.state.neuron_times, self.state.neuron_weights, self.delays()
        with_delays = self.delays_switch.value
        with one_thread():
            if with_delays:
                r = delayed_response(times, weights, delays, params, GRID)
                self.response = r
                grad_times = r.grad_delays  # only t_i + d_i enters u(t): dT/dt_i = dT/dd_i
            else:
                r = neuron_response(times, weights, params, GRID)
                self.response = r
                grad_times = r.grad_times
        arrivals = self.arrivals()
        fired = math.isfinite(r.spike_time)
        self._drawing = True
        try:
            for slider, value in zip(self.time_sliders + self.weight_sliders + self.delay_sliders,
                                     times + weights + delays):
                slider.value = value
            with self.potential.hold_sync(), self.inputs.hold_sync(), self.spike.hold_sync(), \
                    self.spike_line.hold_sync(), self.threshold.hold_sync():
                self.potential.y = r.potential
                self.threshold.y = [params.threshold, params.threshold]
                self.inputs.x, self.inputs.y = arrivals, np.full(len(times), params.e_leak)
                self.sent.visible = with_delays
                if with_delays:
                    self.sent.x, self.sent.y = np.asarray(times), np.full(len(times), params.e_leak)
                self.spike.visible = self.spike_line.visible = self.spike_label.visible = fired
                self.threshold_label.y = [params.threshold]
                if fired:
                    self.spike.x, self.spike.y = [r.spike_time], [params.threshold]
                    self.spike_label.x, self.spike_label.y = [r.spike_time], [params.threshold]
                    self.spike_label.text = [f"spike at T = {r.spike_time:.2f}"]
                    self.spike_line.x, self.spike_line.y = [r.spike_time] * 2, [params.e_leak, params.threshold]
            with self.grad_w_bars.hold_sync(), self.grad_t_bars.hold_sync(), self.grad_d_bars.hold_sync():
                self.grad_w_bars.y, self.grad_t_bars.y = r.grad_weights, grad_times
                self.grad_d_bars.y = r.grad_delays if with_delays else np.zeros(len(times))
        finally:
            self._drawing = False
        self.readout.value = f"<b>spike time T = {r.spike_time:.3f} τ<sub>s</sub></b>" if fired else "<b>no spike</b>"
        self.figures["grad_w"].title = "∂T/∂wᵢ" if fired else "silent: no gradient to learn from"
        self.figures["grad_d"].title = "∂T/∂dᵢ" if fired else "silent: no gradient"
        self.clear_message()
