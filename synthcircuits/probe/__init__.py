"""Probing models with stimuli: tuning curves, unit-level probing, comparisons and checks."""

from .compare import UnitComparison, compare_models
from .tuning import ProbeUnit, RadialSweep, TuningCurve, radial_tuning, responses_at_centre

__all__ = ["ProbeUnit", "RadialSweep", "TuningCurve", "UnitComparison", "compare_models", "radial_tuning", "responses_at_centre"]
