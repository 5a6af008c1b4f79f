"""Pictures of circuits: tuning plots (more to come: weight diagrams, feature visualisation)."""

from .tuning_plot import plot_tuning

__all__ = ["plot_tuning"]
