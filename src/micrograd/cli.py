"""Old import path of ``micrograd.app.cli`` (the command line), kept so that existing imports still work."""

from micrograd.app.cli import build_parser, main

__all__ = ["build_parser", "main"]
