"""DecisionMap: which class the network answers over the Yin-Yang plane, and how sure it is.

The background is a 100 x 100 heat map of the predicted class, pale where the first two
output spikes come close (low confidence) and saturated where one output wins by far. The
data points lie on top (train/test toggle); clicking one selects that sample for the
membrane and raster views.

One heat map carries both class and confidence: cell value 1 + 2 k + confidence for class k
(0 for "every output silent"), under a colour scale [grey, pale_0, full_0, pale_1, full_1,
pale_2, full_2] whose colours sit at 0, 1, ..., 6 -- so the value runs from pale to full
inside its class's segment.
"""
from __future__ import annotations

import functools
import threading
import time

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import torch

from ttfs_lab import TTFSNetwork
from ttfs_lab.loss import accuracy
from ttfs_lab.probe import (
    decision_grid, decisions_and_outputs, decisions_from_times, margin_confidence, plane_features, refined_times,
)

from .points_image import draw_points, png_bytes
from .runner import TrainingRunner
from .view import View, one_thread

GRID_SIZE = 100
# While training runs the map is redrawn from the runner's snapshots on a coarser grid (a
# 100 x 100 map is 10,000 samples through the network): 64 x 64, 2.4x less work, cells of ~5 px
# in the 360 px figure (40 x 40 looked blocky). Full grid once it stops.
LIVE_GRID_SIZE = 64
# The ideal model's map runs in float32: twice the SIMD width in the kernels (~2x faster for
# the 5 -> 120 layer); spike times move by float32 round-off (~1e-6 tau_s), so only cells whose
# first two output spikes lie that close can change class (tests check both against float64).
# The live map under the hardware too (the chip dashboard while it trains in the loop): the
# per-neuron kernel's bracketed solves converge to float32's tolerance in fewer steps, with
# float32 exponentials -- 32 x 32 on the emulated chip 55 -> 38 ms CPU; the chip's fixed
# pattern is drawn in float64 whatever the dtype (ttfs_lab.hardware.model.neuron_deviation).
MAP_DTYPE = torch.float32
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c"]  # yin, yang, dot
CLASS_NAMES = ["yin", "yang", "dot"]
SILENT_COLOR = "#9e9e9e"
# The data points' look (bqplot's Scatter units: size = area in px^2, stroke width in px) and
# the image they are drawn into: twice the pixels of the playground's ~310 px plot, so that they
# stay crisp on a 2x screen and in the 440 px stand-alone figure.
POINT_SIZE, POINT_STROKE = 18, 0.6
POINTS_PLOT_PX = 310
POINTS_IMAGE_PX = 2 * POINTS_PLOT_PX


def _pale(hex_color: str, amount: float = 0.85) -> str:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    mixed = rgb + (255.0 - rgb) * amount
    return "#" + "".join(f"{int(round(v)):02x}" for v in mixed)


MAP_COLORS = [SILENT_COLOR] + [c for color in CLASS_COLORS for c in (_pale(color), color)]


def map_values(classes: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Heat-map values: 0 for silent, 1 + 2 k + confidence for class k (module docstring)."""
    return np.where(classes < 0, 0.0, 1.0 + 2.0 * classes + np.clip(confidence, 0.0, 1.0))


class DecisionMap(View):
    """``DecisionMap(state=None, grid_size=100)``; redraws on every weights_version change."""

    def __init__(self, state=None, grid_size: int = GRID_SIZE, live_grid_size: int = LIVE_GRID_SIZE, **kwargs):
        super().__init__(state, **kwargs)
        self.grid_size = grid_size
        self.live_grid_size = min(live_grid_size, grid_size)
        self.live_dtype = MAP_DTYPE  # the live map's network, ideal model and hardware alike
        # The live grid's output times, drawn refined by this factor (probe.refined_times: bilinear
        # between the grid points): a coarse live grid (the chip's) without blocks along its cells.
        self.live_refine = 1
        self.decisions = None
        self.recompute_seconds = float("nan")
        self.live = False  # the heat map shows a training snapshot on the live grid
        self.live_draws = 0
        self._live_net = None
        self._draw_lock = threading.RLock()  # the kernel's thread and the drawing thread both draw
        axis = np.linspace(0.0, 1.0, grid_size)
        x_sc, y_sc = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        sc = {"x": x_sc, "y": y_sc}
        self.heat = bq.HeatMap(x=axis, y=axis, color=np.zeros((grid_size, grid_size)),
                               scales={**sc, "color": bq.ColorScale(colors=MAP_COLORS, min=0.0, max=6.0)})
        angle = np.linspace(0.0, 2.0 * np.pi, 200)
        self.circle = bq.Lines(x=0.5 + 0.5 * np.cos(angle), y=0.5 + 0.5 * np.sin(angle), scales=sc,
                               colors=["#333333"], stroke_width=1)
        # What students see of the points: one image (module docstring), not smoothed cell by
        # cell (pixelated is for heat maps). Its <image> has a blob: href; the heat map's is a
        # data: URL, which is how the redraw counters in tests/ and benchmarks/ tell them apart.
        self.points_image = widgets.Image(format="png")
        self.points_layer = bq.Image(image=self.points_image, x=[0.0, 1.0], y=[0.0, 1.0], scales=sc, pixelated=False)
        # What they click: the same points as a Scatter over the image (the 4th mark), which the
        # dashboards' page style hides but keeps clickable (apps/jupyter/voila/templates/offline/
        # index.html.j2; opacity 0 would not do: an effect node per point, more paint chunks).
        # Where that style is absent (JupyterLab) it draws the same points over their image.
        point_colors = bq.ColorScale(colors=CLASS_COLORS, min=0.0, max=2.0)
        self.points = bq.Scatter(x=[0.5], y=[0.5], color=[0], scales={**sc, "color": point_colors},
                                 default_size=POINT_SIZE, stroke="white", stroke_width=POINT_STROKE)
        self.marker = bq.Scatter(x=[0.5], y=[0.5], scales=sc, marker="circle", default_size=220, fill=False,
                                 colors=["black"], stroke_width=2.5)
        self.figure = bq.Figure(
            marks=[self.heat, self.circle, self.points_layer, self.points, self.marker],
            axes=[bq.Axis(scale=x_sc, label="x"), bq.Axis(scale=y_sc, side="left", label="y")],
            min_aspect_ratio=1, max_aspect_ratio=1, padding_x=0, padding_y=0,
            fig_margin={"top": 10, "bottom": 40, "left": 45, "right": 10},
            layout=widgets.Layout(width="440px", height="440px"),
        )
        self.figure.add_class("ttfs-decision-figure")
        self.figures["decision_map"] = self.figure

        self.split = self.add_control("split", widgets.ToggleButtons(options=["train", "test"], value=self.state.split,
                                                                      style={"button_width": "70px"}))
        self.show_points = self.add_control("points", widgets.Checkbox(value=True, description="data points", indent=False))
        self.under_hardware = self.add_control("map_hardware", widgets.Checkbox(
            value=False, description="under the lab's hardware (slow)", indent=False))
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-map-readout")
        legend = " ".join(f'<span style="color:{c}">■</span> {n}' for c, n in zip(CLASS_COLORS, CLASS_NAMES))
        self.legend = widgets.HTML(f"{legend} &nbsp; pale = undecided (first two outputs close)")

        self.split.observe(self.guard(self._on_split), names="value")
        self.show_points.observe(self.guard(self._on_show_points), names="value")
        # on_element_click, not interactions={"click": "select"}: the latter throws in the browser
        # with bqplot 0.13.1 (its handler reads d3.event, which that build never sets).
        self.points.on_element_click(self.guard(self._on_click))
        self.state.observe(self.guard(self._on_weights), names="weights_version")
        self.state.observe(self.guard(self._on_data), names=["split", "train_size", "test_size"])
        self.state.observe(self.guard(self._on_selected), names="selected")
        self.state.observe(self.guard(self._on_status), names="status")
        self.under_hardware.observe(self.guard(self.redraw), names="value")
        self.state.observe(self.guard(self._on_substrate), names="substrate")
        self.children = [self.figure, widgets.HBox([self.split, self.show_points, self.under_hardware]), self.legend, self.readout, self.status]
        TrainingRunner.for_state(self.state).live_views.append(self.guard(self.draw_live))
        self.guard(self._on_data)()
        self.guard(self.redraw)()

    # ------------------------------------------------------------ user actions -> state
    def _on_split(self, change):
        self.state.split = change["new"]

    def _on_show_points(self, change):
        self.points_layer.visible = self.points.visible = self.marker.visible = change["new"]

    def _on_click(self, mark, message):
        """bqplot's element_click message: {"event": ..., "data": {"index": i, "x": .., "y": ..}}."""
        index = message.get("data", {}).get("index") if isinstance(message, dict) else None
        if index is None:
            return  # a click that hit no point: keep the current sample
        self.state.selected = int(index)

    # ------------------------------------------------------------ state -> marks
    def _on_weights(self, change=None):
        # While training runs the map follows the runner's snapshots (draw_live); the weight
        # changes published meanwhile are for the other views. The end of a run changes the
        # status, on which the map draws its full grid (_on_status).
        if self.state.status != "running":
            self.redraw()

    def _forward(self):
        """None (the ideal model) or the lab's hardware, by the checkbox."""
        return self.state.forward if self.under_hardware.value else None

    def map_network(self):
        """The network the map shows: the lab's, in MAP_DTYPE for the ideal model (a copy of
        the current weights, about 0.5 ms), itself under the lab's hardware."""
        net = self.state.network
        if self.under_hardware.value or net.dtype == MAP_DTYPE:
            return net
        return TTFSNetwork.from_weights([layer.weight.detach() for layer in net.layers], params=net.params,
                                        bias_time=net.bias_time, dtype=MAP_DTYPE)

    def _on_substrate(self, change):
        if self.under_hardware.value:
            self.redraw()

    def _on_status(self, change):
        if change["old"] == "running":  # training stopped: back to the full grid
            self.redraw()

    def _on_data(self, change=None):
        features, _, labels = self.state.data(self.state.split)
        self.split.value = self.state.split
        with self.points.hold_sync():
            self.points.x, self.points.y, self.points.color = features[:, 0], features[:, 1], labels
        self.points_image.value = self.points_png(features[:, 0], features[:, 1], labels)
        self._on_selected()
        if change is not None:
            self._update_accuracy()

    def _on_selected(self, change=None):
        features, _, _ = self.state.sample()
        with self.marker.hold_sync():
            self.marker.x, self.marker.y = [features[0]], [features[1]]

    def redraw(self, change=None):
        """Recompute the decisions on the grid (core) and refill the heat map in place."""
        with self._draw_lock:
            started = time.perf_counter()
            n = self.live_grid_size if self.state.status == "running" else self.grid_size
            with self.state.lock:
                network, forward = self.map_network(), self._forward()
                private = network is not self.state.network
                if not private:
                    with one_thread():
                        self.decisions = decision_grid(network, n, forward=forward)
            if private:  # a copy of the weights: training may go on meanwhile
                with one_thread():
                    self.decisions = decision_grid(network, n)
            self._fill(n)
            self.recompute_seconds = time.perf_counter() - started
            self.live = False
            self._update_accuracy()
            self.clear_message()

    def draw_live(self, snapshot):
        """Redraw from a training snapshot (widgets.runner.Snapshot; the drawing thread calls
        this while training runs): the live grid and the accuracy readout in one forward pass
        of a network that holds the snapshot's weights, no lock held."""
        with self._draw_lock:
            if self.state.status != "running":
                return  # the run just ended: the full grid follows
            started = time.perf_counter()
            n = self.live_grid_size
            hardware = self.under_hardware.value
            network = self._live_network(snapshot, self.live_dtype)
            loop = hardware and self._trains_in_the_loop()
            if loop:  # the chip's own batch accuracies stand for a second pass over the test set
                with one_thread():
                    self.decisions = decision_grid(network, n, forward=self.state.forward)
                self.accuracy, n_points = self._loop_accuracy(snapshot)
            else:
                _, times, labels = self.state.data(self.state.split)
                with one_thread():
                    self.decisions, output = decisions_and_outputs(network, n, times,
                                                                   forward=self.state.forward if hardware else None)
                self.accuracy, n_points = accuracy(output, labels), len(labels)
            if self.live_refine > 1:
                self.decisions = decisions_from_times(refined_times(self.decisions.output_times, n, self.live_refine))
                n = self.live_refine * (n - 1) + 1
            self._fill(n)
            self.recompute_seconds = time.perf_counter() - started
            self.live = True
            self._show_accuracy(n_points, in_the_loop=loop)
            self.live_draws += 1

    def _trains_in_the_loop(self) -> bool:
        """Training runs its forward pass on the substrate this map runs under."""
        trainer = self.state.trainer
        return self.state.substrate is not None and getattr(getattr(trainer, "substrate", None), "hardware", None) is self.state.substrate

    def _loop_accuracy(self, snapshot):
        """(mean accuracy, samples) of the last batches up to the snapshot, about one epoch's
        worth of training samples: measured on the chip by the in-the-loop forward pass."""
        batch, train = self.state.batch_size, self.state.train_size
        k = max(1, -(-train // batch))  # batches per epoch
        recent = [a for a in self.state.history.get("accuracy", [])[:snapshot.steps][-k:] if a == a]
        if not recent:
            return float("nan"), 0
        return float(np.mean(recent)), len(recent) * batch

    def _live_network(self, snapshot, dtype):
        """A network of the map's own (kept between live redraws) holding the snapshot's weights."""
        dtype = dtype or snapshot.weights[0].dtype
        net = self._live_net
        if (net is None or net.dtype != dtype or net.params != snapshot.params or net.layers[0].bias_time != snapshot.bias_time
                or [tuple(layer.weight.shape) for layer in net.layers] != [tuple(w.shape) for w in snapshot.weights]):
            net = self._live_net = snapshot.network(dtype)
        else:
            with torch.no_grad():
                for layer, w in zip(net.layers, snapshot.weights):
                    layer.weight.copy_(w)
        return net

    def _fill(self, n):
        confidence = margin_confidence(self.decisions.margin)
        values = map_values(self.decisions.classes, confidence).reshape(n, n)
        with self.heat.hold_sync():
            if len(self.heat.x) != n:
                self.heat.x = self.heat.y = self._axis(n)
            self.heat.color = values

    @staticmethod
    def points_png(x, y, labels) -> bytes:
        """The points layer: PNG of the points as the Scatter would draw them, at the image's
        scale (POINTS_IMAGE_PX pixels for a POINTS_PLOT_PX plot)."""
        scale = POINTS_IMAGE_PX / POINTS_PLOT_PX
        rgba = draw_points(x, y, labels, CLASS_COLORS, POINTS_IMAGE_PX, radius=scale * np.sqrt(POINT_SIZE / np.pi),
                           stroke=scale * POINT_STROKE)
        return png_bytes(rgba)

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def _axis(n):
        return np.linspace(0.0, 1.0, n)

    def _update_accuracy(self):
        _, times, labels = self.state.data(self.state.split)
        with self.state.lock, torch.no_grad():
            forward = self._forward()
            output = self.state.network(times) if forward is None else forward(self.state.network, times)
        self.accuracy = accuracy(output, labels)
        self._show_accuracy(len(labels))

    def _show_accuracy(self, n_points, in_the_loop=False):
        where = " under the lab's hardware" if self.under_hardware.value else ""
        refined = f" drawn at {self.live_refine * (self.live_grid_size - 1) + 1}²" if self.live_refine > 1 else ""
        map_text = (f"live map {self.live_grid_size}×{self.live_grid_size}{refined}" if self.live else "map") + \
            f" computed in {1e3 * self.recompute_seconds:.0f} ms"
        if in_the_loop:  # measured by the training's own forward passes on the chip
            self.readout.value = (f"training accuracy in the loop <b>{100 * self.accuracy:.1f} %</b> "
                                  f"(its last {n_points} samples) · {map_text}")
            return
        self.readout.value = (f"{self.state.split} accuracy{where} <b>{100 * self.accuracy:.1f} %</b> "
                              f"({n_points} points) · {map_text}")

    @staticmethod
    def grid_features(grid_size: int = GRID_SIZE) -> np.ndarray:
        """The plane's grid points (x, y, 1-x, 1-y), in the heat map's [y, x] row order."""
        return plane_features(grid_size)
