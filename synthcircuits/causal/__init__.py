"""Causal tools at run time: interventions on activations during a forward, and attribution
(gradient x activation, integrated gradients) from a target to an earlier layer."""

from .attribution import Attribution, Target, gradient_times_activation, integrated_gradients
from .interventions import Intervention, run_with_interventions

__all__ = ["Attribution", "Intervention", "Target", "gradient_times_activation", "integrated_gradients", "run_with_interventions"]
