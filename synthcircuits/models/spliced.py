"""Spliced networks: a trained network whose chosen units take the values a circuit computes for
them on the same image, while every other unit keeps its own computation.

A side path runs the circuit beside the network: from the image (a compact clean-room circuit,
or a circuit that differs from the network from its first layer on), or from the output of the
network's own stage `fork`, below which the circuit's weights are the network's (so that part
is computed once, shared). At the replaced units' pre-activation point, their channels are
overwritten by the circuit's pre-activations; the network's ReLU, its other channels and
everything downstream read that point as usual. Nothing else is rewritten: every unit outside
the replaced set computes exactly what the unedited network computes from the same inputs.

A spliced network is one module (one weights file, one ONNX graph). Its file holds the base's
tensors under `base.`, each side path's circuit under `side{i}.`: a compact circuit in full, a
circuit of the base's architecture as the tensors in which it differs from the base.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from ..layout.keys import conv_name
from .compact import CompactNet, compact_from_metadata
from .staged import NO_TAP, Stage, Tap, run_stages, run_stages_from
from .weights import check_shapes

SIDE_PATHS_KEY = "synthcircuits.side_paths"
OLD_SPLICE_KEY = "synthcircuits.splice"  # written by versions before exact splicing
SPLICED = "spliced"  # the architecture such a file declares
MAX_SIDE_PATHS = 64  # a file describing more is refused before any network is built


@dataclass(frozen=True)
class SidePath:
    """Which units of the network a circuit replaces, and where the circuit's values come from.

    `point` is the network's pre-activation hook point holding the units (`mixed3b_5x5_pre_relu`,
    `conv2d2_pre_relu`), `channels` their channels there; the circuit's values are its
    `circuit_point` channels `circuit_channels`, in the same order, computed by the circuit's
    stages up to `layer` from `fork`'s output (None: from the image)."""

    layer: str
    point: str
    channels: tuple[int, ...]
    circuit_point: str
    circuit_channels: tuple[int, ...]
    fork: str | None

    def as_json(self) -> dict:
        return {**asdict(self), "channels": list(self.channels), "circuit_channels": list(self.circuit_channels)}


class ReplacingTap(Tap):
    """Passes everything to `outer`, after overwriting `channels` of `point` with `values`."""

    def __init__(self, outer: Tap, point: str, channels: Tensor, values: Tensor):
        self.outer, self.point, self.channels, self.replacement = outer, point, channels, values
        self.relu, self.crops = outer.relu, outer.crops
        self.wanted, self.values = outer.wanted, outer.values

    def wants(self, name: str) -> bool:
        return self.outer.wants(name)

    def __call__(self, name: str, value: Tensor) -> Tensor:
        if name == self.point:
            value = value.index_copy(1, self.channels, self.replacement.to(value.dtype))
        return self.outer(name, value)


class SplicedModel(nn.Module):
    """`base` with side circuits: circuit `i` computes the units of `paths[i]` (all in one layer,
    from one fork), in one run of its stages per forward."""

    def __init__(self, base: nn.Module, circuits: Sequence[nn.Module], paths: Sequence[Sequence[SidePath]]):
        super().__init__()
        if len(circuits) != len(paths) or not paths or not all(paths):
            raise ValueError("a spliced model needs side paths for each of its circuits")
        if any(len({(p.layer, p.fork) for p in own}) != 1 for own in paths):
            raise ValueError("one circuit's side paths share one layer and one fork")
        self.base, self.paths = base, tuple(tuple(own) for own in paths)
        self.circuits = nn.ModuleList(circuits)
        self.architecture = base.architecture
        for i, own in enumerate(self.paths):
            for j, path in enumerate(own):
                self.register_buffer(f"channels_{i}_{j}", torch.tensor(path.channels), persistent=False)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        return x  # the first stage preprocesses for the network; side paths from the image do their own

    def forward(self, x: Tensor) -> Tensor:
        return run_stages(self, x, NO_TAP, self.base.architecture.classifier)

    def stages(self) -> Sequence[tuple[str, Stage]]:
        kept: dict[str, Tensor] = {}  # this run's image and fork outputs, for the side paths
        forks = {own[0].fork for own in self.paths} - {None}
        stages, before = [], None
        for k, (name, fn) in enumerate(self.base.stages()):
            here = [i for i, own in enumerate(self.paths) if own[0].layer == name]
            if here:
                fn = self._spliced(fn, here, kept)
            if before in forks:  # the fork's output as this stage reads it (after any intervention on it)
                fn = _keeping_input(fn, before, kept)
            if k == 0:
                fn = self._first(fn, kept)
            stages.append((name, fn))
            before = name
        return stages

    def _first(self, fn: Stage, kept: dict[str, Tensor]) -> Stage:
        def run(x: Tensor, tap: Tap) -> Tensor:
            kept[""] = x
            return fn(self.base.preprocess(x), tap)

        return run

    def _spliced(self, fn: Stage, circuits: Sequence[int], kept: dict[str, Tensor]) -> Stage:
        def run(h: Tensor, tap: Tap) -> Tensor:
            for i in circuits:
                own = self.paths[i]
                values = circuit_values(self.circuits[i], own, kept[own[0].fork or ""], tap)
                for j, (path, value) in enumerate(zip(own, values)):
                    tap = ReplacingTap(tap, path.point, getattr(self, f"channels_{i}_{j}"), value)
            return fn(h, tap)

        return run

    def geometry(self):
        return self.base.geometry()

    def hook_points(self) -> dict[str, str]:
        return self.base.hook_points()

    def side_path_metadata(self) -> str:
        described = []
        for own, circuit in zip(self.paths, self.circuits):
            kind = {"kind": "compact", "layout": json.loads(circuit.layout_metadata())} if isinstance(circuit, CompactNet) else {"kind": "overlay"}
            described.append({**kind, "paths": [path.as_json() for path in own]})
        return json.dumps({"base_architecture": self.base.architecture.name, "circuits": described})

    def file_tensors(self) -> dict[str, Tensor]:
        """What a spliced file holds: the base's tensors, and each circuit's (an overlay circuit's
        only where they differ from the base's)."""
        base = self.base.state_dict()
        tensors = {f"base.{k}": v for k, v in base.items()}
        for i, circuit in enumerate(self.circuits):
            for key, value in circuit.state_dict().items():
                if isinstance(circuit, CompactNet) or key not in base or not torch.equal(value, base[key]):
                    tensors[f"side{i}.{key}"] = value
        return tensors


def circuit_values(circuit: nn.Module, paths: Sequence[SidePath], start: Tensor, tap: Tap = NO_TAP) -> list[Tensor]:
    """The circuit's pre-activations for each path's units (its `circuit_point`, `circuit_channels`),
    from one run of its stages from `start` (the image when the paths have no fork, else the fork
    stage's output)."""
    fork, layer = paths[0].fork, paths[0].layer
    side = Tap([p.circuit_point for p in paths], tap.relu, tap.crops)
    if fork is None:
        run_stages(circuit, start, side, layer)
    else:
        run_stages_from(circuit, start, fork, side, layer)
    return [side.values[p.circuit_point][:, list(p.circuit_channels)] for p in paths]


def _keeping_input(fn: Stage, name: str, kept: dict[str, Tensor]) -> Stage:
    def run(h: Tensor, tap: Tap) -> Tensor:
        kept[name] = h
        return fn(h, tap)

    return run


def spliced_from_file(tensors: Mapping[str, Tensor], metadata: Mapping[str, str], source: str, model_from_state_dict) -> SplicedModel:
    """The spliced model a file holds, after checking its description against its tensors
    (`model_from_state_dict(state, architecture, where)` builds the base and overlay circuits)."""
    hint = "write the file again with `synthcircuits edit ... -o FILE`"
    if SIDE_PATHS_KEY not in metadata and OLD_SPLICE_KEY in metadata:
        raise WeightsError(f"{source}: a spliced model from an earlier version of synthcircuits (before exact splicing)", hint=hint)
    try:
        info = json.loads(metadata[SIDE_PATHS_KEY])
        architecture = str(info["base_architecture"])
        described = [(c["kind"], c.get("layout"), [_side_path(p) for p in c["paths"]]) for c in info["circuits"]]
        if (not described or sum(len(paths) for _, _, paths in described) > MAX_SIDE_PATHS
                or not all(kind in ("compact", "overlay") and paths for kind, _, paths in described)):
            raise ValueError
    except (KeyError, ValueError, TypeError, AttributeError):
        raise WeightsError(f"{source}: says it is a spliced model, but its {SIDE_PATHS_KEY} metadata is missing or not "
                           "{base_architecture, circuits: [{kind, paths: [{layer, point, channels, circuit_point, circuit_channels, "
                           "fork}]}]}", hint=hint) from None
    base_state = {k[5:]: v for k, v in tensors.items() if k.startswith("base.")}
    base = model_from_state_dict(base_state, architecture, f"{source} (its base. tensors)")
    circuits = []
    for i, (kind, layout, paths) in enumerate(described):
        own = {k[len(f"side{i}."):]: v for k, v in tensors.items() if k.startswith(f"side{i}.")}
        if kind == "compact":
            circuit = compact_from_metadata(json.dumps(layout), source)
            check_shapes(own, {k: tuple(v.shape) for k, v in circuit.state_dict().items()},
                         f"{source}: the side{i}. tensors do not fit the circuit its metadata describes")
            circuit.load_state_dict(own, strict=True)
        else:
            unknown = sorted(set(own) - set(base_state))
            if unknown:
                raise WeightsError(f"{source}: side{i}. holds tensors the base has not: {', '.join(unknown[:3])}", hint=hint)
            circuit = model_from_state_dict({**base_state, **own}, architecture, f"{source} (side circuit {i})")
        if len({(p.layer, p.fork) for p in paths}) != 1:
            raise WeightsError(f"{source}: side circuit {i}'s paths do not share one layer and one fork", hint=hint)
        for path in paths:
            check_side_path(base, circuit, path, f"{source}: side circuit {i}")
        circuits.append(circuit)
    return SplicedModel(base, circuits, [paths for _, _, paths in described]).eval()


def _side_path(p: dict) -> SidePath:
    return SidePath(str(p["layer"]), str(p["point"]), tuple(p["channels"]), str(p["circuit_point"]), tuple(p["circuit_channels"]),
                    None if p["fork"] is None else str(p["fork"]))


def check_side_path(base: nn.Module, circuit: nn.Module, path: SidePath, where: str) -> None:
    """A side path that names points, channels and stages its two networks have, or a WeightsError."""
    stages = [name for name, _ in base.stages()]
    circuit_stages = [name for name, _ in circuit.stages()]
    problems = []
    if path.layer not in stages or path.layer not in circuit_stages:
        problems.append(f"layer {path.layer!r} is not a stage of both networks")
    elif path.fork is not None and not (path.fork in circuit_stages and path.fork in stages[: stages.index(path.layer)]):
        problems.append(f"fork {path.fork!r} is not a stage before {path.layer!r}")
    own, theirs = point_width(base, path.point), point_width(circuit, path.circuit_point)
    if own is None or theirs is None:
        problems.append(f"{path.point!r} / {path.circuit_point!r} are not pre-activation points of the networks")
    elif (len(path.channels) != len(path.circuit_channels) or not path.channels or len(set(path.channels)) != len(path.channels)
          or not all(isinstance(c, int) and 0 <= c < own for c in path.channels)
          or not all(isinstance(c, int) and 0 <= c < theirs for c in path.circuit_channels)):
        problems.append("its channels are not as many distinct channels as the points have")
    if problems:
        raise WeightsError(f"{where}: {'; '.join(problems)}", hint="write the file again with `synthcircuits edit ... -o FILE`")


def point_width(model: nn.Module, point: str) -> int | None:
    """How many channels a conv's pre-activation point has (None: not such a point of `model`)."""
    if not point.endswith("_pre_relu") or point not in model.hook_points():
        return None
    name = point.removesuffix("_pre_relu")
    if isinstance(model, CompactNet):
        return model.convs[name].out_channels if name in model.convs else None
    conv = getattr(model, conv_name(name), None)
    return conv.out_channels if isinstance(conv, nn.Conv2d) else None
