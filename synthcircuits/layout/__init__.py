"""Architecture knowledge, torch-free: layer tables, unit addresses, topology, tensor names, geometry.

Everything that asks "what is layer X of this network" asks here: specs, models, the
compiler, edits, probes and drawings. Nothing in this package imports torch.
"""

from .address import UnitAddress, parse_unit, parse_units, unit_at
from .architectures import (
    ARCHITECTURES, BVLC_GOOGLENET, INCEPTIONV1, TORCHVISION_GOOGLENET, Architecture, BlockWidths, Branch, Layer,
    get_architecture,
)
from .geometry import INCEPTIONV1_GEOMETRY, Geometry, Span, Window, layout_windows
from .keys import bottleneck_name, conv_key, conv_name, conv_row
from .topology import Reader, feeding_layer, feeds, fed_layer, first_layer, lrn_between, readers

__all__ = [
    "ARCHITECTURES", "BVLC_GOOGLENET", "INCEPTIONV1", "INCEPTIONV1_GEOMETRY", "TORCHVISION_GOOGLENET", "Architecture",
    "BlockWidths", "Branch", "Geometry", "Layer", "Reader", "Span", "UnitAddress", "Window", "bottleneck_name",
    "conv_key", "conv_name", "conv_row", "feeding_layer", "feeds", "fed_layer", "first_layer", "get_architecture",
    "layout_windows", "lrn_between", "parse_unit", "parse_units", "readers", "unit_at",
]
