"""Circuit specs: YAML -> validated, typed `Spec`. Knows layouts, not torch modules."""

from .model import Connection, Family, InputRule, PixelKernel, Spec, Tuning, UnitRef
from .parse import load_spec, parse_spec
from .schema import SPEC_SCHEMA
from .source import SpecError

__all__ = [
    "Connection", "Family", "InputRule", "PixelKernel", "SPEC_SCHEMA", "Spec", "SpecError", "Tuning",
    "UnitRef", "load_spec", "parse_spec",
]
