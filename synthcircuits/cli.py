"""The `synthcircuits` command: parses arguments and calls the library. No logic lives here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import UserError

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthcircuits", description=__doc__)
    parser.add_argument("--version", action="version", version=f"synthcircuits {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for register in _COMMANDS:
        register(sub)
    return parser


# -- commands -----------------------------------------------------------------------------


def _layers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="print an architecture's layers with channel and branch ranges")
    p.add_argument("--arch", default="inceptionv1", help="inceptionv1 (default) or torchvision_googlenet")
    p.set_defaults(handler=_run_layers)


def _run_layers(args: argparse.Namespace) -> int:
    from .models import get_architecture
    from .tables import layer_table

    try:
        arch = get_architecture(args.arch)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    print(layer_table(arch))
    return 0


def _weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="inspect or fetch weight files")
    wsub = p.add_subparsers(metavar="ACTION")
    info = wsub.add_parser("info", help="format, architecture, tensor and parameter counts, content hash")
    info.add_argument("file", type=Path)
    info.set_defaults(handler=_run_weights_info)
    fetch = wsub.add_parser("fetch", help="download Lucent's trained InceptionV1 weights into the cache")
    fetch.add_argument("--url", default=None, help="where to download from (default: Lucent's address)")
    fetch.add_argument("-o", "--output", type=Path, default=None, help="where to put the file (default: cache)")
    fetch.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    fetch.set_defaults(handler=_run_weights_fetch)
    convert = wsub.add_parser("convert", help="convert weights from another format (BVLC GoogLeNet's Caffe files)")
    convert.add_argument("folder", type=Path)
    convert.add_argument("--from", dest="source_format", required=True, choices=["caffe-bin"])
    convert.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors")
    convert.set_defaults(handler=_run_weights_convert)
    diagram = wsub.add_parser("diagram", help="a unit's strongest inputs as red/blue kernels (PNG)")
    diagram.add_argument("unit", help="e.g. mixed3b:379")
    diagram.add_argument("--weights", type=Path, default=None)
    diagram.add_argument("--spec", type=Path, default=None)
    diagram.add_argument("--threshold", type=float, default=0.3, help="show inputs reaching this fraction of the largest weight")
    diagram.add_argument("-o", "--output", type=Path, required=True)
    diagram.add_argument("--device", default="cpu")
    diagram.set_defaults(handler=_run_weights_diagram)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _run_weights_info(args: argparse.Namespace) -> int:
    from .tables import weights_info

    print(weights_info(args.file))
    return 0


def _run_weights_convert(args: argparse.Namespace) -> int:
    from . import __version__
    from .models.caffe import read_caffe_bin
    from .models.weights import content_hash, save_safetensors

    state = read_caffe_bin(args.folder)
    save_safetensors(state, args.output, {"synthcircuits.architecture": "bvlc_googlenet", "synthcircuits.version": __version__,
                                          "synthcircuits.converted_from": "caffe-bin"})
    print(f"saved {args.output}: bvlc_googlenet, {len(state)} tensors, {sum(t.numel() for t in state.values()):,} parameters, "
          f"sha256 {content_hash(state)[:16]}")
    return 0


def _run_weights_diagram(args: argparse.Namespace) -> int:
    from .runtime import resolve_device
    from .viz.run import run_diagram

    return run_diagram(args.unit, args.weights, args.spec, args.output, args.threshold, str(resolve_device(args.device)))


def _run_weights_fetch(args: argparse.Namespace) -> int:
    from .models.fetch import LUCENT_INCEPTIONV1_URL, fetch_weights

    path = fetch_weights(args.url or LUCENT_INCEPTIONV1_URL, args.output, timeout=args.timeout)
    print(f"saved {path}")
    return 0


def _probe(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="capture activations of named layers for images or a .npy batch")
    p.add_argument("--weights", type=Path, default=None, help="weights file (default: the fetched InceptionV1)")
    p.add_argument("--arch", default=None, help="architecture, if the file's cannot be recognised")
    p.add_argument("--layers", required=True, help="comma-separated hook points, e.g. conv2d0,mixed3b")
    p.add_argument("--input", nargs="+", required=True, help="PNG/JPEG files or a .npy batch in [0, 1]")
    p.add_argument("--size", type=int, default=None, help="resize and center-crop images to SIZE")
    p.add_argument("--pre-relu", action="store_true", help="also save LAYER_pre_relu for each layer")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npz, one array per layer")
    p.set_defaults(handler=_run_probe)


def _run_probe(args: argparse.Namespace) -> int:
    from .images import load_inputs
    from .models import capture
    from .runtime import resolve_device, resolve_weights, save_npz

    device = resolve_device(args.device)
    model = resolve_weights(args.weights, args.arch).to(device)
    images = load_inputs(args.input, args.size)
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    acts = capture(model, images, layers, pre_relu=args.pre_relu)
    save_npz({k: v.cpu().numpy() for k, v in acts.items()}, args.output)
    for name, value in acts.items():
        print(f"{name:32s} {list(value.shape)}")
    print(f"saved {args.output}")
    return 0


def _demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in default: no downloads, no weights")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/demo"))
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.output_dir, args.device)


def _build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="compile a circuit spec into weights")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors")
    p.add_argument("--target", default="inceptionv1", help="inceptionv1 (default) or compact")
    p.add_argument("--base", type=Path, default=None, help="InceptionV1 weights to patch (overrides the spec's base:)")
    p.add_argument("--units-out", type=Path, default=None, help="also write each unit's address, family and orientation as JSON")
    p.set_defaults(handler=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    from .compile import compile_spec
    from .models.weights import atomic_target
    from .spec import load_spec

    build = compile_spec(load_spec(args.spec), args.target, args.base)
    build.save(args.output)
    if args.units_out:
        with atomic_target(args.units_out) as tmp:
            tmp.write_text(build.units_json())
    print(build.summary())
    print(f"\nsaved {args.output}" + (f" and {args.units_out}" if args.units_out else ""))
    return 0


def _check_spec(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-spec", help="validate a circuit spec without building it")
    p.add_argument("spec", type=Path)
    p.set_defaults(handler=_run_check_spec)


def _run_check_spec(args: argparse.Namespace) -> int:
    from .compile import build_graph
    from .spec import load_spec

    spec = load_spec(args.spec)
    graph = build_graph(spec)
    print(f"{args.spec}: ok ({len(spec.families)} families, {spec.unit_count} units, {graph.edge_count()} connections)")
    return 0


def _schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="write the JSON Schema of circuit specs (for editors)")
    p.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    p.set_defaults(handler=_run_schema)


def _run_schema(args: argparse.Namespace) -> int:
    import json

    from .models.weights import atomic_target
    from .spec import SPEC_SCHEMA

    text = json.dumps(SPEC_SCHEMA, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    with atomic_target(args.output) as tmp:
        tmp.write_text(text)
    print(f"saved {args.output}")
    return 0


def _verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="run a spec's checks on its build (or on given weights); exit 1 if any fails")
    p.add_argument("spec", type=Path)
    p.add_argument("--weights", type=Path, default=None, help="check these InceptionV1 weights at the spec's unit addresses instead")
    p.add_argument("--target", default="inceptionv1", help="inceptionv1 (default) or compact")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.set_defaults(handler=_run_verify)


def _run_verify(args: argparse.Namespace) -> int:
    from .runtime import resolve_device
    from .verify import run_verify

    return run_verify(args.spec, args.weights, args.target, str(resolve_device(args.device)), args.json)


def _compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two models (specs or weight files) on the same units and stimuli")
    p.add_argument("a", type=Path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("b", type=Path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("--units", default=None, help="comma-separated addresses (default: the units A's spec pins)")
    p.add_argument("--stimulus", default="radial_tuning", choices=["radial_tuning"])
    p.add_argument("--radius", type=float, default=32.0, help="arc radius in pixels")
    p.add_argument("--step", type=float, default=5.0, help="orientation step in degrees")
    p.add_argument("--rotate-b", type=float, default=0.0, help="turn B's stimuli by this many degrees (sanity check)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/compare"), help="where compare.json and compare.png go")
    p.set_defaults(handler=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from .compare import run_compare
    from .probe.tuning import RadialSweep
    from .runtime import resolve_device

    sweep = RadialSweep(radius=args.radius, step=args.step)
    return run_compare(args.a, args.b, args.units, sweep, args.rotate_b, str(resolve_device(args.device)), args.output_dir)


def _edit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="apply an edit spec to InceptionV1 weights and report the effect")
    p.add_argument("edit", type=Path)
    p.add_argument("--weights", type=Path, default=None, help="weights to edit (default: the edit's base:, else the fetched model)")
    p.add_argument("--images", type=Path, default=None, help="image folder (or one subfolder per class) to measure the effect on")
    p.add_argument("--mean-images", type=Path, default=None, help="folder mean_ablate averages over, where the edit names none")
    p.add_argument("-o", "--output", type=Path, default=None, help="write the edited weights (.safetensors)")
    p.add_argument("--json", type=Path, default=None, help="effect report as JSON (default: beside --output)")
    p.add_argument("--class-map", type=Path, default=None, help="lines `FOLDER_NAME label` naming class subfolders (e.g. WordNet ids)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_edit)


def _run_edit(args: argparse.Namespace) -> int:
    from .edit.run import run_edit
    from .runtime import resolve_device

    return run_edit(args.edit, args.weights, args.images, args.mean_images, args.output, args.json,
                    str(resolve_device(args.device)), args.class_map)


def _export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a spec or weights (optionally edited) to ONNX, checked against onnxruntime")
    p.add_argument("source", type=Path, help="a circuit spec (.yaml) or a weights file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .onnx")
    p.add_argument("--edits", type=Path, default=None, help="an edit spec to apply first")
    p.add_argument("--outputs", default=None, help="comma-separated layers to output (default: the final one)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--target", default="inceptionv1", help="for specs: inceptionv1 (default) or compact")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from .export.run import run_export
    from .runtime import resolve_device

    return run_export(args.source, args.output, args.outputs, args.opset, args.target, args.edits, str(resolve_device(args.device)))


def _vis(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vis", help="feature visualisation of a unit (PNG)")
    p.add_argument("unit", help="e.g. mixed3b:379")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--spec", type=Path, default=None)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--objective", default="neuron", choices=["neuron", "channel"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", default=None, help="also show these steps, e.g. 0,4,48")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_vis)


def _run_vis(args: argparse.Namespace) -> int:
    from .runtime import resolve_device
    from .viz.run import run_vis

    return run_vis(args.unit, args.weights, args.spec, args.output, args.steps, args.size, args.objective, args.seed,
                   args.thresholds, str(resolve_device(args.device)))


def _report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a static HTML report: feature visualisations, tuning, weight diagrams per unit")
    p.add_argument("source", type=Path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("-o", "--output-dir", type=Path, required=True)
    p.add_argument("--units", default=None, help="comma-separated addresses (default for a spec: its units past conv2d0)")
    p.add_argument("--steps", type=int, default=128, help="feature visualisation steps")
    p.add_argument("--size", type=int, default=96, help="feature visualisation size")
    p.add_argument("--edits", type=Path, default=None, help="also report this edit's effect (needs --images)")
    p.add_argument("--images", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from .runtime import resolve_device
    from .viz.run import run_report

    return run_report(args.source, args.output_dir, args.units, args.steps, args.size, args.edits, args.images, str(resolve_device(args.device)))


def _tuning(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tuning", help="radial tuning plots of units in one or more models, overlaid (PNG)")
    p.add_argument("sources", type=Path, nargs="+", help="circuit specs (.yaml) and/or weights files")
    p.add_argument("--units", required=True, help="comma-separated addresses")
    p.add_argument("--radii", default="32", help="arc radii in pixels, e.g. 16,32,64 (several: also an orientation x radius map)")
    p.add_argument("--step", type=float, default=5.0)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_run_tuning)


def _run_tuning(args: argparse.Namespace) -> int:
    from .runtime import resolve_device
    from .viz.run import run_tuning

    radii = [float(r) for r in args.radii.split(",")]
    return run_tuning(args.sources, args.units, radii, args.step, args.output, str(resolve_device(args.device)))


_COMMANDS = [_vis, _report, _tuning, _demo, _layers, _weights, _probe, _build, _check_spec, _schema, _verify, _compare, _edit, _export]


if __name__ == "__main__":
    sys.exit(main())
