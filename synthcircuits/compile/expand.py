"""Expanded weights are the compiler's inverse: compiling a spec and expanding gives back the
spec's weights. The functions live with the models (`models.expanded`), which every command
that reads weights uses; the compiler's round trip imports them from here."""

from ..models.expanded import compose, expanded_layer_weights

__all__ = ["compose", "expanded_layer_weights"]
