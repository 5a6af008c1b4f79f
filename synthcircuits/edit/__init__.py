"""Edits of trained models: ablate, clamp, scale, cut connections, mean-ablate, transplant, splice.

`load_edit` reads an edit spec; `apply_edits` is a pure function from a state dict to a new
one plus a log of every element written; `edited_model` builds the module (with splices).
"""

from .apply import EditResult, apply_edits, edited_model
from .spec import EditOp, EditSpec, load_edit, parse_edit

__all__ = ["EditOp", "EditResult", "EditSpec", "apply_edits", "edited_model", "load_edit", "parse_edit"]
