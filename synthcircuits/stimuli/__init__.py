"""Synthetic stimuli: batched, deterministic, anti-aliased renderers and the sweeps built on them."""

from .render import (CUES, arcs, center_surround, color_contrast, cue_boundaries, edges, fields, gabor_patches, gratings, half_gratings,
                     hatches, lines, ramps, rays, rings)

__all__ = ["CUES", "cue_boundaries", "arcs", "center_surround", "color_contrast", "edges", "fields", "gabor_patches", "gratings", "half_gratings", "hatches",
           "lines", "ramps", "rays", "rings"]
