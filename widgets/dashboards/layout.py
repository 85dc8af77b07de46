"""Building blocks of the dashboards' one-screen layouts (TensorFlow-Playground style).

A dashboard is a column of rows; its first row holds what a class looks at while it plays
(controls, map, curves), sized to fit a 1366 x 768 screen and still fit a 1024 x 768 one:
columns have a fixed or a bounded flexible width and wrap only when the window is narrower
still. Figures inside a column take the column's width (bqplot resizes them).
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..state import LabState


def heading(text: str, hint: str = "") -> widgets.HTML:
    """A small upper-case column title, as TensorFlow Playground labels its columns."""
    title = f'<span style="font-weight:600;letter-spacing:0.05em;color:#444">{html.escape(text.upper())}</span>'
    if hint:
        title += f' <span style="color:#777;font-size:0.9em">{hint}</span>'
    return widgets.HTML(title, layout=widgets.Layout(margin="0 0 2px 0"))


def column(name: str, children, width: str | None = None, min_width: str | None = None,
           max_width: str | None = None, grow: int = 0) -> widgets.VBox:
    """A column of the first row; ``width`` fixed, or ``grow`` > 0 to share the free width."""
    box = widgets.VBox(list(children), layout=widgets.Layout(
        width=width, min_width=min_width, max_width=max_width,
        flex=f"{grow} 1 {width or min_width or 'auto'}", margin="0 8px 0 0", overflow="hidden"))
    box.add_class(f"ttfs-column-{name}")
    return box


def fit(figure, height: str, width: str = "100%", min_width: str | None = None):
    """Size a bqplot Figure to its column (``width`` of the column, a fixed ``height``)."""
    figure.layout.width, figure.layout.height = width, height
    figure.layout.min_width = min_width
    return title_room(figure)


# bqplot 0.13 puts a figure's title with its top margin.top / 2 above the plot and draws it one
# line (~20 px at its "large" font) down from there: a top margin under 2 x 20 px puts the
# title into the plot, over the top tick label and the marks (the dT/dw bars hit it).
TITLE_MARGIN = 44


def title_room(figure):
    """Give a titled figure a top margin its title fits into, above the plot."""
    if figure.title and figure.fig_margin.get("top", 0) < TITLE_MARGIN:
        figure.fig_margin = {**figure.fig_margin, "top": TITLE_MARGIN}
    return figure


def room_for_labels(view, widths: dict):
    """Widen controls whose label would be cut ("learning r..."): {control name: CSS width}."""
    for name, width in widths.items():
        view.controls[name].layout.width = width
    return view


def wrap_rows(view):
    """Let the control rows of a view wrap inside a narrow column instead of being cut off."""
    for child in view.children:
        if isinstance(child, widgets.HBox):
            child.layout.flex_flow = "row wrap"
    return view


def row(children, name: str | None = None, wrap: bool = True) -> widgets.HBox:
    box = widgets.HBox(list(children), layout=widgets.Layout(
        flex_flow="row wrap" if wrap else "row nowrap", align_items="flex-start", width="100%"))
    if name:
        box.add_class(f"ttfs-row-{name}")
    return box


class Dashboard(widgets.VBox):
    """The laid-out dashboard: a VBox that also keeps its ``state`` and ``views`` (by name)."""

    def __init__(self, state: LabState, views: dict, rows, name: str):
        super().__init__(list(rows), layout=widgets.Layout(width="100%"))
        self.state = state
        self.views = dict(views)
        for view in self.views.values():  # no title inside its plot, whichever view drew it
            for figure in getattr(view, "figures", {}).values():
                title_room(figure)
        self.add_class("ttfs-dashboard")
        self.add_class(f"ttfs-dashboard-{name}")

    def __getitem__(self, name):
        return self.views[name]
