"""The compiler: spec -> circuit graph -> placement -> weights -> module, one stage per module.

`compile_spec` runs them all; `build_graph`, `assign_channels`, `lower_inceptionv1` and
`lower_compact` are the stages, callable one by one; `expanded_layer_weights` inverts them.
"""

from .build import TARGETS, Build, UnitRecord, compile_spec
from .expand import compose, expanded_layer_weights
from .graph import CircuitGraph, build_graph
from .lower import lower_compact, lower_inceptionv1
from .placement import assign_channels

__all__ = [
    "TARGETS", "Build", "CircuitGraph", "UnitRecord", "assign_channels", "build_graph", "compile_spec",
    "compose", "expanded_layer_weights", "lower_compact", "lower_inceptionv1",
]
