"""The Yin-Yang playground (apps/playground.ipynb) on one screen, laid out like TensorFlow Playground.

    +---------------------------------------------------------------------------------+
    | Play Pause Step Reset | learning rate  epochs  batch  hidden  seed              |
    +-----------------------+---------------------------+-----------------------------+
    | DATA  (how a point     | MAP  decision map          | OUTPUT  loss, accuracy,     |
    |  becomes spike times) |  train/test, points        |  training readout           |
    | HARDWARE  preset, chip,|  legend, accuracy          |                             |
    |  distortion switches  |                            |                             |
    +-----------------------+---------------------------+-----------------------------+
    | the selected sample: membrane potentials | spike raster                         |
    | the chip: synapse array                  | export, share (the "Copy link")      |
    +---------------------------------------------------------------------------------+

Above it all, a line only when the page's link asked for something it could not have
(widgets.share_link): what was left at the defaults.

The first row fits a 1366 x 768 screen (and a 1024 x 768 one): the distortion switches sit
next to the map, so switching one shows its effect at once.
"""
from __future__ import annotations

import inspect

import ipywidgets as widgets

from ttfs_lab.data import encode

from ..chip_view import ChipView
from ..decision_map import CLASS_NAMES, DecisionMap
from ..export import ExportPanel
from ..hardware_panel import HardwarePanel
from ..membrane import MembraneView
from ..persistence import AutoSavePanel
from ..raster import RasterView
from ..share_link import ShareLink
from ..state import LabState
from ..training_panel import TrainingPanel
from .layout import Dashboard, column, fit, heading, room_for_labels, row, title_room, wrap_rows


def input_encoding_text(state: LabState) -> str:
    """How a point (x, y) becomes the network's input spikes, with the numbers in use."""
    defaults = inspect.signature(encode).parameters
    t0, t1 = defaults["t_early"].default, defaults["t_late"].default
    bias = state.network.layers[0].bias_time
    classes = ", ".join(CLASS_NAMES)
    return (f"A point (x, y) in the unit square enters as <b>4 input spikes</b> at "
            f"t = {t0:g} + {t1 - t0:g}·v τ<sub>s</sub> for v = x, y, 1−x, 1−y (small values spike early), "
            f"plus a bias spike at {bias:g} τ<sub>s</sub> into every layer. "
            f"The class ({classes}) is the output neuron that <b>spikes first</b>.")


def playground(state: LabState | None = None) -> Dashboard:
    """Build the playground's views over ``state`` (a fresh LabState by default) and lay them out."""
    state = state if state is not None else LabState()
    training, decision = TrainingPanel(state), DecisionMap(state)
    membrane, raster = MembraneView(state), RasterView(state)
    hardware, chip = HardwarePanel(state), ChipView(state)
    export = ExportPanel(state, views=[decision, training, membrane, raster, chip])
    autosave = AutoSavePanel(state, training.runner, app="playground")  # the user's home, while training + on Pause
    link = ShareLink(state, page="playground")
    views = {"training": training, "decision": decision, "membrane": membrane, "raster": raster,
             "hardware": hardware, "chip": chip, "export": export, "autosave": autosave, "link": link}

    fit(decision.figure, height="360px", min_width="300px")
    wrap_rows(decision)
    for figure in (training.loss_figure, training.accuracy_figure):
        fit(figure, height="215px", min_width="260px")
    training.curves.layout.flex_flow = "column"
    room_for_labels(training, {"lr": "176px"})  # "learning rate" and a 6-character value, uncut
    encoding = widgets.HTML(f'<div style="line-height:1.35;font-size:0.92em">{input_encoding_text(state)}</div>')

    top = row([training.transport, training.settings], name="top")
    left = column("controls", [heading("Data"), encoding, heading("Hardware", "(hover a switch: what it does)"),
                               hardware], width="315px")
    middle = column("map", [heading("Map", "(click a point: its spikes below)"), decision],
                    min_width="310px", max_width="430px", grow=1)
    right = column("curves", [heading("Output"), training.curves, training.readout, training.status, autosave],
                   min_width="270px", grow=1)
    sample = row([column("membrane", [heading("The selected sample", "membrane potentials"), membrane]),
                  column("raster", [heading("", "spikes"), raster])], name="sample")
    below = row([column("chip", [heading("The chip"), chip]),
                 column("export", [heading("Export"), export, heading("Share", "this lesson as a link"), link],
                        width="420px")], name="below")
    return Dashboard(state, views, [link.notice, top, row([left, middle, right], name="main", wrap=False), sample,
                                    below], name="playground")
