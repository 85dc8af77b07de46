"""Export: figures as PNG/SVG (or their data as JSON) and the lab state as a file.

PNG and SVG are drawn by the browser: bqplot's Figure.save_png/save_svg ask the front end to
render the figure and the *browser downloads* the file (named like ``path``'s file name). In
a kernel without a front end (a script, a test) they do nothing, so ``save_figure`` also
writes the figure's data on the server as JSON (``.json``): every mark's x, y, colour
values and labels -- enough to redraw it with any plotting tool.
"""
from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from .persistence import user_file
from .state import _write_atomic
from .view import View

MARK_DATA = ("x", "y", "color", "labels", "names", "visible")
FORMATS = ("png", "svg", "json")


def figure_data(figure) -> dict:
    """The data of every mark of a bqplot Figure, JSON-ready."""
    marks = []
    for mark in figure.marks:
        entry = {"type": type(mark).__name__}
        for name in MARK_DATA:
            if mark.has_trait(name):
                value = getattr(mark, name)
                entry[name] = value.tolist() if isinstance(value, np.ndarray) else value
        marks.append(entry)
    return {"title": figure.title, "marks": marks}


def save_figure(figure, path) -> Path:
    """Save a figure by the suffix of ``path``: .png/.svg via the browser (download),
    .json as data on the server (atomic)."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise ValueError(f"unknown figure format {path.suffix!r}; use one of {', '.join('.' + f for f in FORMATS)}")
    if kind == "png":
        figure.save_png(path.name)
    elif kind == "svg":
        figure.save_svg(path.name)
    else:
        _write_atomic(path, json.dumps(figure_data(figure), allow_nan=True))
    return path


class ExportPanel(View):
    """``ExportPanel(state=None, views=())``: pick a figure of the given views and a format;
    save or load the lab state."""

    def __init__(self, state=None, views=(), **kwargs):
        super().__init__(state, **kwargs)
        self.views = list(views)
        figure_names = [(f"{type(v).__name__}: {name}", fig) for v in self.views for name, fig in v.figures.items()]
        self.figure = self.add_control("export_figure", widgets.Dropdown(options=figure_names, description="figure"))
        self.format = self.add_control("export_format", widgets.Dropdown(options=FORMATS, value="png", description="format",
                                                                         layout=widgets.Layout(width="160px")))
        self.figure_path = self.add_control("export_path", widgets.Text(value="figure", description="file"))
        self.state_path = self.add_control("state_path", widgets.Text(value="lab-state.json", description="state file"))
        buttons = {"export": "save figure", "save_state": "save state", "load_state": "load state"}
        self.buttons = {}
        for name, label in buttons.items():
            self.buttons[name] = self.add_control(name, widgets.Button(description=label))
            self.buttons[name].on_click(self.guard(getattr(self, f"on_{name}")))
        self.children = [
            widgets.HBox([self.figure, self.format, self.figure_path, self.buttons["export"]]),
            widgets.HBox([self.state_path, self.buttons["save_state"], self.buttons["load_state"]]),
            self.status,
        ]

    def on_export(self, _=None):
        if self.figure.value is None:
            raise ValueError("no figure to export: give ExportPanel some views")
        name = self.figure_path.value.strip()
        if not name:
            raise ValueError("give a file name for the figure")
        path = Path(name).with_suffix("." + self.format.value)
        path = save_figure(self.figure.value, user_file(path) if self.format.value == "json" else path)
        where = "downloaded by the browser" if self.format.value != "json" else "written on the server"
        self.show_message(f"{path} {where}", kind="info")

    def on_save_state(self, _=None):
        path = self._state_file()
        self.state.save(path)
        self.show_message(f"saved {path} and {path.with_suffix('.ckpt')}", kind="info")

    def on_load_state(self, _=None):
        path = self._state_file()
        self.state.restore(path)
        self.show_message(f"loaded {path}", kind="info")

    def _state_file(self) -> Path:
        name = self.state_path.value.strip()
        if not name:
            raise ValueError("give a file name for the state, e.g. lab-state.json")
        return user_file(Path(name).with_suffix(".json"))
