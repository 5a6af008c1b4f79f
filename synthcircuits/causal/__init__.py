"""Causal tools at run time: interventions on activations during a forward, path patching
along one edge, and attribution (gradient x activation, integrated gradients, the articles'
edge attribution) from a target to an earlier layer."""

from .attribution import Attribution, Target, gradient_times_activation, integrated_gradients
from .interventions import Intervention, run_with_interventions
from .paths import Edge, path_patch

__all__ = ["Attribution", "Edge", "Intervention", "Target", "gradient_times_activation", "integrated_gradients", "path_patch",
           "run_with_interventions"]
