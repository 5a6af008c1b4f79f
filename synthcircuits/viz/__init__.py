"""Pictures of circuits: feature visualisation, weight diagrams, tuning plots, the HTML report."""

from .featurevis import Objective, visualise
from .images import save_images
from .tuning_plot import plot_orientation_radius, plot_tuning
from .weight_diagram import draw_weight_diagram, incoming_kernels, strongest

__all__ = ["Objective", "draw_weight_diagram", "incoming_kernels", "plot_orientation_radius", "plot_tuning", "save_images",
           "strongest", "visualise"]
