"""Clean-room tests of a circuit spec: build it, run its own checks on the build, and test the
checks themselves by mutation (does a wrong circuit fail them?)."""

from .checked import CheckedBuild, check_build, designed_units, without_rules
from .mutants import Mutant, derive_mutants
from .mutation import MutationReport, mutation_test

__all__ = ["CheckedBuild", "Mutant", "MutationReport", "check_build", "derive_mutants", "designed_units", "mutation_test",
           "without_rules"]
