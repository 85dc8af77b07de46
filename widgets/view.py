"""View: what every view shares -- a LabState, a status line, guarded callbacks, named controls.

A callback that raises (a NaN typed into a text box, an empty selection, a value the state
rejects) must never leave a traceback in the browser console: ``self.guard`` turns the
exception into a message in the view's status line, and the view keeps working.
"""
from __future__ import annotations

import contextlib
import functools
import html

import torch

import ipywidgets as widgets
from traitlets import TraitError

from ttfs_lab import native

from .state import LabState


class View(widgets.VBox):
    """Base of the views: ``View(state=None)``; a fresh LabState when none is given."""

    def __init__(self, state: LabState | None = None, **kwargs):
        super().__init__(**kwargs)
        self.state = state if state is not None else LabState()
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self.status.add_class("ttfs-status")
        self.controls: dict[str, widgets.Widget] = {}  # name -> control, for hiding by name
        self.figures: dict[str, object] = {}  # name -> bqplot Figure, for export
        self.state.observe(self.guard(self._apply_hidden), names="hidden_controls")

    # ------------------------------------------------------------ messages
    def show_message(self, text: str, kind: str = "error"):
        color = {"error": "#b00020", "info": "#555555"}.get(kind, "#555555")
        self.status.value = f'<span class="ttfs-{kind}" style="color:{color}">{html.escape(text)}</span>' if text else ""

    def clear_message(self):
        self.status.value = ""

    def guard(self, callback):
        """Wrap a widget or trait callback: exceptions become a message, never a traceback."""

        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except (ValueError, TraitError, TypeError, IndexError, KeyError, RuntimeError, OSError) as error:
                self.show_message(_first_line(error))
            except Exception as error:  # a bug; still no traceback in the front end
                self.show_message(f"internal error: {type(error).__name__}: {_first_line(error)}")

        return guarded

    # ------------------------------------------------------------ controls
    def add_control(self, name: str, widget: widgets.Widget) -> widgets.Widget:
        self.controls[name] = widget
        widget.add_class(f"ttfs-{name}")
        if name in self.state.hidden_controls:
            widget.layout.display = "none"
        return widget

    def bind(self, name: str, widget: widgets.Widget, trait: str, parse=None, show=None) -> widgets.Widget:
        """Register ``widget`` as control ``name`` and link it both ways to ``state.<trait>``.

        parse(widget value) -> trait value, show(trait value) -> widget value. A value the
        state rejects shows a message and the control snaps back to the state's value.
        """
        parse = parse or (lambda v: v)
        show = show or (lambda v: v)
        busy = []

        def to_state(change):
            if busy:
                return
            try:
                setattr(self.state, trait, parse(change["new"]))
                self.clear_message()
            except Exception:
                from_state()
                raise

        def from_state(change=None):
            busy.append(True)
            try:
                widget.value = show(getattr(self.state, trait))
            finally:
                busy.pop()

        from_state()
        widget.observe(self.guard(to_state), names="value")
        self.state.observe(self.guard(from_state), names=trait)
        return self.add_control(name, widget)

    def hide(self, *names: str):
        """Hide controls by name (also: state.hidden_controls, which every view follows)."""
        self.state.hidden_controls = sorted(set(self.state.hidden_controls) | set(names))

    def _apply_hidden(self, change=None):
        for name, widget in self.controls.items():
            widget.layout.display = "none" if name in self.state.hidden_controls else None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def one_thread():
    """Run small tensor work on one thread (of the calling thread only: torch's intra-op
    thread count is per thread). Views compute on a few thousand numbers; splitting that over
    OpenMP threads costs more than it saves, and on a busy machine each parallel region waits
    for a time slice -- measured 230 ms instead of 3 ms for one membrane trace. The spike-time
    kernels too (ttfs_lab.native.calling_thread_only): training sets their thread count for the
    whole process."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with native.calling_thread_only():
            yield
    finally:
        torch.set_num_threads(previous)
