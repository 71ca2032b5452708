"""Seeing backprop: pictures of the expression graph, and the backward pass told step by step.

- ``graph`` -- ``draw_dot(root)`` returns a :class:`Graph`: the DOT text of the graph, drawn as SVG
  or PNG by Graphviz's ``dot`` if installed, else by micrograd's own layered layout (``render``);
  it shows itself inline in Jupyter. A fused neuron is drawn as the lecture's ``*`` and ``+`` boxes.
- ``narrate`` -- ``explain(root)`` prints the forward values and every step of the backward pass,
  and checks each leaf's gradient numerically; ``trace_backward(root)`` is the same steps as data.
  Neither changes any ``.grad`` in the graph.
- ``html`` -- self-contained pages: ``to_html(root)`` (alias of ``backward_html``) steps through the
  backward pass in a browser; ``training_html`` shows a training run.

The modules depend one way: ``html`` uses ``narrate``, which uses ``graph``; none of them imports
from this ``__init__``, which only gathers their names.
"""

from micrograd.viz.graph import (
    DEFAULT_MAX_NODES,
    EXPAND_LINEAR_UP_TO,
    INSTALL_HINT,
    Graph,
    RendererNotFound,
    RenderError,
    TooManyNodes,
    draw_dot,
    find_renderer,
)
from micrograd.viz.html import backward_html, training_html
from micrograd.viz.narrate import BackwardTrace, GradientStep, NodeInfo, explain, replay, trace_backward

to_html = backward_html  # the name the README and the notebooks use

__all__ = [
    "Graph",
    "TooManyNodes",
    "RendererNotFound",
    "RenderError",
    "DEFAULT_MAX_NODES",
    "EXPAND_LINEAR_UP_TO",
    "INSTALL_HINT",
    "find_renderer",
    "draw_dot",
    "NodeInfo",
    "GradientStep",
    "BackwardTrace",
    "trace_backward",
    "replay",
    "explain",
    "to_html",
    "backward_html",
    "training_html",
]
