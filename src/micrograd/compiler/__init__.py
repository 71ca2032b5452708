"""Compiled training steps: record one example's loss graph, replay it as generated Python or numpy.

Everything is in ``compiled`` for now; see its docstring for how it works.
"""

from micrograd.compiler.compiled import SUPPORTED_OPS, CompiledLoss, CompileError, compile_loss

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]
