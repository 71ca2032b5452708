"""Compiled training steps: record one example's loss graph, replay it as generated Python or numpy.

``loss`` holds the public API (see its docstring for how it works), ``plan`` the
recorded graph as typed nodes and blocks, ``python`` and ``numpy`` the two
emitters that write a plan as code.
"""

from micrograd.compiler.loss import SUPPORTED_OPS, CompiledLoss, CompileError, compile_loss

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]
