"""HardwarePanel: what an analog chip does to the network, one switch per distortion.

Each distortion of ttfs_lab.hardware has a switch and a strength; a preset menu loads the
profiles (ideal, calibrated BrainScaleS-2, uncalibrated, noisy); "emulated BrainScaleS-2"
runs the network on the emulated chip (6-bit weights, resource mapping, time and energy).
The test accuracy under the current hardware is recomputed in a background thread after
every change (the kernel stays free), and "train in the loop" continues training with the
chip's measured spike times in the forward pass.
"""
from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import torch

from ttfs_lab import TTFSNetwork
from ttfs_lab.hardware import DISTORTIONS, PROFILES
from ttfs_lab.loss import accuracy

from . import substrate as hw_settings
from .runner import TrainingRunner
from .view import View

QUICK_SAMPLES = 100  # the first estimate after a change (emulating analog neurons is slow)
# name -> (label, slider min, max, step, default strength when switched on, what the strength is)
KNOBS = {
    "weight_quantization": ("weight step", 0.0, 0.2, 0.001, 1 / 30,
                            "weights rounded to multiples of this step (weight units; the chip's 6 bits: 1/30)"),
    "weight_clipping": ("weight limit", 0.2, 5.0, 0.05, 2.1, "weights clipped to ± this value (weight units)"),
    "threshold_mismatch": ("threshold ±", 0.0, 0.5, 0.005, 0.08,
                           "fixed per neuron: threshold × (1 + s·z), z ~ N(0, 1); 0.08 = 8 % spread"),
    "time_constant_mismatch": ("τ ±", 0.0, 0.3, 0.005, 0.03,
                               "fixed per neuron: τm, τs × (1 + s·z); 0.03 = 3 % spread"),
    "dead_neurons": ("dead neurons", 0.0, 0.5, 0.01, 0.05, "fraction of neurons that never spike (0.05 = 5 %)"),
    "threshold_noise": ("threshold noise", 0.0, 0.3, 0.005, 0.04,
                        "redrawn every sample: threshold × (1 + s·z); 0.04 = 4 %"),
    "output_jitter": ("output jitter", 0.0, 0.2, 0.005, 0.01, "every spike moved by s·z, in units of τs"),
    "input_noise": ("input noise", 0.0, 0.5, 0.01, 0.1, "input spike times moved by s·z, in units of τs"),
    "spike_loss": ("spike loss", 0.0, 0.3, 0.005, 0.01, "probability that a spike is lost on its way"),
}
# Shown next to the sliders: the unit of the strength.
UNITS = {"weight_quantization": "w", "weight_clipping": "w", "threshold_mismatch": "", "time_constant_mismatch": "",
         "dead_neurons": "", "threshold_noise": "", "output_jitter": "τs", "input_noise": "τs", "spike_loss": "p"}
CHIP_MAPS_WEIGHTS = "the emulated chip stores weights itself (6 bits, step 1/30, ±2.1): switch it off to set this"
assert set(KNOBS) == set(DISTORTIONS), "a distortion without a knob (or the reverse)"


class HardwarePanel(View):
    """``HardwarePanel(state=None, runner=None)``; ``panel.wait()`` waits for the accuracy."""

    def __init__(self, state=None, runner: TrainingRunner | None = None, **kwargs):
        super().__init__(state, **kwargs)
        self.runner = runner if runner is not None else TrainingRunner.for_state(self.state)
        self._syncing = False
        self.preset = self.add_control("hw_preset", widgets.Dropdown(
            options=[(p.name, key) for key, p in PROFILES.items()] + [("custom", "custom")], description="preset",
            tooltip="a set of distortions; editing a switch below makes it 'custom'",
            layout=widgets.Layout(width="300px")))
        self.emulated = self.add_control("hw_emulated", widgets.ToggleButton(
            description="emulated BrainScaleS-2: off", icon="microchip", layout=widgets.Layout(width="215px"),
            tooltip="run the network on an emulated BrainScaleS-2 chip (6-bit weights, resources, time, energy)"))
        self.chip_id = self.add_control("hw_chip", widgets.BoundedIntText(
            min=0, max=10_000, description="chip", tooltip="which chip: each has its own fixed-pattern deviations",
            style={"description_width": "initial"}, layout=widgets.Layout(width="85px")))
        self.in_the_loop = self.add_control("hw_in_the_loop", widgets.Checkbox(
            description="train in the loop", indent=False, layout=widgets.Layout(width="140px"),
            tooltip="training runs the forward pass on this hardware (the gradients come from the model)"))
        self.train_button = self.add_control("hw_train", widgets.Button(
            description="train in the loop", icon="play", layout=widgets.Layout(width="160px"),
            tooltip="continue training with the hardware in the loop (pause it with the training controls)"))
        self.switches, self.strengths, rows = {}, {}, []
        for name, (label, lo, hi, step, default, meaning) in KNOBS.items():
            self.switches[name] = widgets.Checkbox(description=label, indent=False, tooltip=meaning,
                                                   layout=widgets.Layout(width="125px"))
            self.strengths[name] = widgets.FloatSlider(value=default, min=lo, max=hi, step=step, readout_format=".3f",
                                                       continuous_update=False, tooltip=meaning,
                                                       layout=widgets.Layout(width="150px"))
            unit = widgets.HTML(f'<span style="color:#666">{UNITS[name]}</span>', layout=widgets.Layout(width="22px"))
            rows.append(self.add_control(f"hw_{name}", widgets.HBox([self.switches[name], self.strengths[name], unit],
                                                                   layout=widgets.Layout(height="28px"))))
        self.readout = widgets.HTML()
        self.readout.add_class("ttfs-hw-readout")
        self.accuracy = {"ideal": float("nan"), "hardware": float("nan")}
        self.evaluate_seconds = float("nan")

        self.preset.observe(self.guard(self._on_preset), names="value")
        for w in [self.emulated, self.chip_id, self.in_the_loop, *self.switches.values(), *self.strengths.values()]:
            w.observe(self.guard(self._on_edit), names="value")
        self.train_button.on_click(self.guard(self.on_train))
        self.state.observe(self.guard(self._from_state), names="hardware")
        self.state.observe(self.guard(self._on_substrate), names="substrate")
        self.state.observe(self.guard(self._on_weights), names="weights_version")

        self._lock = threading.Lock()
        self._thread = None
        self._again = False
        self.header = widgets.VBox([self.preset, widgets.HBox([self.emulated, self.chip_id])])
        self.switch_rows = widgets.VBox(rows)
        self.loop_row = widgets.HBox([self.in_the_loop, self.train_button])
        self.children = [self.header, self.switch_rows, self.loop_row, self.readout, self.status]
        self.state.observe(self.guard(self._on_status), names="status")
        self._from_state()
        self.request_accuracy()

    # ------------------------------------------------------------ user actions -> state
    def _on_preset(self, change):
        if self._syncing or change["new"] == "custom":
            return
        settings = hw_settings.complete(self.state.hardware)
        self.state.hardware = {**settings, "preset": change["new"],
                               "distortions": hw_settings.preset_distortions(change["new"])}

    def _on_edit(self, change):
        if self._syncing:
            return
        distortions = {n: float(self.strengths[n].value) for n in KNOBS if self.switches[n].value}
        settings = hw_settings.complete(self.state.hardware)
        preset = settings["preset"] if distortions == settings["distortions"] else "custom"
        try:
            self.state.hardware = {**settings, "preset": preset, "distortions": distortions,
                                   "emulated": bool(self.emulated.value), "chip_id": int(self.chip_id.value),
                                   "in_the_loop": bool(self.in_the_loop.value)}
        finally:
            self._from_state()  # a rejected change snaps the controls back

    def on_train(self, _=None):
        if not hw_settings.complete(self.state.hardware)["in_the_loop"]:
            self.state.hardware = {**hw_settings.complete(self.state.hardware), "in_the_loop": True}
        if self.state.substrate is None:
            raise ValueError("switch on some distortions or the emulated BrainScaleS-2 first: "
                             "in the loop of the ideal model is plain training")
        self.runner.start()
        self.show_message("training with the chip in the loop (pause it in the training panel)", kind="info")

    # ------------------------------------------------------------ state -> controls
    def _from_state(self, change=None):
        s = hw_settings.complete(self.state.hardware)
        self._syncing = True
        try:
            self.preset.value = s["preset"] if s["preset"] in PROFILES else "custom"
            self.emulated.value = s["emulated"]
            self.chip_id.value = s["chip_id"]
            self.in_the_loop.value = s["in_the_loop"]
            self.emulated.description = f"emulated BrainScaleS-2: {'on' if s['emulated'] else 'off'}"
            self.emulated.button_style = "success" if s["emulated"] else ""
            for name, (label, *_, meaning) in KNOBS.items():
                on = name in s["distortions"]
                self.switches[name].value = on
                if on:
                    self.strengths[name].value = s["distortions"][name]
                self.strengths[name].disabled = not on
                self.strengths[name].tooltip = meaning if on else f"switch on '{label}' to set its strength"
            # The emulated chip maps weights itself (6 bits, step 1/30): these two do not apply.
            for name in ("weight_quantization", "weight_clipping"):
                self.switches[name].disabled = s["emulated"]
                self.switches[name].tooltip = CHIP_MAPS_WEIGHTS if s["emulated"] else KNOBS[name][-1]
                if s["emulated"]:
                    self.strengths[name].disabled = True
                    self.strengths[name].tooltip = CHIP_MAPS_WEIGHTS
        finally:
            self._syncing = False

    def _on_status(self, change):
        if change["new"] == "idle":  # reset: messages about the old training no longer apply
            self.clear_message()

    def _on_substrate(self, change):
        self.request_accuracy()

    def _on_weights(self, change):
        self.request_accuracy()

    # ------------------------------------------------------------ accuracy, off the kernel's thread
    def request_accuracy(self):
        """Recompute the test accuracy in the background; changes meanwhile coalesce."""
        self.readout.value = self._readout(computing=True)
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = True
                return
            self._again = False
            # Not a daemon: the interpreter waits for it at exit (a few seconds at most) instead
            # of killing it inside torch, which aborts the process.
            self._thread = threading.Thread(target=self._evaluate_loop, name="ttfs-lab-hw-accuracy")
            self._thread.start()

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the accuracy is up to date (tests, scripts)."""
        while True:
            thread = self._thread
            if thread is None:
                return True
            thread.join(timeout)
            if thread.is_alive():
                return False
            with self._lock:
                if self._thread is thread and not self._again:
                    return True

    def _evaluate_loop(self):
        while True:
            try:
                self._evaluate()
            except Exception as error:  # shown, never raised in a thread
                self.show_message(f"accuracy: {type(error).__name__}: {error}")
            with self._lock:
                if not self._again:
                    return
                self._again = False

    @torch.no_grad()
    def _evaluate(self):
        """First a quick estimate on the first QUICK_SAMPLES test samples (emulating analog
        neurons one by one is slow), then the whole test set -- unless a newer change came."""
        started = time.perf_counter()
        state = self.state
        _, x_all, y_all = state.data("test")
        with state.lock:  # a consistent copy; the slow emulation then runs without the lock
            net = state.network
            network = TTFSNetwork.from_weights(net.weights(), params=net.params, bias_time=net.bias_time, dtype=net.dtype)
            substrate = state.substrate
        for n in sorted({min(QUICK_SAMPLES, len(y_all)), len(y_all)}):
            if self._again:
                return  # superseded: the loop starts over with the newer settings
            x, y = x_all[:n], y_all[:n]
            ideal = accuracy(network(x), y)
            hardware = ideal if substrate is None else accuracy(substrate.spike_times(network, x)[-1], y)
            self.accuracy = {"ideal": ideal, "hardware": hardware, "samples": n}
            self.evaluate_seconds = time.perf_counter() - started
            self.readout.value = self._readout(computing=n < len(y_all))

    def _readout(self, computing=False) -> str:
        a = self.accuracy
        text = f"test accuracy: ideal <b>{100 * a['ideal']:.1f} %</b> · this hardware <b>{100 * a['hardware']:.1f} %</b>"
        if "samples" in a:
            text += f" ({a['samples']} samples, {self.evaluate_seconds:.1f} s)"
        return text + (" · <i>computing…</i>" if computing else "")
