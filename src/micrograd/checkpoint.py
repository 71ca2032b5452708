"""Old import path of ``micrograd.app.checkpoint`` (checkpoint files), kept so that existing imports still work."""

from micrograd.app.checkpoint import FORMAT, VERSION, CheckpointError, build_model, load_checkpoint, load_model, save

__all__ = ["FORMAT", "VERSION", "CheckpointError", "build_model", "load_checkpoint", "load_model", "save"]
