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


def parse_hidden(text: str) -> list[int]:
    """"120" or "64, 32" -> [120] / [64, 32]."""
    try:
        sizes = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"hidden layers: {text!r} is not a list of sizes like 120 or 64, 32") from None
    if not sizes:
        raise ValueError("hidden layers: give at least one size, e.g. 120")
    return sizes


def _button(description, icon, tooltip):
    return widgets.Button(description=description, icon=icon, tooltip=tooltip, layout=widgets.Layout(width="90px"))


class TrainingPanel(View):
    """``TrainingPanel(state=None, runner=None)``; ``panel.runner`` trains in the background."""

    def __init__(self, state=None, runner: TrainingRunner | None = None, **kwargs):
        super().__init__(state, **kwargs)
        self.runner = runner if runner is not None else TrainingRunner.for_state(self.state)
        self.buttons = {
            "play": _button("Play", "play", "train in the background"),
            "pause": _button("Pause", "pause", "stop after the current batch"),
            "step": _button("Step", "step-forward", "train one batch"),
            "reset": _button("Reset", "refresh", "new random network from the settings"),
        }
        for name, button in self.buttons.items():
            self.add_control(name, button)
            button.on_click(self.guard(getattr(self, f"on_{name}")))
        w = lambda: widgets.Layout(width="190px")  # noqa: E731
        self.bind("lr", widgets.FloatText(description="learning rate", layout=w()), "lr")
        self.bind("epochs", widgets.IntText(description="epochs", layout=w()), "epochs")
        self.bind("batch_size", widgets.IntText(description="batch size", layout=w()), "batch_size")
        self.bind("seed", widgets.IntText(description="seed", layout=w()), "seed")
        self.bind("hidden", widgets.Text(description="hidden", layout=w(), continuous_update=False), "hidden",
                  parse=parse_hidden, show=lambda sizes: ", ".join(map(str, sizes)))
        self._build_curves()
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-training-readout")
        self.state.observe(self.guard(self._on_history), names="history")
        self.state.observe(self.guard(self._on_status), names="status")
        settings = widgets.HBox([widgets.VBox([self.controls[n] for n in ("lr", "epochs", "batch_size")]),
                                 widgets.VBox([self.controls[n] for n in ("seed", "hidden")])])
        self.children = [widgets.HBox(list(self.buttons.values())), settings,
                         widgets.HBox([self.loss_figure, self.accuracy_figure]), self.readout, self.status]
        self._on_history()
        self._on_status()

    def _build_curves(self):
        def figure(title, label, marks, scales):
            fig = bq.Figure(marks=marks, title=title,
                            axes=[bq.Axis(scale=scales["x"], label="batch"),
                                  bq.Axis(scale=scales["y"], side="left", label=label)],
                            legend_location="bottom-right", fig_margin={"top": 40, "bottom": 45, "left": 55, "right": 15},
                            layout=widgets.Layout(width="360px", height="260px"))
            return fig

        ls = {"x": bq.LinearScale(), "y": bq.LinearScale()}
        self.loss_line = bq.Lines(x=[], y=[], scales=ls, colors=["#1f77b4"])
        self.loss_figure = figure("training loss", "loss", [self.loss_line], ls)
        acc = {"x": bq.LinearScale(), "y": bq.LinearScale(min=0.0, max=1.0)}
        self.accuracy_line = bq.Lines(x=[], y=[], scales=acc, colors=["#aec7e8"], labels=["batch"], display_legend=True)
        self.validation_line = bq.Lines(x=[], y=[], scales=acc, colors=["#d62728"], marker="circle", marker_size=16,
                                        labels=["validation"], display_legend=True)
        self.accuracy_figure = figure("accuracy", "accuracy", [self.accuracy_line, self.validation_line], acc)
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
        loss = [v if math.isfinite(v) else float("nan") for v in h.get("loss", [])]
        with self.loss_line.hold_sync():
            self.loss_line.x, self.loss_line.y = steps, loss
        with self.accuracy_line.hold_sync(), self.validation_line.hold_sync():
            self.accuracy_line.x, self.accuracy_line.y = steps, h.get("accuracy", [])
            self.validation_line.x, self.validation_line.y = h.get("epoch_step", []), h.get("validation_accuracy", [])
        self._update_readout()

    def _on_status(self, change=None):
        status = self.state.status
        self.buttons["play"].disabled = status == "running"
        self.buttons["pause"].disabled = status != "running"
        self.buttons["step"].disabled = status == "running"
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
        if r.train_seconds > 0:
            parts.append(f"drawing {100 * r.draw_seconds / (r.draw_seconds + r.train_seconds):.0f} % of the time")
        self.readout.value = " · ".join(parts)
