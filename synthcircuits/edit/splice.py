"""Splicing: a compiled circuit runs beside a trained model, and its units' outputs replace
the same channels of the trained model's layer. Still one module (and one ONNX graph).

The circuit's own lower layers (its lines, early curves) live only on the side path, so
they overwrite nothing in the trained model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from ..models.compact import CompactNet, compact_from_metadata
from ..models.weights import check_shapes
from ..models.staged import NO_TAP, Stage, Tap, run_stages
from .spec import EditOp, edit_error


class SplicedModel(nn.Module):
    def __init__(self, base: nn.Module, circuit: CompactNet, layer: str, base_channels: Sequence[int], circuit_channels: Sequence[int]):
        super().__init__()
        self.base, self.circuit, self.layer = base, circuit, layer
        self.architecture = base.architecture
        self.register_buffer("base_channels", torch.tensor(list(base_channels)), persistent=False)
        self.register_buffer("circuit_channels", torch.tensor(list(circuit_channels)), persistent=False)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        return x  # each path applies its own preprocessing

    def forward(self, x: Tensor) -> Tensor:
        last = self.base.stages()[-2][0]  # the logits, as the base model's forward returns
        return run_stages(self, x, NO_TAP, last)

    def stages(self) -> Sequence[tuple[str, Stage]]:
        images: dict[str, Tensor] = {}  # this run's input, for the side path
        stages = list(self.base.stages())
        first_name, first = stages[0]

        def start(x: Tensor, tap: Tap) -> Tensor:
            images["x"] = x
            return first(self.base.preprocess(x), tap)

        def spliced(fn: Stage) -> Stage:
            def run(h: Tensor, tap: Tap) -> Tensor:
                out = fn(h, tap)
                side = run_stages(self.circuit, images["x"], NO_TAP, self.layer)
                return out.index_copy(1, self.base_channels, side.index_select(1, self.circuit_channels))

            return run

        stages[0] = (first_name, start)
        return [(name, spliced(fn) if name == self.layer else fn) for name, fn in stages]

    def geometry(self):
        return self.base.geometry()

    def hook_points(self) -> dict[str, str]:
        return self.base.hook_points()

    def splice_metadata(self) -> str:
        return json.dumps({"layer": self.layer, "base_channels": self.base_channels.tolist(),
                           "circuit_channels": self.circuit_channels.tolist(), "circuit_layout": json.loads(self.circuit.layout_metadata())})


def splice_circuit(model: nn.Module, op: EditOp) -> SplicedModel:
    """Compile the op's circuit spec (compact) and splice the named units (default: the units
    its deepest layer pins) into `model`."""
    from ..compile import compile_spec
    from ..language import load_spec

    build = compile_spec(load_spec(op.path), "compact")
    deepest = build.compact_layers[-1].name
    records = {u.address: u for u in build.units if u.address is not None}
    wanted = op.units or tuple(u.address for u in build.units if u.layer == deepest and u.address is not None)
    missing = [str(u) for u in wanted if u not in records]
    if missing:
        raise edit_error(op, f"{op.path.name} does not place {', '.join(missing)}", "splice units the circuit spec pins")
    layers = {records[u].layer for u in wanted}
    if len(layers) != 1:
        raise edit_error(op, f"a splice replaces units of one layer; these span {sorted(layers)}")
    (layer,) = layers
    if layer != deepest:
        raise edit_error(op, f"splice units from the circuit's deepest layer ({deepest}); {layer} units would cut the side path short")
    return SplicedModel(model, build.model(), layer, [u.channel for u in wanted], [records[u].channel for u in wanted])


SPLICE_KEY = "synthcircuits.splice"


def _width(circuit: CompactNet, layer: str) -> int:
    return next((l.out_channels for l in circuit.layers if l.name == layer), 0)


def spliced_from_weights(tensors: dict[str, Tensor], metadata: dict[str, str], base_architecture: str,
                         source: str = "the file") -> SplicedModel:
    from ..models.zoo import model_from_state_dict

    hint = "write the file again with `synthcircuits edit ... -o FILE`"
    try:
        info = json.loads(metadata[SPLICE_KEY])
        layer, base_channels, circuit_channels = info["layer"], list(info["base_channels"]), list(info["circuit_channels"])
        layout = json.dumps(info["circuit_layout"])
    except (KeyError, ValueError, TypeError):
        raise WeightsError(f"{source}: says it is a spliced model, but its {SPLICE_KEY} metadata is missing or not "
                           "{layer, base_channels, circuit_channels, circuit_layout}", hint=hint) from None
    base = model_from_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("base.")}, base_architecture,
                                 f"{source} (its base. tensors)")
    circuit = compact_from_metadata(layout, source)
    circuit_tensors = {k[8:]: v for k, v in tensors.items() if k.startswith("circuit.")}
    check_shapes(circuit_tensors, {k: tuple(v.shape) for k, v in circuit.state_dict().items()},
                 f"{source}: the circuit. tensors do not fit the circuit its metadata describes")
    circuit.load_state_dict(circuit_tensors, strict=True)
    sizes = {len(base_channels), len(circuit_channels)}
    if (len(sizes) != 1 or not base.architecture.has_layer(str(layer))
            or not all(isinstance(c, int) and 0 <= c < base.architecture.layer(layer).channels for c in base_channels)
            or not all(isinstance(c, int) and 0 <= c < _width(circuit, layer) for c in circuit_channels)):
        raise WeightsError(f"{source}: its {SPLICE_KEY} metadata names channels its layer {layer!r} does not have", hint=hint)
    return SplicedModel(base, circuit, layer, base_channels, circuit_channels).eval()
