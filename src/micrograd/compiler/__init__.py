"""Compiled training steps: record one example's loss graph, replay it as generated Python or numpy.

``loss`` holds the public API (see its docstring for how it works), ``plan`` the
recorded graph as typed nodes and blocks (the one recording format), ``python`` and
``numpy`` the two emitters that write a plan as code, and ``gpt`` the GPT's numpy
engine, which replays a plan recorded once per run for every document (token ids as
inputs, one cut of the plan per document length).
"""

from micrograd.compiler.loss import SUPPORTED_OPS, CompiledLoss, CompileError, compile_loss

__all__ = ["compile_loss", "CompiledLoss", "CompileError", "SUPPORTED_OPS"]
