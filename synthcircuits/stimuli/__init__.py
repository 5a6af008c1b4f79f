"""Synthetic stimuli: batched, deterministic, anti-aliased renderers and the sweeps built on them."""

from .render import arcs, center_surround, color_contrast, edges, gabor_patches, lines

__all__ = ["arcs", "center_surround", "color_contrast", "edges", "gabor_patches", "lines"]
