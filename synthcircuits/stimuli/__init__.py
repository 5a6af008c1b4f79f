"""Synthetic stimuli: batched, deterministic, anti-aliased renderers and the sweeps built on them."""

from .render import (arcs, center_surround, color_contrast, edges, fields, gabor_patches, gratings, half_gratings, hatches, lines,
                     ramps, rays, rings)

__all__ = ["arcs", "center_surround", "color_contrast", "edges", "fields", "gabor_patches", "gratings", "half_gratings", "hatches",
           "lines", "ramps", "rays", "rings"]
