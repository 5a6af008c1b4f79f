"""Faithfulness: how much of a trained network's behaviour a circuit keeps when it replaces the
network's own units (the Curve Circuits article's splice experiment, as a measurement).

    from synthcircuits.faithfulness import open_circuit, measure_faithfulness
    side = open_circuit(Path("draft.yaml"), trained.state_dict(), trained.architecture, [])
    report = measure_faithfulness(trained, side, items)
    report.recovered_value("top1_agreement", against="mean")
"""

from .circuit import open_circuit
from .measure import measure_faithfulness
from .report import FaithfulnessReport

__all__ = ["FaithfulnessReport", "measure_faithfulness", "open_circuit"]
