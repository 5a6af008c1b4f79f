"""Plain YAML data -> typed `Spec`, with every check that needs the architecture's layout."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import AddressError
from ..limits import MAX_INCLUDE_DEPTH
from ..layout.address import UnitAddress, parse_unit
from ..layout.architectures import Architecture, Layer, get_architecture
from ..layout.topology import feeding_layer, first_layer
from ..taxonomy import FAMILIES_BY_NAME
from .model import Check, Connection, FaithfulnessClaim, Family, InputRule, PixelKernel, Spec, Tuning, UnitRef, mirror_angle
from .schema import SPATIAL_RULES, validate_structure
from .source import Source, parse_source, read_source

MAX_VARIANTS = 64  # variants of every picture a check's vary: may ask for (each is a forward of every picture)
_FAMILY_INDEX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*(\d+)\s*\]\s*$")


def load_spec(path: str | Path) -> Spec:
    """Read, validate and type a circuit spec file."""
    return spec_from_source(read_source(path))


def parse_spec(text: str, file: str = "<spec>") -> Spec:
    """The same from text (for tests and tools); relative paths resolve against the cwd."""
    return spec_from_source(parse_source(text, file))


def spec_from_source(source: Source) -> Spec:
    if not isinstance(source.data, dict):
        raise source.error((), "a spec is a YAML mapping with synthcircuits, name and families", "see `synthcircuits schema`")
    if "synthcircuits_edit" in source.data:
        raise source.error(("synthcircuits_edit",), "this is an edit spec, not a circuit spec",
                           "apply it with `synthcircuits edit`; check it with `synthcircuits check-spec`")
    validate_structure(source)
    return _Builder(source).spec()


class _Builder:
    def __init__(self, source: Source, chain: tuple[Path, ...] = ()):
        self.src = source
        self.chain = chain or (Path(source.file).resolve(),)
        self.data: dict[str, Any] = source.data
        self.arch = get_architecture(self.data.get("architecture", "inceptionv1"))
        self.base_dir = Path(source.file).parent

    def spec(self) -> Spec:
        includes, included = self._includes()
        own = tuple(self._family(i, raw) for i, raw in enumerate(self.data["families"]))
        families = included + tuple(self._mirrored(f, included + own) for f in own)
        self._check_names_and_placement(families)
        self._check_rules(families)
        base = self._base()
        return Spec(
            name=self.data["name"],
            description=self.data.get("description", ""),
            architecture=self.arch.name,
            families=families,
            connections=tuple(self._connection(i, raw, families) for i, raw in enumerate(self.data.get("connections", []))),
            checks=tuple(self._check(i, raw, families) for i, raw in enumerate(self.data.get("checks", [])) if "faithfulness" not in raw),
            faithfulness=tuple(self._faithfulness(i, raw) for i, raw in enumerate(self.data.get("checks", [])) if "faithfulness" in raw),
            base=base,
            zero=self._zero(base),
            bottleneck_channels=self._bottlenecks(base),
            file=self.src.file,
            content_hash=self._content_hash(includes),
            includes=includes,
        )

    def _content_hash(self, includes: tuple[Path, ...]) -> str:
        """The spec's text and every included spec's: a change to an included family changes the build."""
        digest = hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode())
        for path in includes:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    # -- include ----------------------------------------------------------------------
    def _includes(self) -> tuple[tuple[Path, ...], tuple[Family, ...]]:
        """The families of the specs this one includes (each read by its own builder, so an error in
        one names its own file and line), in order, and every file read."""
        files: list[Path] = []
        families: list[Family] = []
        for j, text in enumerate(self.data.get("include", [])):
            path = Path(text) if Path(text).is_absolute() else self.base_dir / text
            where = ("include", j)
            if not path.is_file():
                raise self.src.error(where, f"included spec {path} does not exist", "give a path relative to this spec file")
            resolved = path.resolve()
            if resolved in self.chain:
                raise self.src.error(where, f"{path} includes this spec again (a cycle: "
                                     f"{' -> '.join(p.name for p in self.chain + (resolved,))})", "remove one of the includes")
            if len(self.chain) >= MAX_INCLUDE_DEPTH:
                raise self.src.error(where, f"includes nest more than {MAX_INCLUDE_DEPTH} specs deep",
                                     "include the specs you build on directly, not through long chains")
            included = self._included(where, path, resolved)
            if included.architecture != self.arch.name:
                raise self.src.error(where, f"{path} is a {included.architecture} spec; this one is {self.arch.name}")
            files += [path, *included.includes]
            families += [f for f in included.families if f.name not in {g.name for g in families}]
        return tuple(dict.fromkeys(files)), tuple(families)

    def _included(self, where: tuple, path: Path, resolved: Path) -> Spec:
        """An included spec, validated as a top spec is: a file that is not a circuit spec is refused
        at the `include:` line that names it; an error inside one is said at its own file:line:col."""
        source = read_source(path)
        if not isinstance(source.data, dict) or "synthcircuits_edit" in source.data or "families" not in source.data:
            raise self.src.error(where, f"included file {path} is not a circuit spec (a YAML mapping with synthcircuits, name and families)",
                                 "include circuit specs only")
        validate_structure(source)
        return _Builder(source, self.chain + (resolved,)).spec()

    # -- mirror -----------------------------------------------------------------------
    def _mirrored(self, family: Family, families: tuple[Family, ...]) -> Family:
        """A `mirror_of:` family takes its original's orientations (reflected left-right), phases,
        period, bias and kind; the graph flips its weights."""
        if family.mirror_of is None:
            return family
        path = family.path + ("mirror_of",)
        original = next((f for f in families if f.name == family.mirror_of), None)
        if original is None:
            raise self.src.error(path, f"unknown family {family.mirror_of!r}", "families: " + ", ".join(f.name for f in families))
        if original.mirror_of is not None:
            raise self.src.error(path, f"{original.name!r} is itself a mirror (of {original.mirror_of!r}); mirror the original")
        if original.layer != family.layer:
            raise self.src.error(path, f"{family.name!r} is in {family.layer} but its original {original.name!r} is in {original.layer}",
                                 "a mirror lives in its original's layer")
        orientations = tuple(mirror_angle(t, original.period, original.axis) for t in original.orientations)
        if family.units is not None and len(family.units) != original.size:
            raise self.src.error(family.path + ("units",), f"{original.name!r} has {original.size} units; its mirror lists {len(family.units)}")
        return replace(family, orientations=orientations, uniform=False, period=original.period, phases=original.phases, axis=original.axis,
                       bias=original.bias, kind=family.kind or original.kind, features=original.features,
                       kernel=original.kernel)

    # -- families ---------------------------------------------------------------------
    def _kind(self, path, raw: dict[str, Any]) -> str:
        """What the census should find this family to be: `kind:`, else the family's name when
        that names a census family, else nothing (the census then reports its units as designed
        but of no named kind)."""
        kind = raw.get("kind")
        if kind is None:
            return raw["name"] if raw["name"] in FAMILIES_BY_NAME else ""
        if kind not in FAMILIES_BY_NAME:
            raise self.src.error(path + ("kind",), f"unknown kind {kind!r}", "one of the census families: " + ", ".join(FAMILIES_BY_NAME))
        return kind

    def _family(self, i: int, raw: dict[str, Any]) -> Family:
        path = ("families", i)
        layer = self._layer(path, raw["layer"])
        units = self._units(path, raw, layer)
        branch = self._branch(path, raw, layer, units)
        axis = raw.get("axis", "orientation")
        if axis == "hue" and raw.get("period", 360) != 360:
            raise self.src.error(path + ("period",), "a hue family turns through 360 degrees of hue", "remove period:")
        period = raw.get("period", 360 if axis == "hue" else 180)
        orientations, uniform = self._orientations(path, raw, period)
        phases = tuple(float(p) for p in raw.get("phases", [0.0]))
        inputs = tuple(rule for j, r in enumerate(raw.get("inputs", [])) for rule in self._input(path + ("inputs", j), r))
        family = Family(
            name=raw["name"],
            layer=layer.name,
            branch=branch,
            orientations=orientations,
            uniform=uniform,
            period=period,
            phases=phases,
            units=units,
            bias=float(raw.get("bias", 0.0)),
            kernel=self._kernel(path, raw, layer, branch),
            inputs=inputs,
            path=path,
            keep=raw.get("keep", False),
            location=self.src.where(path),
            kind=self._kind(path, raw),
            mirror_of=raw.get("mirror_of"),
            axis=axis,
            features=tuple(dict.fromkeys(r.feature for r in inputs if r.feature)),
        )
        if family.mirror_of is not None:
            for key in ("kernel", "inputs", "orientations", "phases", "period", "bias", "keep"):
                if key in raw:
                    raise self.src.error(path + (key,), f"{family.name!r} mirrors {family.mirror_of!r} and takes its {key} from it; "
                                         f"remove {key}:", "write the rule once, on the original")
            return family
        if family.keep:
            self._check_kept(family, raw)
            return family
        if units is not None and len(units) != family.size:
            raise self.src.error(
                path + ("units",),
                f"family {family.name!r} has {family.size} units ({len(orientations)} orientations x "
                f"{len(phases)} phases) but lists {len(units)} addresses",
                "give one address per unit, orientation by orientation, phases within each",
            )
        if layer.name == first_layer(self.arch).name and family.mirror_of is None:
            if self.arch.name != "inceptionv1":
                raise self.src.error(path + ("layer",), f"pixel kernels are compiled for InceptionV1's conv2d0; {self.arch.name}'s "
                                     f"{layer.name} reads its input another way", "keep it as trained: start the circuit a layer later")
            if family.kernel is None:
                raise self.src.error(path, f"family {family.name!r} is in {layer.name}, which reads pixels: give it a kernel", "e.g. kernel: {gabor: {size: 7, wavelength: 4, sigma: 1.5}}")
            if family.inputs:
                raise self.src.error(path + ("inputs",), f"{layer.name} reads pixels, not other families", "describe its weights with kernel:")
        elif family.kernel is not None:
            raise self.src.error(path + ("kernel",), f"kernel: is for the first layer ({first_layer(self.arch).name}); {layer.name} reads other units", "connect it with inputs: rules instead")
        return family

    def _check_kept(self, family: Family, raw) -> None:
        if family.units is None:
            raise self.src.error(family.path, f"kept family {family.name!r} must pin its units: (which trained units it names)")
        for key in ("kernel", "inputs", "bias"):
            if key in raw:
                raise self.src.error(family.path + (key,), f"kept family {family.name!r} keeps its trained weights; remove {key}:")
        if len(family.units) != family.size:
            raise self.src.error(family.path + ("units",), f"family {family.name!r} has {family.size} units but lists {len(family.units)} addresses")

    def _layer(self, path, name: str) -> Layer:
        if not self.arch.has_layer(name):
            raise self.src.error(path + ("layer",), f"unknown layer {name!r}", "layers with units: " + ", ".join(l.name for l in self.arch.layers if l.kind in ("conv", "block")))
        layer = self.arch.layer(name)
        if layer.kind not in ("conv", "block"):
            raise self.src.error(path + ("layer",), f"{layer.name} is a {layer.kind} layer; units are placed in conv layers and inception blocks")
        return layer

    def _units(self, path, raw, layer: Layer) -> tuple[UnitAddress, ...] | None:
        if "units" not in raw:
            return None
        units = []
        for j, text in enumerate(raw["units"]):
            try:
                unit = parse_unit(text, self.arch)
            except AddressError as exc:
                raise self.src.error(path + ("units", j), exc.message, exc.hint) from None
            if unit.layer != layer.name:
                raise self.src.error(path + ("units", j), f"unit {unit} is not in the family's layer {layer.name}")
            units.append(unit)
        return tuple(units)

    def _branch(self, path, raw, layer: Layer, units) -> str | None:
        if not layer.branches:
            if "branch" in raw:
                raise self.src.error(path + ("branch",), f"{layer.name} has no branches; remove branch:")
            return None
        branches = {u.branch for u in units or ()}
        if "branch" in raw:
            branches.add(raw["branch"])
        if not branches:
            raise self.src.error(path, f"family {raw['name']!r} in {layer.name} needs a branch", "add branch: 1x1, 3x3 or 5x5, or pin its units:")
        if len(branches) > 1:
            raise self.src.error(path + ("units",), f"family {raw['name']!r} spans branches {sorted(branches)} of {layer.name}; a family lives in one branch")
        branch = branches.pop()
        if branch == "pool_reduce" and not raw.get("keep"):  # kept units are read, not written
            raise self.src.error(path + ("units",), f"{layer.name} pool_reduce units read a max pool; the compiler does not place units there yet", "use the 1x1, 3x3 or 5x5 branch")
        return branch

    def _orientations(self, path, raw, period: int) -> tuple[tuple[float, ...], bool]:
        value = raw.get("orientations", 1)
        if isinstance(value, int):
            return tuple(period * k / value for k in range(value)), True
        return tuple(float(v) % 360.0 for v in value), False

    def _kernel(self, path, raw, layer: Layer, branch) -> PixelKernel | None:
        if "kernel" not in raw:
            return None
        (kind, params), = raw["kernel"].items()
        limit = layer.unit_kernel(branch)
        size = params.get("size")
        if kind == "explicit":
            size = self._explicit_size(path + ("kernel", "explicit", "weights"), params["weights"])
        if size % 2 == 0:
            raise self.src.error(path + ("kernel", kind, "size"), f"kernel size {size} is even; kernels are centred, so give an odd size")
        if size > limit:
            raise self.src.error(path + ("kernel", kind, "size"), f"kernel size {size} is larger than {layer.name}'s {limit}x{limit} conv", f"use size <= {limit}")
        return PixelKernel(kind, dict(params))

    def _explicit_size(self, path, weights) -> int:
        import numpy as np

        try:
            array = np.asarray(weights, dtype=float)
        except (ValueError, TypeError):
            raise self.src.error(path, "explicit weights must be a rectangular array of numbers") from None
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[0] not in (1, 3) or array.shape[1] != array.shape[2]:
            raise self.src.error(path, f"explicit weights of shape {list(array.shape)}: give k x k or 3 x k x k")
        return array.shape[1]

    def _input(self, path, raw) -> list[InputRule]:
        """One rule per family named in `from:` (a list reads several families the same way)."""
        spatial = [k for k in SPATIAL_RULES if k in raw]
        if len(spatial) > 1:
            raise self.src.error(path, f"an input rule takes one spatial pattern, got {', '.join(spatial)}", "write two rules from the same family to sum patterns")
        kind = spatial[0] if spatial else "center"
        params = {k: (v if isinstance(v, str) else float(v)) for k, v in raw.get(kind, {}).items()}
        t = raw.get("tuning", {})
        table = None
        if "table" in t:
            table = tuple(sorted((float(k), float(v)) for k, v in t["table"].items()))
        if t.get("every") and (table or "inhibit" in t or "width_deg" in t):
            raise self.src.error(path + ("tuning",), "every: reads all units alike; it takes no table, inhibit or width_deg",
                                 "keep excite: for its weight")
        tuning = Tuning(float(t.get("excite", 1.0)), float(t.get("inhibit", 0.0)), float(t.get("width_deg", 20.0)), table,
                        bool(t.get("every", False)))
        sources = [raw["from"]] if isinstance(raw["from"], str) else raw["from"]
        if len(set(sources)) != len(sources):
            raise self.src.error(path + ("from",), "a family is named twice in from:", "name each family once")
        return [InputRule(source, kind, params, tuning, float(raw.get("gain", 1.0)), path, float(raw.get("turn", 0.0)), raw.get("feature", ""),
                          self.src.where(path))
                for source in sources]

    # -- cross-family checks ----------------------------------------------------------
    def _check_names_and_placement(self, families: tuple[Family, ...]) -> None:
        seen_names: dict[str, Family] = {}
        placed: dict[UnitAddress, Family] = {}
        for family in families:
            if family.name in seen_names:
                raise self.src.error(family.path + ("name",), f"two families are called {family.name!r}", "family names must be unique")
            seen_names[family.name] = family
            for j, unit in enumerate(family.units or ()):
                if unit in placed:
                    raise self.src.error(
                        family.path + ("units", j),
                        f"unit {unit} is placed twice: by {placed[unit].name!r} and {family.name!r}",
                        "each channel holds one unit",
                    )
                placed[unit] = family

    def _check_rules(self, families: tuple[Family, ...]) -> None:
        by_name = {f.name: f for f in families}
        for family in families:
            feeder = feeding_layer(self.arch, family.layer)
            for rule in family.inputs:
                source = by_name.get(rule.source)
                if source is None:
                    raise self.src.error(rule.path + ("from",), f"unknown family {rule.source!r}", "families: " + ", ".join(by_name))
                if feeder is None or source.layer != feeder.name:
                    raise self.src.error(
                        rule.path + ("from",),
                        f"{family.name!r} in {family.layer} cannot read {source.name!r} in {source.layer}: "
                        f"{family.layer} reads {feeder.name if feeder else 'pixels'}",
                        f"put a family in {feeder.name if feeder else 'the first layer'} between them",
                    )
                self._check_steps(family, source, rule)
                if rule.tuning.table:
                    half = source.period / 2
                    bad = [d for d, _ in rule.tuning.table if d > half]
                    if bad:
                        raise self.src.error(rule.path + ("tuning", "table"), f"table angle {bad[0]:g} is beyond {half:g}, half of {source.name!r}'s period")

    def _check_steps(self, target: Family, source: Family, rule: InputRule) -> None:
        """Uniform families share one rule across rotations only if the steps line up."""
        if not (target.uniform and source.uniform) or len(target.orientations) == 1 or len(source.orientations) == 1:
            return  # a single copy on either side: nothing to line up
        if rule.tuning.every or target.axis != source.axis:
            return  # the rule reads every source alike, or turns in another axis than the target
        ratio = target.step / source.step
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise self.src.error(
                target.path + ("orientations",),
                f"{target.name!r} turns in steps of {target.step:g} deg but its input {source.name!r} in steps of "
                f"{source.step:g} deg; the orientation count does not divide, so rotated copies would not share the rule",
                f"make {target.name!r}'s step a multiple of {source.step:g} deg (e.g. orientations: "
                f"{max(1, int(target.period // source.step))})",
            )

    def _connection(self, i: int, raw, families) -> Connection:
        path = ("connections", i)
        source = self._unit_ref(path + ("from",), raw["from"], families)
        target = self._unit_ref(path + ("to",), raw["to"], families)
        src_family = next(f for f in families if f.name == source.family)
        dst_family = next(f for f in families if f.name == target.family)
        feeder = feeding_layer(self.arch, dst_family.layer)
        if feeder is None or feeder.name != src_family.layer:
            raise self.src.error(path + ("from",), f"{raw['from']} in {src_family.layer} does not feed {raw['to']} in {dst_family.layer}")
        if ("weight" in raw) == ("kernel" in raw):
            raise self.src.error(path, "a connection takes weight: (centre tap) or kernel:, exactly one")
        kernel = tuple(tuple(float(v) for v in row) for row in raw["kernel"]) if "kernel" in raw else None
        if kernel is not None:
            size = len(kernel)
            limit = self.arch.layer(dst_family.layer).unit_kernel(dst_family.branch)
            if any(len(row) != size for row in kernel) or size % 2 == 0 or size > limit:
                raise self.src.error(path + ("kernel",), f"kernel must be square, odd and at most {limit}x{limit} here")
        return Connection(source, target, float(raw["weight"]) if "weight" in raw else None, kernel, path)

    def _faithfulness(self, i: int, raw) -> FaithfulnessClaim:
        """A network-level claim: its files exist, its units are addresses, and it stands alone."""
        path = ("checks", i)
        others = [key for key in ("units", "expect", "stimulus", "pictures") if key in raw]
        if others:
            raise self.src.error(path + (others[0],), f"a faithfulness: check measures the spliced network; {others[0]}: belongs to "
                                 "a stimulus check", "write them as two checks")
        claim = raw["faithfulness"]
        where = path + ("faithfulness",)

        def existing(key: str) -> Path:
            found = Path(claim[key]) if Path(claim[key]).is_absolute() else self.base_dir / claim[key]
            if not found.exists():
                raise self.src.error(where + (key,), f"{found} does not exist", "give a path relative to this spec file")
            return found

        images = existing("images")
        labelled = images.is_dir() and any(p.is_dir() for p in images.iterdir())
        if claim.get("measure") in ("top1", "top5") and not labelled:
            raise self.src.error(where + ("measure",), f"{claim['measure']} accuracy needs labelled images",
                                 "give a folder with a subfolder per class (and class_map: for WordNet ids)")
        units = []
        for j, text in enumerate(claim.get("units", [])):
            try:
                units.append(parse_unit(text, self.arch))
            except AddressError as exc:
                raise self.src.error(where + ("units", j), exc.message, exc.hint) from None
        return FaithfulnessClaim(raw.get("name", f"check {i + 1}"), images, float(claim["recovers_at_least"]),
                                 claim.get("measure", "top1_agreement"), "zero" if claim.get("against") == "silencing" else "mean",
                                 tuple(units), existing("class_map") if "class_map" in claim else None, claim.get("limit"), where)

    def _check(self, i: int, raw, families) -> Check:
        path = ("checks", i)
        for key in ("units", "expect"):
            if key not in raw:
                raise self.src.error(path, f"a check needs {key}: (or is a faithfulness: claim)",
                                     "e.g. {units: curve, expect: {preferred_orientation_within_deg: 15}}")
        names = [raw["units"]] if isinstance(raw["units"], str) else raw["units"]
        by_name = {f.name: f for f in families}
        units: list[UnitRef] = []
        for j, name in enumerate(names):
            where = path + ("units",) if isinstance(raw["units"], str) else path + ("units", j)
            if name in by_name:
                units += [UnitRef(name, k) for k in range(by_name[name].size)]
            else:
                units.append(self._unit_ref(where, name, families))
        stimulus = raw.get("stimulus", "radial_tuning")
        sweep = stimulus if isinstance(stimulus, str) else next(iter(stimulus))
        params = {} if isinstance(stimulus, str) else dict(stimulus[sweep])
        expect = dict(raw["expect"])
        directed = {by_name[u.family].period for u in units}
        for key in ("echo_at_most", "echo_at_least"):
            if key in expect and directed != {360}:
                raise self.src.error(path + ("expect", key), "echo is measured on directed families (period: 360)")
        if sweep == "line_tuning" and directed != {180}:
            raise self.src.error(path + ("stimulus",), "line_tuning turns lines over 180 degrees, for line families (period: 180)",
                                 "check directed families with radial_tuning")
        if "uniform_at_most" in expect and sweep not in ("boundary_tuning", "hue_tuning"):
            raise self.src.error(path + ("expect", "uniform_at_most"), "uniform_at_most is measured with stimulus: boundary_tuning or hue_tuning")
        if sweep == "circle_tuning" and "radius" not in params:
            raise self.src.error(path + ("stimulus",), "circle_tuning needs the designed radius", "e.g. stimulus: {circle_tuning: {radius: 32}}")
        for key, needs in (("radius_within_fraction", "circle_tuning"), ("circle_arc_ratio_at_least", "circle_tuning"),
                           ("circle_half_circle_ratio_at_least", "circle_tuning"),
                           ("curve_line_ratio_at_least", "radial_tuning"),
                           ("preferred_orientation_across_geometry_within_deg", "radial_tuning")):
            if key in expect and sweep != needs:
                raise self.src.error(path + ("expect", key), f"{key} is measured with stimulus: {needs}")
        pictures = dict(raw.get("pictures", {}))
        self._check_pictures(path, pictures, expect, units, by_name)
        for key in ("at", "vary"):
            if key in raw and not pictures:
                raise self.src.error(path + (key,), f"{key}: says how picture claims are read; this check has no pictures:")
        vary = dict(raw.get("vary", {}))
        combinations = 1
        for values in vary.values():
            combinations *= len(values)
        if combinations > MAX_VARIANTS:
            raise self.src.error(path + ("vary",), f"vary: makes {combinations} variants of every picture; at most {MAX_VARIANTS}",
                                 "vary fewer things at once, or write two checks")
        return Check(raw.get("name", f"check {i + 1}"), tuple(units), params, expect, path, sweep, pictures,
                     self.src.where(path + ("pictures",) if pictures else path), raw.get("at", "centre"), vary)

    def _check_pictures(self, path, pictures: dict, expect: dict, units: list[UnitRef], by_name: dict[str, Family]) -> None:
        """Every picture an expectation names exists; derived pictures name a drawn one; feature names
        and mirror partners are the checked units' own."""
        def known(where, name):
            if name not in pictures:
                raise self.src.error(where, f"no picture called {name!r} in this check", "pictures: " + (", ".join(pictures) or "none"))

        sizes = {name: picture.get("size", 223) for name, picture in pictures.items() if "of" not in picture}
        if len(set(sizes.values())) > 1:
            odd = next(name for name, size in sizes.items() if size != next(iter(sizes.values())))
            raise self.src.error(path + ("pictures", odd), f"the pictures of one check are measured in one batch and share a size; "
                                 f"{odd!r} is {sizes[odd]} px, {next(iter(sizes))!r} {next(iter(sizes.values()))} px",
                                 "give them all the same size: (223 by default)")
        for name, picture in pictures.items():
            where = path + ("pictures", name)
            if ("of" in picture) != ("flip" in picture):
                raise self.src.error(where, "a derived picture gives both of: and flip:")
            if "of" in picture:
                known(where + ("of",), picture["of"])
                if "of" in pictures[picture["of"]]:
                    raise self.src.error(where + ("of",), f"{picture['of']!r} is itself derived; flip a drawn picture")
                if "parts" in picture:
                    raise self.src.error(where + ("parts",), "a derived picture draws nothing of its own; remove parts: or of:")
            elif not picture.get("parts"):
                raise self.src.error(where, "a picture needs parts: (or of: and flip:)")
            for j, part in enumerate(picture.get("parts", [])):
                if "image" in part:
                    image = Path(part["image"]["path"])
                    image = image if image.is_absolute() else self.base_dir / image
                    if not image.is_file():
                        raise self.src.error(where + ("parts", j, "image", "path"), f"image file {image} does not exist",
                                             "give a path relative to the spec file")
                if "visualisation" in part:  # its unit is the model's: an address of the spec's architecture
                    try:
                        parse_unit(part["visualisation"]["unit"], self.arch)
                    except AddressError as exc:
                        raise self.src.error(where + ("parts", j, "visualisation", "unit"), exc.message, exc.hint) from None
        def each(key):
            value = expect.get(key, [])
            for j, claim in enumerate([value] if isinstance(value, dict) else value):
                yield path + ("expect", key) + (() if isinstance(value, dict) else (j,)), claim

        for where, ratio in each("ratio"):
            if ("at_least" in ratio) == ("at_most" in ratio):
                raise self.src.error(where, "a ratio takes at_least: or at_most:, exactly one")
            for key in ("of", "over"):
                known(where + (key,), ratio[key])
        for where, answer in each("answer"):
            if "at_least" not in answer and "at_most" not in answer:
                raise self.src.error(where, "an answer takes at_least:, at_most: or both")
            known(where + ("to",), answer["to"])
        for where, conjunction in each("conjunction"):
            known(where + ("of",), conjunction["of"])
            if len(pictures[conjunction["of"]].get("parts", [])) < 2:
                raise self.src.error(where + ("of",), f"{conjunction['of']!r} is not drawn from two or more parts, so no part can be "
                                     "left out", "name a drawn picture with several parts")
        needs_pictures = [k for k in ("ratio", "answer", "conjunction", "mirror_partner", "flip_balance_within", "features") if k in expect]
        if needs_pictures and not pictures:
            raise self.src.error(path + ("expect", needs_pictures[0]), f"{needs_pictures[0]} compares answers to pictures; add pictures:")
        if "mirror_partner" in expect:
            partner = by_name.get(expect["mirror_partner"])
            if partner is None:
                raise self.src.error(path + ("expect", "mirror_partner"), f"unknown family {expect['mirror_partner']!r}")
            checked = {u.family for u in units}
            if len(checked) != 1 or by_name[checked.pop()].size != partner.size:
                raise self.src.error(path + ("expect", "mirror_partner"), "mirror_partner compares one family with another of the same size",
                                     "check one family's units")
        if "features" in expect:
            carried = {feature for u in units for feature in by_name[u.family].features}
            for feature, picture in expect["features"]["answers"].items():
                where = path + ("expect", "features", "answers", feature)
                if feature not in carried:
                    raise self.src.error(where, f"no rule of the checked units carries feature {feature!r}",
                                         "features: " + (", ".join(sorted(carried)) or "none (label rules with feature:)"))
                known(where, picture)

    def _unit_ref(self, path, text: str, families) -> UnitRef:
        match = _FAMILY_INDEX.match(text)
        if match:
            name, index = match.group(1), int(match.group(2))
            family = next((f for f in families if f.name == name), None)
            if family is None:
                raise self.src.error(path, f"unknown family {name!r}", "families: " + ", ".join(f.name for f in families))
            if index >= family.size:
                raise self.src.error(path, f"{name!r} has {family.size} units (0-{family.size - 1}), not {index}")
            return UnitRef(name, index)
        try:
            unit = parse_unit(text, self.arch)
        except AddressError as exc:
            raise self.src.error(path, exc.message, "name a unit as family[index] or by an address a family pins") from None
        for family in families:
            if family.units and unit in family.units:
                return UnitRef(family.name, family.units.index(unit))
        raise self.src.error(path, f"no family of this spec places a unit at {unit}", "connections join units of the spec")

    # -- patching ---------------------------------------------------------------------
    def _patches(self) -> bool:
        """A spec patches trained weights when it names a base or keeps trained units (whose base
        can also come at build time: `build --base`)."""
        return "base" in self.data or any(raw.get("keep") for raw in self.data["families"])

    def _base(self) -> Path | None:
        if "base" not in self.data:
            return None
        base = Path(self.data["base"])
        base = base if base.is_absolute() else self.base_dir / base
        if not base.is_file():
            raise self.src.error(("base",), f"base weights file {base} does not exist", "give a path relative to the spec file")
        return base

    def _zero(self, base) -> tuple[UnitAddress, ...]:
        raw = self.data.get("zero", [])
        if raw and not self._patches():
            raise self.src.error(("zero",), "zero: is for patching trained weights; without base: (or kept units) every unit outside "
                                 "the spec is zero already")
        units = []
        for j, text in enumerate(raw):
            try:
                units.append(parse_unit(text, self.arch))
            except AddressError as exc:
                raise self.src.error(("zero", j), exc.message, exc.hint) from None
        return tuple(units)

    def _bottlenecks(self, base) -> dict[str, tuple[int, ...]]:
        raw = self.data.get("bottleneck_channels", {})
        if raw and not self._patches():
            raise self.src.error(("bottleneck_channels",), "bottleneck_channels: is for patching trained weights (base:, or kept "
                                 "units); without them the compiler owns every channel")
        result = {}
        for key, channels in raw.items():
            block, branch = key.rsplit("_", 1)
            if not self.arch.has_layer(block):
                raise self.src.error(("bottleneck_channels", key), f"unknown block {block!r}")
            width = self.arch.layer(block).branch(branch).bottleneck
            bad = [c for c in channels if c >= width]
            if bad:
                raise self.src.error(("bottleneck_channels", key), f"{key} bottleneck has {width} channels; {bad[0]} is out of range")
            result[key] = tuple(channels)
        return result
