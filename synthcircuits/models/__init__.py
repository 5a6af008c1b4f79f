"""Networks the toolkit studies (hand-written GoogLeNets, compact builds, any traced CNN),
weight files and activation capture. Architecture tables and addresses live in `layout`."""

from .capture import capture
from .graph_model import GraphModel, Preprocessing
from .weights import WeightFile, content_hash, read_weights, save_safetensors, save_torch
from .zoo import (
    architecture_named, architecture_names, build_model, detect_architecture, expected_shapes, fits, load_model,
    model_from_state_dict, weights_metadata,
)

__all__ = [
    "GraphModel", "Preprocessing", "WeightFile", "architecture_named", "architecture_names", "build_model", "capture",
    "content_hash", "detect_architecture", "expected_shapes", "fits", "load_model", "model_from_state_dict",
    "read_weights", "save_safetensors", "save_torch", "weights_metadata",
]
