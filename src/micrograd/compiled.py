"""Old import path of ``micrograd.compiler`` (compiled training steps), kept so that existing imports still work."""

from micrograd.compiler import SUPPORTED_OPS, CompiledLoss, CompileError, compile_loss

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]
