"""Old import path of ``micrograd.viz.html`` (the interactive pages), kept so that existing imports still work."""

from micrograd.viz.html import (
    CurvePoint,
    Grid,
    Snapshot,
    TrainingHistory,
    backward_html,
    grid_axes,
    grid_snapshot,
    training_html,
)

__all__ = [
    "backward_html", "training_html", "grid_axes", "grid_snapshot", "TrainingHistory", "Snapshot", "Grid", "CurvePoint"
]
