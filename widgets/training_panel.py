"""TrainingPanel: play / pause / step / reset, the training settings, live loss and accuracy.

Training runs in a background thread (widgets.runner.TrainingRunner); the other views of the
same LabState (decision map, rasters, membranes) redraw while it runs, throttled so that
drawing costs training at most about 20 %.
"""
from __future__ import annotations

import math

import bqplot as bq
import ipywidgets as widgets

from .runner import TrainingRunner
from .view import View


# The loss and accuracy curves show at most this many points: every live redraw sends the
# whole curve to the page, and a page that redraws a curve of every batch (thousands after a
# few minutes) falls behind: in a classroom of 5 on 2 cores, control -> redraw latency grew
# from 0.2 s to 15 s over one minute of training (benchmarks/classroom.py).
CURVE_POINTS = 400


def thin_curve(x, y, max_points: int = CURVE_POINTS) -> tuple[list, list]:
    """At most ``max_points`` points of the curve (x, y): the means of blocks of k = ceil(n /
    max_points) consecutive points, at the block's last x (the last block may be shorter).
    NaN values (a diverged batch) stay NaN in their block's mean, so a divergence still shows."""
    n = len(x)
    if len(y) != n:
        raise ValueError(f"a curve needs as many x as y values, got {n} and {len(y)}")
    if n <= max_points:
        return list(x), list(y)
    k = -(-n // max_points)
    starts = range(0, n, k)
    return ([x[min(i + k, n) - 1] for i in starts],
            [sum(y[i:i + k]) / len(y[i:i + k]) for i in starts])


def parse_hidden(text: str) -> list[int]:
    """"120" or "64, 32" -> [120] / [64, 32]."""
    try:
        sizes = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"hidden layers: {text!r} is not a list of sizes like 120 or 64, 32") from None
    if not sizes:
        raise ValueError("hidden layers: give at least one size, e.g. 120")
    return sizes


# The choices of the settings menus (bounded, so no value can be typed that the state rejects).
# A value the state holds that is not listed (a loaded lab, a lesson's choice) is added.
LEARNING_RATES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
EPOCHS = (1, 2, 5, 10, 20, 50, 100, 300, 1000)
BATCH_SIZES = (10, 25, 50, 100, 150, 300, 500)
HIDDEN = ("30", "60", "120", "200", "60, 60", "120, 60")
SEEDS = tuple(range(10))
# Settings that rebuild the network: locked while training runs (LabState refuses them).
LOCKED_WHILE_RUNNING = ("hidden", "seed")


def _button(description, icon, tooltip):
    return widgets.Button(description=description, icon=icon, tooltip=tooltip, layout=widgets.Layout(width="78px"))


def _menu(description, choices, tooltip, width="150px"):
    return widgets.Dropdown(options=list(choices), description=description, tooltip=tooltip,
                            style={"description_width": "initial"}, layout=widgets.Layout(width=width))


def _with_choice(menu, value):
    """Make sure the state's value is one of the menu's options (options stay sorted)."""
    options = list(menu.options)
    labels = [o[0] if isinstance(o, tuple) else o for o in options]
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    if value not in values:
        menu.options = sorted(zip(labels + [str(value)], values + [value]), key=lambda o: _sort_key(o[1]))
    return value


def _sort_key(value):
    return [int(v) for v in value.split(",")] if isinstance(value, str) else value


class TrainingPanel(View):
    """``TrainingPanel(state=None, runner=None)``; ``panel.runner`` trains in the background.

    Its parts, for dashboards that lay them out apart (widgets.dashboards): ``transport``
    (play, pause, step, reset), ``settings`` (the menus), ``curves`` (loss and accuracy),
    ``readout`` and ``status``.
    """

    def __init__(self, state=None, runner: TrainingRunner | None = None, **kwargs):
        super().__init__(state, **kwargs)
        self.runner = runner if runner is not None else TrainingRunner.for_state(self.state)
        self.buttons = {
            "play": _button("Play", "play", "train in the background"),
            "pause": _button("Pause", "pause", "stop after the current batch"),
            "step": _button("Step", "step-forward", "train one batch"),
            "reset": _button("Reset", "refresh", "back to the network this lab started with"),
        }
        for name, button in self.buttons.items():
            self.add_control(name, button)
            button.on_click(self.guard(getattr(self, f"on_{name}")))
        menus = {
            "lr": _menu("learning rate", [(f"{v:g}", v) for v in LEARNING_RATES], "Adam's step size", "158px"),
            "epochs": _menu("epochs", EPOCHS, "passes over the training set Play runs to", "112px"),
            "batch_size": _menu("batch", BATCH_SIZES, "samples per training step", "102px"),
            "hidden": _menu("hidden", HIDDEN, "neurons per hidden layer (a new network)", "128px"),
            "seed": _menu("seed", SEEDS, "random seed of the initial weights (a new network)", "88px"),
        }
        self._tooltips = {name: menu.tooltip for name, menu in menus.items()}
        for name, menu in menus.items():
            if name == "hidden":
                self.bind(name, menu, name, parse=parse_hidden,
                          show=lambda sizes, m=menu: _with_choice(m, ", ".join(map(str, sizes))))
            else:
                self.bind(name, menu, name, show=lambda v, m=menu: _with_choice(m, v))
        self._build_curves()
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-training-readout")
        self.state.observe(self.guard(self._on_history), names="history")
        self.state.observe(self.guard(self._on_status), names="status")
        self.transport = widgets.HBox(list(self.buttons.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.settings = widgets.HBox([self.controls[n] for n in menus], layout=widgets.Layout(flex_flow="row wrap"))
        self.curves = widgets.HBox([self.loss_figure, self.accuracy_figure], layout=widgets.Layout(flex_flow="row wrap"))
        self.children = [self.transport, self.settings, self.curves, self.readout, self.status]
        self._on_history()
        self._on_status()

    def _build_curves(self):
        def figure(title, label, marks, scales, **y_axis):
            # x: batches, 5 integer ticks at most (no merged labels past 1,000 batches); the
            # scale starts at 0 and spans 10 batches until there are more (_on_history).
            fig = bq.Figure(marks=marks, title=title,
                            axes=[bq.Axis(scale=scales["x"], label="batch", num_ticks=5, tick_format="d"),
                                  bq.Axis(scale=scales["y"], side="left", label=label, **y_axis)],
                            legend_location="bottom-right", padding_y=0.0, fig_margin={"top": 30, "bottom": 40, "left": 50, "right": 15},
                            layout=widgets.Layout(width="360px", height="260px"))
            return fig

        ls = {"x": bq.LinearScale(min=0.0, max=10.0), "y": bq.LinearScale(min=0.0)}
        self.loss_line = bq.Lines(x=[], y=[], scales=ls, colors=["#1f77b4"])
        self.loss_figure = figure("training loss", "loss", [self.loss_line], ls, num_ticks=5, tick_format=".2f")
        acc = {"x": bq.LinearScale(min=0.0, max=10.0), "y": bq.LinearScale(min=0.0, max=1.0)}
        self.accuracy_line = bq.Lines(x=[], y=[], scales=acc, colors=["#aec7e8"], labels=["batch"], display_legend=True)
        self.validation_line = bq.Lines(x=[], y=[], scales=acc, colors=["#d62728"], marker="circle", marker_size=16,
                                        labels=["validation"], display_legend=True)
        self.accuracy_figure = figure("accuracy", "accuracy", [self.accuracy_line, self.validation_line], acc,
                                      tick_values=[0.0, 0.25, 0.5, 0.75, 1.0], tick_format=".0%")
        self._x_scales = (ls["x"], acc["x"])
        self.loss_figure.add_class("ttfs-loss-figure")
        self.accuracy_figure.add_class("ttfs-accuracy-figure")
        self.figures.update(loss=self.loss_figure, accuracy=self.accuracy_figure)

    # ------------------------------------------------------------ buttons
    def on_play(self, _=None):
        self.runner.start()
        self.clear_message()

    def on_pause(self, _=None):
        self.runner.pause()

    def on_step(self, _=None):
        self.runner.step()
        self.clear_message()

    def on_reset(self, _=None):
        self.runner.reset()
        self.clear_message()

    # ------------------------------------------------------------ state -> marks
    def _on_history(self, change=None):
        h = self.state.history
        steps = h.get("step", [])
        for scale in self._x_scales:  # 0 .. at least 10 batches, then the data's range
            scale.max = float(max(10, steps[-1] if steps else 0))
        self.loss_line.scales["y"].max = None if steps else 1.0  # no data: a plain 0..1 frame
        loss = [v if math.isfinite(v) else float("nan") for v in h.get("loss", [])]
        with self.loss_line.hold_sync():
            self.loss_line.x, self.loss_line.y = thin_curve(steps, loss)
        with self.accuracy_line.hold_sync(), self.validation_line.hold_sync():
            self.accuracy_line.x, self.accuracy_line.y = thin_curve(steps, h.get("accuracy", []))
            self.validation_line.x, self.validation_line.y = h.get("epoch_step", []), h.get("validation_accuracy", [])
        self._update_readout()

    def _on_status(self, change=None):
        status = self.state.status
        self.buttons["play"].disabled = status == "running"
        self.buttons["pause"].disabled = status != "running"
        self.buttons["step"].disabled = status == "running"
        for name in LOCKED_WHILE_RUNNING:  # greyed, and the tooltip says why
            menu = self.controls[name]
            menu.disabled = status == "running"
            menu.tooltip = ("pause training to change this (it builds a new network)" if menu.disabled
                            else self._tooltips[name])
        if self.runner.error:
            self.show_message(self.runner.error)
        self._update_readout()

    def _update_readout(self):
        h = self.state.history
        epochs = len(h.get("epoch", []))
        parts = [f"<b>{self.state.status}</b>", f"epoch {epochs} / {self.state.epochs}", f"batch {len(h.get('step', []))}"]
        if h.get("validation_accuracy"):
            parts.append(f"validation {100 * h['validation_accuracy'][-1]:.1f} %")
        r = self.runner
        if r.train_cpu_seconds > 0 and r.draw_cpu_seconds > 0:
            share = 100 * r.draw_cpu_seconds / (r.draw_cpu_seconds + r.train_cpu_seconds)
            rate = r.pacer.rate() if self.state.status == "running" and r.pacer is not None else float("nan")
            live = f"live: {rate:.1f} redraws/s, " if math.isfinite(rate) else ""
            parts.append(f"{live}{share:.0f} % of the CPU went into redrawing the figures, the rest into training")
        self.readout.value = " · ".join(parts)
