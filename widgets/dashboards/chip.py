"""The chip dashboard (apps/chip.ipynb): a trained network on an emulated BrainScaleS-2, trained in the loop.

It opens where the story starts: the paper network (notebook 3, 97 % on these 300 test
samples in the ideal model) deployed on emulated chip 0 with the calibrated BrainScaleS-2
deviations, where it scores ~85 % -- the chip visibly hurts. Play fine-tunes the network with
the chip in the loop (forward pass on the chip, gradients from the model) and the chip's
accuracy climbs back; the map shows the network *as the chip runs it*. Reset returns to the
pre-trained network (LabState.start_from), not to a random one.

    +---------------------------------------------------------------------------------+
    | Play Pause Step Reset | learning rate  epochs  batch                              |
    +-----------------------+---------------------------+-----------------------------+
    | HARDWARE  preset, chip,| MAP as the chip runs it    | OUTPUT  loss, accuracy      |
    |  switches, accuracies |                            |                             |
    +-----------------------+---------------------------+-----------------------------+
    | THE CHIP  synapse array, circuits, time and energy per sample  | SHARE  the link  |
    +---------------------------------------------------------------------------------+
"""
from __future__ import annotations

from pathlib import Path

from ttfs_lab import checkpoint

from ..chip_view import ChipView
from ..decision_map import DecisionMap
from ..hardware_panel import HardwarePanel
from ..share_link import ShareLink
from ..state import LabState
from ..substrate import preset_distortions
from ..training_panel import TrainingPanel
from .layout import Dashboard, column, fit, heading, room_for_labels, row, title_room, wrap_rows

PAPER_NETWORK = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "yinyang_paper.ckpt"
PRESET, CHIP_ID = "bss2", 0  # calibrated BrainScaleS-2, chip 0: 97.0 % ideal -> 85.0 % on the chip (300 samples)
MAP_GRID = 50  # the map runs every grid point on the emulated chip: 2,500 samples, not 10,000
# While training in the loop: 32 x 32 (1,024 chip samples; 75 % of a redraw is the chip's C
# per-neuron kernel, run in float32: DecisionMap's MAP_DTYPE), its accuracy readout the chip's
# own training batches (no second pass over the test set). Measured per live redraw: 217 ms at 50 x 50 with the test-set pass, see
# benchmarks/bench_widgets.py for the live figures.
LIVE_MAP_GRID = 32
# ... drawn at 63 x 63 (output times bilinear between its points, probe.refined_times: < 1 ms):
# its 9-px cells were blocks along which the class borders ran (screenshots, issue 12).
LIVE_MAP_REFINE = 2


def chip_state(network_path=PAPER_NETWORK, preset: str = PRESET, chip_id: int = CHIP_ID) -> LabState:
    """A LabState with the trained network on an emulated chip, in-the-loop training set up."""
    network, _ = checkpoint.load(network_path)
    # Small splits and a small learning rate: fine-tuning a trained network, live in a class room.
    state = LabState(hidden=list(network.sizes[1:-1]), lr=0.002, epochs=20, train_size=1000, test_size=300,
                     hidden_controls=["hidden", "seed"],  # they would replace the trained network
                     hardware={"preset": preset, "distortions": preset_distortions(preset), "emulated": True,
                               "chip_id": chip_id, "in_the_loop": True})
    state.start_from(network)
    state.hardware = dict(state.hardware)  # rebuild the chip for the loaded network
    return state


def chip_dashboard(state: LabState | None = None) -> Dashboard:
    """Lay out the chip dashboard's views over ``state`` (default: chip_state())."""
    state = state if state is not None else chip_state()
    training, hardware, chip = TrainingPanel(state), HardwarePanel(state), ChipView(state)
    decision = DecisionMap(state, grid_size=MAP_GRID, live_grid_size=LIVE_MAP_GRID)
    decision.under_hardware.value = True  # the network as the chip runs it
    decision.live_refine = LIVE_MAP_REFINE
    link = ShareLink(state, page="chip")
    views = {"training": training, "hardware": hardware, "chip": chip, "decision": decision, "link": link}

    fit(decision.figure, height="360px", min_width="300px")
    wrap_rows(decision)
    for figure in (training.loss_figure, training.accuracy_figure):
        fit(figure, height="215px", min_width="260px")
    training.curves.layout.flex_flow = "column"
    room_for_labels(training, {"lr": "176px"})  # "learning rate" and a 6-character value, uncut
    fit(chip.figure, height="330px", width="900px")

    top = row([training.transport, training.settings], name="top")
    left = column("controls", [heading("Hardware", "(hover a switch: what it does)"), hardware], width="315px")
    middle = column("map", [heading("Map", "as the chip runs the network"), decision],
                    min_width="310px", max_width="430px", grow=1)
    right = column("curves", [heading("Training in the loop"), training.curves, training.readout, training.status],
                   min_width="270px", grow=1)
    below = row([column("chip", [heading("The chip", "its synapse array, resources, time and energy"), chip]),
                 column("share", [heading("Share", "this lesson as a link"), link], width="420px")], name="below")
    return Dashboard(state, views, [link.notice, top, row([left, middle, right], name="main", wrap=False), below],
                     name="chip")
