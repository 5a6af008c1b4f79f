"""synthcircuits: write circuits of a vision network as YAML specs, compile them into conv weights,
check them against trained networks (InceptionV1, BVLC GoogLeNet, or any torchvision/timm CNN),
edit trained models and export them to ONNX.

This module only parses arguments; every command's body lives in `synthcircuits.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import UserError

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
    parser = argparse.ArgumentParser(prog="synthcircuits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"synthcircuits {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for register in _COMMANDS:
        register(sub)
    return parser


def _body(module: str, function: str, *options: str):
    """A handler calling `synthcircuits.commands.<module>.<function>` with the named options
    (imported only when the command runs, so `--help` stays fast)."""

    def handler(args: argparse.Namespace) -> int:
        from importlib import import_module

        values = [_resolved(args, name) for name in options]
        return getattr(import_module(f"synthcircuits.commands.{module}"), function)(*values)

    return handler


def _count(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _resolved(args: argparse.Namespace, name: str):
    value = getattr(args, name)
    if name == "device":
        from .commands.common import resolve_device

        return str(resolve_device(value))
    return value


# -- commands -----------------------------------------------------------------------------


def _layers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="print an architecture's layers with channel and branch ranges")
    p.add_argument("--arch", default="inceptionv1", help="any architecture `layers --list` names, e.g. torchvision:resnet50 (default: inceptionv1)")
    p.add_argument("--list", action="store_true", help="list the architectures instead")
    p.set_defaults(handler=_body("inspect", "run_layers", "arch", "list"))


def _weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="inspect or fetch weight files")
    wsub = p.add_subparsers(metavar="ACTION")
    info = wsub.add_parser("info", help="format, architecture, tensor and parameter counts, content hash")
    info.add_argument("file", type=Path)
    info.set_defaults(handler=_body("inspect", "run_weights_info", "file"))
    fetch = wsub.add_parser("fetch", help="download Lucent's trained InceptionV1 weights into the cache")
    fetch.add_argument("--url", default=None, help="where to download from (default: Lucent's address)")
    fetch.add_argument("-o", "--output", type=Path, default=None, help="where to put the file (default: cache)")
    fetch.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    fetch.set_defaults(handler=_body("inspect", "run_weights_fetch", "url", "output", "timeout"))
    convert = wsub.add_parser("convert", help="convert weights from another format (BVLC GoogLeNet's Caffe files)")
    convert.add_argument("folder", type=Path)
    convert.add_argument("--from", dest="source_format", required=True, choices=["caffe-bin"])
    convert.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors")
    convert.set_defaults(handler=_body("inspect", "run_weights_convert", "folder", "output"))
    diagram = wsub.add_parser("diagram", help="a unit's strongest inputs as red/blue kernels (PNG)")
    diagram.add_argument("unit", help="e.g. mixed3b:379")
    diagram.add_argument("--weights", type=Path, default=None)
    diagram.add_argument("--spec", type=Path, default=None)
    diagram.add_argument("--threshold", type=float, default=0.3, help="show inputs reaching this fraction of the largest weight")
    diagram.add_argument("-o", "--output", type=Path, required=True)
    diagram.add_argument("--device", default="cpu")
    diagram.add_argument("--arch", default=None, help="architecture, if the file's cannot be recognised")
    diagram.add_argument("--through", type=_count, default=0,
                         help="traced networks: also expand through this many stride-1 convs before the unit (default 0; "
                              "1x1 bottlenecks are always expanded through)")
    diagram.set_defaults(handler=_body("draw", "run_diagram", "unit", "weights", "spec", "output", "threshold", "device", "arch", "through"))
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


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
    p.set_defaults(handler=_body("inspect", "run_probe", "weights", "arch", "layers", "input", "size", "pre_relu", "device", "output"))


def _demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the built-in default: no downloads, no weights")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/demo"))
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_body("demo", "run_demo", "output_dir", "device"))


def _build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="compile a circuit spec into weights")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors")
    p.add_argument("--target", default="inceptionv1", help="inceptionv1 (default) or compact")
    p.add_argument("--base", type=Path, default=None, help="InceptionV1 weights to patch (overrides the spec's base:)")
    p.add_argument("--units-out", type=Path, default=None, help="also write each unit's address, family and orientation as JSON")
    p.set_defaults(handler=_body("spec", "run_build", "spec", "output", "target", "base", "units_out"))


def _check_spec(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-spec", help="validate a circuit spec without building it")
    p.add_argument("spec", type=Path)
    p.set_defaults(handler=_body("spec", "run_check_spec", "spec"))


def _schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="write the JSON Schema of circuit specs (for editors)")
    p.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")
    p.set_defaults(handler=_body("spec", "run_schema", "output"))


def _verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="run a spec's checks on its build (or on given weights); exit 1 if any fails")
    p.add_argument("spec", type=Path)
    p.add_argument("--weights", type=Path, default=None, help="check these InceptionV1 weights at the spec's unit addresses instead")
    p.add_argument("--target", default="inceptionv1", help="inceptionv1 (default) or compact")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.set_defaults(handler=_body("verify", "run_verify", "spec", "weights", "target", "device", "json"))


def _compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two models (specs or weight files) on the same units and stimuli")
    p.add_argument("a", type=Path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("b", type=Path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("--units", default=None, help="comma-separated addresses (default: the units A's spec pins)")
    p.add_argument("--radius", type=float, default=32.0, help="arc radius in pixels")
    p.add_argument("--step", type=float, default=5.0, help="orientation step in degrees")
    p.add_argument("--rotate-b", type=float, default=0.0, help="turn B's stimuli by this many degrees (sanity check)")
    p.add_argument("--layer-b", default=None, help="B's layer to search for matches (any architecture; default: the layer like A's)")
    p.add_argument("--arch", default=None, help="B's architecture, if its file's cannot be recognised")
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/compare"), help="where compare.json and compare.png go")
    p.set_defaults(handler=_body("compare", "run_compare", "a", "b", "units", "radius", "step", "rotate_b", "device", "output_dir", "layer_b", "arch"))


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
    p.set_defaults(handler=_body("edit", "run_edit", "edit", "weights", "images", "mean_images", "output", "json", "device", "class_map"))


def _export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a spec or weights (optionally edited) to ONNX, checked against onnxruntime")
    p.add_argument("source", type=Path, help="a circuit spec (.yaml) or a weights file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .onnx")
    p.add_argument("--edits", type=Path, default=None, help="an edit spec to apply first")
    p.add_argument("--outputs", default=None, help="comma-separated layers to output (default: the final one)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--target", default="inceptionv1", help="for specs: inceptionv1 (default) or compact")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_body("export", "run_export", "source", "output", "outputs", "opset", "target", "edits", "device"))


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
    p.add_argument("--arch", default=None, help="architecture, if the file's cannot be recognised")
    p.set_defaults(handler=_body("draw", "run_vis", "unit", "weights", "spec", "output", "steps", "size", "objective", "seed", "thresholds", "device", "arch"))


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
    p.add_argument("--arch", default=None, help="architecture, if the file's cannot be recognised")
    p.set_defaults(handler=_body("draw", "run_report", "source", "output_dir", "units", "steps", "size", "edits", "images", "device", "arch"))


def _tuning(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tuning", help="radial tuning plots of units in one or more models, overlaid (PNG)")
    p.add_argument("sources", type=Path, nargs="+", help="circuit specs (.yaml) and/or weights files")
    p.add_argument("--units", required=True, help="comma-separated addresses")
    p.add_argument("--radii", type=_floats, default=[32.0], help="arc radii in pixels, e.g. 16,32,64 (several: also an orientation x radius map)")
    p.add_argument("--step", type=float, default=5.0)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--arch", default=None, help="architecture, if the files' cannot be recognised")
    p.set_defaults(handler=_body("draw", "run_tuning", "sources", "units", "radii", "step", "output", "device", "arch"))


def _find(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("find", help="classify every unit of a layer by synthetic stimuli (curves, lines, edges, colour)")
    p.add_argument("layer", help="a layer of the model, e.g. inception_3b, mixed3b, layer2, features.16")
    p.add_argument("--weights", type=Path, default=None, help="weights file (any architecture `layers --list` names)")
    p.add_argument("--spec", type=Path, default=None, help="or a circuit spec, compiled now")
    p.add_argument("--arch", default=None, help="architecture, if the file's cannot be recognised")
    p.add_argument("--family", default="curves", choices=["curves", "lines", "edges", "color"], help="what to look for (default: curves)")
    p.add_argument("--limit", type=_count, default=40, help="rows to print (default 40; the JSON has every unit)")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/find"), help="where find.json and find.png go (default out/find)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(handler=_body("find", "run_find", "layer", "weights", "spec", "arch", "family", "output_dir", "limit", "device"))


_COMMANDS = [_find, _vis, _report, _tuning, _demo, _layers, _weights, _probe, _build, _check_spec, _schema, _verify, _compare, _edit, _export]


if __name__ == "__main__":
    sys.exit(main())
