"""Networks the toolkit studies, unit addresses, weight files and activation capture."""

from .address import UnitAddress, parse_unit, parse_units, unit_at
from .capture import capture
from .layout import ARCHITECTURES, INCEPTIONV1, TORCHVISION_GOOGLENET, Architecture, Branch, Layer, get_architecture
from .weights import WeightFile, content_hash, read_weights, save_safetensors, save_torch
from .zoo import build_model, detect_architecture, expected_shapes, load_model, model_from_state_dict

__all__ = [
    "ARCHITECTURES", "INCEPTIONV1", "TORCHVISION_GOOGLENET", "Architecture", "Branch", "Layer",
    "UnitAddress", "WeightFile", "build_model", "capture", "content_hash", "detect_architecture",
    "expected_shapes", "get_architecture", "load_model", "model_from_state_dict", "parse_unit",
    "parse_units", "read_weights", "save_safetensors", "save_torch", "unit_at",
]
