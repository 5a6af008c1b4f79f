"""Export to ONNX, checked against onnxruntime."""

from .onnx_export import ParityError, ParityRow, export_onnx, read_metadata

__all__ = ["ParityError", "ParityRow", "export_onnx", "read_metadata"]
