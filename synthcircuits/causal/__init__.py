"""Causal tools at run time: interventions on activations during a forward (more to come: path
patching, attribution)."""

from .interventions import Intervention, run_with_interventions

__all__ = ["Intervention", "run_with_interventions"]
