"""A process-wide choice that a plain call sets and a ``with`` block sets back.

The spike-time backend (native.set_backend) and the torch path's reference switch
(fast_torch.use_reference) are both such a choice, read on every layer call:

    choice = Switch("auto")
    choice.set("torch")                 # from now on
    with choice.set("native"): ...      # inside the block; the previous value afterwards
"""
from __future__ import annotations


class Switch:
    """One value (``.value``, read directly: it sits on every layer call's path)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def set(self, value) -> "_Restore":
        """Set the value now; the returned object, used as a context manager, restores the previous one."""
        restore = _Restore(self, self.value)
        self.value = value
        return restore


class _Restore:
    __slots__ = ("switch", "previous")

    def __init__(self, switch: Switch, previous):
        self.switch, self.previous = switch, previous

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.switch.value = self.previous
        return False
