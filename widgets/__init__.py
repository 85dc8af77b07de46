"""ttfs-lab widgets: bqplot/ipywidgets views over one LabState (TensorFlow-Playground style).

    from ttfs_lab.widgets import LabState, NeuronExplorer, DecisionMap, TrainingPanel
    state = LabState()                      # the single source of truth of a session
    DecisionMap(state); TrainingPanel(state)  # views observe it; controls change it
    NeuronExplorer()                        # every view also builds alone

Views draw and forward user actions; the numbers come from ttfs_lab (ttfs_lab.probe).
"""
from .chip_view import ChipView
from .decision_map import DecisionMap
from .export import ExportPanel, figure_data, save_figure
from .hardware_panel import HardwarePanel
from .membrane import MembraneView
from .neuron_explorer import NeuronExplorer
from .persistence import AutoSave, AutoSavePanel
from .raster import RasterView
from .runner import TrainingRunner
from .state import LabState
from .training_panel import TrainingPanel
from .view import View

__all__ = [
    "AutoSave", "AutoSavePanel", "ChipView", "DecisionMap", "ExportPanel", "HardwarePanel", "LabState", "MembraneView", "NeuronExplorer", "RasterView",
    "TrainingPanel", "TrainingRunner", "View", "figure_data", "save_figure",
]
