"""Pictures of circuits: feature visualisation, weight diagrams, tuning plots, the HTML report."""

from .featurevis import Request, Settings, visualise, visualise_many
from .images import save_grid, save_images
from .objective_text import parse_objective
from .objectives import Caricature, Channel, Direction, Diversity, Interpolate, Neuron, Objective
from .tuning_plot import plot_orientation_radius, plot_tuning
from .weight_diagram import draw_weight_diagram, incoming_kernels, strongest

__all__ = ["Caricature", "Channel", "Direction", "Diversity", "Interpolate", "Neuron", "Objective", "Request", "Settings",
           "draw_weight_diagram", "incoming_kernels", "parse_objective", "plot_orientation_radius", "plot_tuning", "save_grid",
           "save_images", "strongest", "visualise", "visualise_many"]
