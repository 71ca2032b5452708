"""Old import path of ``micrograd.app.plots`` (pictures of a run), kept so that existing imports still work."""

from micrograd.app.plots import curves_figure, decision_boundary_figure, decision_grid, save_figure

__all__ = ["curves_figure", "decision_boundary_figure", "decision_grid", "save_figure"]
