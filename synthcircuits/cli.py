"""synthcircuits: write the circuits of a vision network as YAML, compile them into conv weights,
check them against trained networks, edit trained models and export them to ONNX.

Start with `synthcircuits demo` (builds the clean-room curve circuit and checks it, no downloads).
Specs are validated with `check-spec`; any command's options are shown by `synthcircuits COMMAND -h`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from . import options as opt
from .errors import UserError
from .invocation import running_command
from .outputs import transaction
from .taxonomy import ALIASES, FAMILIES_BY_NAME
from .threads import set_threads

FAMILY_NAMES = [*FAMILIES_BY_NAME, *ALIASES]

# What `--arch` accepts; a test holds this to `synthcircuits.models.zoo.architecture_names()`.
ARCHITECTURES_TEXT = ("inceptionv1, bvlc_googlenet, torchvision_googlenet, torchvision:alexnet, torchvision:vgg16, "
                      "torchvision:resnet18, torchvision:resnet50, torchvision:googlenet, torchvision:inception_v3, "
                      "torchvision:mobilenet_v2, timm:NAME (with timm installed)")


class _Parser(argparse.ArgumentParser):
    """Parse errors as one line plus where to look, exit status 2 (argparse prints the whole usage)."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n  hint: `{self.prog} --help` lists the options\n")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, unless the help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        bounds = getattr(action.type, "range_text", None)  # every numeric option says its range
        if bounds and bounds not in text and "%(" not in text:
            text = f"{text}; {bounds}" if text else bounds
        default = action.default
        if "default" in text or default is None or default is False or default is argparse.SUPPRESS or not action.option_strings:
            return text
        shown = ",".join(str(v) for v in default) if isinstance(default, list) else default
        return f"{text} (default: {shown})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a refused value (already printed)
            return exc.code if isinstance(exc.code, int) else 2
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        if "threads" in vars(args):
            set_threads(args.threads)
        with running_command(sys.argv[1:] if argv is None else argv), messages_on_stderr(), transaction():
            return args.handler(args)  # every output appears together when the command succeeds, or none does
    except UserError as exc:
        print(f"{exc.kind}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `synthcircuits layers | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


class _StderrHandler(logging.Handler):
    """The library's messages (`logging.getLogger("synthcircuits")`) as lines on whatever
    sys.stderr is when they are said: `resuming ...`, `note: ...`."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "note: " if record.levelno >= logging.WARNING else ""
        print(prefix + record.getMessage(), file=sys.stderr)


@contextmanager
def messages_on_stderr():
    """While a command runs, the package's log messages of level INFO and up go to stderr; the
    logger is left as it was found (a notebook that imports the library keeps its own setup)."""
    logger = logging.getLogger("synthcircuits")
    handler, level = _StderrHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="synthcircuits", description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"synthcircuits {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)
    for register in _COMMANDS:
        register(sub)
    return parser


def _add(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", formatter_class=_HelpFormatter)
    p.add_argument("--threads", type=opt.whole(1, 1024), default=None,
                   help="CPU threads for the network (default: the cores this process may use, by affinity and cgroup "
                        "quota; long loops then drop to fewer while another job shares the cores)")
    return p


def _body(module: str, function: str, *options: str):
    """A handler calling `synthcircuits.commands.<module>.<function>` with the named options
    (imported only when the command runs, so `--help` stays fast)."""

    def handler(args: argparse.Namespace) -> int:
        from importlib import import_module

        values = [_resolved(args, name) for name in options]
        return getattr(import_module(f"synthcircuits.commands.{module}"), function)(*values)

    return handler


def _resolved(args: argparse.Namespace, name: str):
    value = getattr(args, name)
    if name == "device":
        from .commands.common import resolve_device

        return str(resolve_device(value))
    return value


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda or cuda:N")


def _ray(p: argparse.ArgumentParser, what: str = "the images") -> None:
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="auto|ADDRESS",
                   help=f"run {what} on Ray (pip install 'synthcircuits[ray]'): alone, a local instance; auto, the cluster "
                        "this machine is part of; or a cluster address. The results are the same as a local run's")


def _arch(p: argparse.ArgumentParser, whose: str = "the file's") -> None:
    p.add_argument("--arch", type=opt.non_empty, default=None,
                   help=f"architecture, if {whose} cannot be recognised: {ARCHITECTURES_TEXT}")


# -- commands -----------------------------------------------------------------------------


def _layers(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "layers", "print an architecture's layers with channel and branch ranges")
    p.add_argument("--arch", type=opt.non_empty, default="inceptionv1", help=f"one of: {ARCHITECTURES_TEXT} (default: inceptionv1)")
    p.add_argument("--list", action="store_true", help="list the architectures instead")
    p.set_defaults(handler=_body("inspect", "run_layers", "arch", "list"))


def _weights(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "weights", "inspect, convert, fetch or draw weight files")
    wsub = p.add_subparsers(metavar="ACTION", parser_class=_Parser)
    info = _add(wsub, "info", "format, architecture, tensor and parameter counts, content hash")
    info.add_argument("file", type=opt.input_path, help="a .safetensors, .pth or .pt file")
    info.set_defaults(handler=_body("inspect", "run_weights_info", "file"))
    fetch = _add(wsub, "fetch", "download Lucent's trained InceptionV1 weights into the cache")
    fetch.add_argument("--url", type=opt.non_empty, default=None, help="where to download from (default: Lucent's address)")
    fetch.add_argument("-o", "--output", type=opt.output_file, default=None, help="where to put the file (default: the cache)")
    fetch.add_argument("--timeout", type=opt.SECONDS, default=10.0, help="seconds to wait for the server")
    fetch.set_defaults(handler=_body("inspect", "run_weights_fetch", "url", "output", "timeout"))
    convert = _add(wsub, "convert", "convert weights from another format (BVLC GoogLeNet's Caffe files)")
    convert.add_argument("folder", type=opt.input_path, help="the folder of Caffe blobs (one subfolder per layer)")
    convert.add_argument("--from", dest="source_format", required=True, choices=["caffe-bin"], help="the folder's format")
    convert.add_argument("-o", "--output", type=opt.output_file, required=True, help="output .safetensors")
    convert.set_defaults(handler=_body("inspect", "run_weights_convert", "folder", "output"))
    diagram = _add(wsub, "diagram", "a unit's strongest inputs as red/blue kernels (PNG)")
    diagram.add_argument("unit", help="e.g. mixed3b:379")
    diagram.add_argument("--weights", type=opt.input_path, default=None, help="a weights file (or give --spec)")
    diagram.add_argument("--spec", type=opt.input_path, default=None, help="a circuit spec, compiled now (or give --weights)")
    diagram.add_argument("--threshold", type=opt.FRACTION, default=0.3, help="show inputs reaching this fraction (0-1) of the largest weight")
    diagram.add_argument("-o", "--output", type=opt.output_file, required=True, help="output PNG")
    _device(diagram)
    _arch(diagram)
    diagram.add_argument("--through", type=opt.whole(0, 16), default=0,
                         help="traced networks: also expand through this many stride-1 convs before the unit "
                              "(1x1 bottlenecks are always expanded through)")
    diagram.set_defaults(handler=_body("draw", "run_diagram", "unit", "weights", "spec", "output", "threshold", "device", "arch", "through"))
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _probe(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "probe", "capture activations of named layers for images or a .npy batch")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights file (default: the fetched InceptionV1)")
    _arch(p)
    p.add_argument("--layers", type=opt.non_empty, required=True, help="comma-separated hook points, e.g. conv2d0,mixed3b")
    p.add_argument("--input", type=opt.input_path, nargs="+", required=True, help="PNG/JPEG files or a .npy batch in [0, 1]")
    p.add_argument("--size", type=opt.IMAGE_SIZE, default=None, help="resize and center-crop images to SIZE x SIZE px (default: as they are)")
    p.add_argument("--pre-relu", action="store_true", help="also save LAYER_pre_relu for each layer")
    _device(p)
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="output .npz, one array per layer")
    p.set_defaults(handler=_body("inspect", "run_probe", "weights", "arch", "layers", "input", "size", "pre_relu", "device", "output"))


def _demo(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "demo", "the main job on the built-in default: no downloads, no weights")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/demo"), help="where the build, checks and pictures go")
    _device(p)
    p.set_defaults(handler=_body("demo", "run_demo", "output_dir", "device"))


TARGET_HELP = "inceptionv1 (the full network, default) or compact (only the spec's units)"


def _build(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "build", "compile a circuit spec into weights")
    p.add_argument("spec", type=opt.input_path, help="a circuit spec (.yaml)")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="output .safetensors")
    p.add_argument("--target", default="inceptionv1", choices=["inceptionv1", "compact"], help=TARGET_HELP)
    p.add_argument("--base", type=opt.input_path, default=None, help="InceptionV1 weights to patch (overrides the spec's base:)")
    p.add_argument("--units-out", type=opt.output_file, default=None, help="also write each unit's address, family and orientation as JSON")
    p.set_defaults(handler=_body("spec", "run_build", "spec", "output", "target", "base", "units_out"))


def _check_spec(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "check-spec", "validate a circuit, edit or intervention spec without building, applying or running it")
    p.add_argument("spec", type=opt.input_path, help="a circuit spec or an edit spec (.yaml)")
    p.set_defaults(handler=_body("spec", "run_check_spec", "spec"))


def _schema(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "schema", "write the JSON Schema of circuit specs (for editors)")
    p.add_argument("-o", "--output", type=opt.output_file, default=None, help="file to write (default: stdout)")
    p.set_defaults(handler=_body("spec", "run_schema", "output"))


def _verify(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "verify", "run a spec's checks on its build (or on given weights); exit 1 if any fails")
    p.add_argument("spec", type=opt.input_path, help="a circuit spec with a checks: section")
    p.add_argument("--weights", type=opt.input_path, default=None,
                   help="check these weights (of the spec's architecture) at the spec's unit addresses instead; faithfulness: checks "
                        "splice the circuit into them")
    p.add_argument("--target", default="inceptionv1", choices=["inceptionv1", "compact"], help=TARGET_HELP)
    _device(p)
    p.add_argument("--json", type=opt.output_file, default=None, help="also write the rows as JSON")
    p.add_argument("--geometry", action="store_true",
                   help="also sweep stimulus geometry (radius 15-60 px, span 60-180 deg, stroke 1.5-5 px, up to 6 px off centre, "
                        "both polarities) and report each unit's worst-case orientation error and spread")
    p.add_argument("--base", type=opt.input_path, default=None,
                   help="weights the spec patches (overrides its base:; needed where it keeps trained units and names no base)")
    p.set_defaults(handler=_body("verify", "run_verify", "spec", "weights", "target", "device", "json", "geometry", "base"))


def _mutate(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "mutate", "mutation testing of a spec's checks: build every one-change mutant of the circuit (a sign flipped, a rule "
             "dropped, a gain scaled, a mirror unflipped, ...), run the spec's checks on it, and report how many the checks catch")
    p.add_argument("spec", type=opt.input_path, help="a circuit spec with a checks: section")
    p.add_argument("--max", dest="most", type=opt.whole(1, 100_000), default=None,
                   help="test at most this many mutants, drawn evenly over the kinds of change (default: all)")
    p.add_argument("--seed", type=opt.SEED, default=0, help="which mutants --max draws")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=None,
                   help="write mutation.json and mutation.md here and keep each mutant's result, so a stopped run resumes")
    p.add_argument("--target", default="auto", choices=["auto", "inceptionv1", "compact"],
                   help="the build the checks run on: auto (default) takes the compact build, only the spec's units and the same "
                        "answers, unless the spec needs InceptionV1's layout (pasted visualisations, kept units)")
    p.add_argument("--fail-under", type=opt.FRACTION, default=None, metavar="FRACTION",
                   help="exit 1 when the mutation score (killed / viable mutants) is under this fraction, e.g. 0.9")
    p.add_argument("--all-checks", action="store_true",
                   help="run every check on every mutant (default: a mutant's checks stop at the first that kills it), so the report "
                        "says exactly which checks kill which mutants and which kill none")
    p.add_argument("--base", type=opt.input_path, default=None,
                   help="weights the spec patches (overrides its base:; needed where it keeps trained units and names no base)")
    _ray(p, "the mutants")
    _device(p)
    p.set_defaults(handler=_body("mutate", "run_mutate", "spec", "most", "seed", "output_dir", "target", "device", "ray", "fail_under",
                                 "all_checks", "base"))


def _compare(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "compare", "compare two models (specs or weight files) on the same units and stimuli")
    p.add_argument("a", type=opt.input_path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("b", type=opt.input_path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("--units", type=opt.non_empty, default=None, help="comma-separated addresses (default: the units A's spec pins)")
    p.add_argument("--radius", type=opt.RADIUS, default=32.0, help="arc radius in pixels")
    p.add_argument("--step", type=opt.ANGLE_STEP, default=5.0, help="orientation step in degrees, 0.1 to 180")
    p.add_argument("--rotate-b", type=opt.ANGLE, default=0.0, help="turn B's stimuli by this many degrees (sanity check)")
    p.add_argument("--layer-b", type=opt.non_empty, default=None, help="B's layer to search for matches (any architecture; default: the layer like A's)")
    _arch(p, "B's file's")
    _device(p)
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/compare"), help="where compare.json and compare.png go")
    p.add_argument("--geometry", action="store_true",
                   help="also sweep stimulus geometry for A's units and their best matches in B: worst-case orientation error and spread")
    p.add_argument("--sweep", default="radial", choices=["radial", "boundary", "hue", "cue"],
                   help="the stimuli: radial (arcs, for curves), boundary (high-low frequency boundaries), hue (colour pairs either side "
                        "of a boundary) or cue (figure/ground boundaries by edge, frequency and colour at once), each swept over 360 degrees")
    p.set_defaults(handler=_body("compare", "run_compare", "a", "b", "units", "radius", "step", "rotate_b", "device", "output_dir", "layer_b",
                                 "arch", "geometry", "sweep"))


def _edit(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "edit", "apply an edit spec to weights and report the effect")
    p.add_argument("edit", type=opt.input_path, help="an edit spec (.yaml, e.g. specs/edits/curves_removed.yaml)")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights to edit (default: the edit's base:, else the fetched model)")
    p.add_argument("--images", type=opt.input_path, default=None, help="image folder (or one subfolder per class) to measure the effect on")
    p.add_argument("--mean-images", type=opt.input_path, default=None, help="folder mean_ablate averages over, where the edit names none")
    p.add_argument("-o", "--output", type=opt.output_file, default=None, help="write the edited weights (.safetensors)")
    p.add_argument("--json", type=opt.output_file, default=None, help="effect report as JSON (default: beside --output)")
    p.add_argument("--class-map", type=opt.input_path, default=None, help="lines `FOLDER_NAME label` naming class subfolders (e.g. WordNet ids), UTF-8")
    p.add_argument("--batch-size", type=opt.whole(1, 4096), default=16, help="images per forward when measuring the effect")
    p.add_argument("--workers", type=opt.whole(0, 64), default=2, help="processes decoding images beside the networks'")
    p.add_argument("--shards", type=opt.output_folder, default=None,
                   help="keep the per-image results here, so a killed measurement resumes (default: a temporary folder)")
    p.add_argument("--mirror", action="store_true",
                   help="also run every image flipped left to right and report, per image and overall with 95%% intervals, the effect on "
                        "the original against the effect on its mirror image, and the images where they differ most")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("edit", "run_edit", "edit", "weights", "images", "mean_images", "output", "json", "device", "class_map",
                                 "batch_size", "workers", "shards", "ray", "mirror"))


def _faithfulness(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "faithfulness", "splice a circuit into the trained network exactly and measure how much of the network's behaviour it "
             "keeps: trained, units silenced, mean-ablated and spliced, over images, with paired bootstrap intervals")
    p.add_argument("circuit", type=opt.input_path,
                   help="what reimplements units of the trained network: a circuit spec (a decompiled draft, an extracted circuit, a "
                        "base patch; compiled onto --weights) or a weights file of the same architecture")
    p.add_argument("--weights", type=opt.input_path, required=True, help="the trained network (inceptionv1 or bvlc_googlenet weights)")
    p.add_argument("--images", type=opt.input_path, required=True,
                   help="image folder (or one subfolder per class), list file or .npy batch the networks run over")
    p.add_argument("--class-map", type=opt.input_path, default=None,
                   help="lines `FOLDER_NAME label` naming class subfolders (e.g. WordNet ids); labelled folders add top-1/top-5 accuracy")
    p.add_argument("--units", type=opt.non_empty, default=None,
                   help="comma-separated units to replace (default: the spec's units in its deepest layer; a weights file's changed units)")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/faithfulness"),
                   help="faithfulness.json, .md and .html, and the runs (resumable: the same command continues a stopped run)")
    p.add_argument("--no-per-unit", dest="per_unit", action="store_false",
                   help="skip splicing and mean-ablating each unit alone (two more networks per unit)")
    p.add_argument("--limit", type=opt.COUNT, default=None, help="use at most this many images (in listing order)")
    p.add_argument("--batch-size", type=opt.whole(1, 4096), default=16, help="images per forward")
    p.add_argument("--workers", type=opt.whole(0, 64), default=2, help="processes decoding images beside the networks'")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("faithfulness", "run_faithfulness", "circuit", "weights", "images", "class_map", "units", "output_dir",
                                 "batch_size", "workers", "device", "ray", "per_unit", "limit"))


def _export(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "export", "export a spec or weights (optionally edited) to ONNX, checked against onnxruntime")
    p.add_argument("source", type=opt.input_path, help="a circuit spec (.yaml) or a weights file")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="output .onnx")
    p.add_argument("--edits", type=opt.input_path, default=None, help="an edit spec to apply first")
    p.add_argument("--outputs", type=opt.non_empty, default=None, help="comma-separated layers to output (default: the final one)")
    p.add_argument("--opset", type=opt.OPSET, default=17, help="ONNX opset, 11 to 20")
    p.add_argument("--target", default="inceptionv1", choices=["inceptionv1", "compact"], help="for specs: " + TARGET_HELP)
    _device(p)
    p.set_defaults(handler=_body("export", "run_export", "source", "output", "outputs", "opset", "target", "edits", "device"))


def _vis(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "vis", "feature visualisations of units or objectives, optimised together (PNG)")
    p.add_argument("objectives", nargs="+", metavar="OBJECTIVE",
                   help="a unit (mixed3b:379) or algebra over units, quoted: \"mixed3b:379 - 0.5*mixed3b:385\", channel(U), "
                        "neuron(U), diversity(LAYER), interpolate(A, B), caricature(LAYER, IMAGE), direction(LAYER, FILE.npy); "
                        "one row of the picture each")
    p.add_argument("--weights", type=opt.input_path, default=None, help="a weights file (or give --spec)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="a circuit spec, compiled now (or give --weights)")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="output PNG")
    p.add_argument("--steps", type=opt.STEPS, default=256, help="optimisation steps, 1 to 100000")
    p.add_argument("--size", type=opt.VIS_SIZE, default=128, help="image side in px, 16 to 4096")
    p.add_argument("--batch", type=opt.whole(1, 256), default=1,
                   help="images per objective, image j from seed SEED+j (add diversity(LAYER) to push them apart)")
    p.add_argument("--canvas", default="full", choices=["full", "receptive"],
                   help="full: --size px; receptive: a single unit's receptive field plus a margin (what `report` draws; "
                        "much faster for early layers)")
    p.add_argument("--objective", default="neuron", choices=["neuron", "channel"],
                   help="what a bare unit means: neuron, the unit at the centre position; channel, its mean over positions")
    p.add_argument("--seed", type=opt.SEED, default=0, help="random seed of the starting image and the jitter")
    p.add_argument("--thresholds", type=opt.listed(opt.whole(0, 100_000)), default=None,
                   help="also show the image at these steps, e.g. 0,4,48 (each at most --steps)")
    _device(p)
    _arch(p)
    p.set_defaults(handler=_body("draw", "run_vis", "objectives", "weights", "spec", "output", "steps", "size", "objective", "seed",
                                 "thresholds", "device", "arch", "batch", "canvas"))


def _report(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "report", "a static HTML report: feature visualisations, tuning, weight diagrams per unit")
    p.add_argument("source", type=opt.input_path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, required=True, help="folder for index.html, the unit pages and assets/")
    p.add_argument("--units", type=opt.non_empty, default=None, help="comma-separated addresses (default for a spec: its units past conv2d0)")
    p.add_argument("--steps", type=opt.STEPS, default=128, help="feature visualisation steps")
    p.add_argument("--size", type=opt.VIS_SIZE, default=96, help="feature visualisation size in px (full canvases; "
                   "receptive ones are a unit's receptive field, optimised as part of an image this big)")
    p.add_argument("--canvas", default="receptive", choices=["receptive", "full"],
                   help="receptive: each unit's picture is its receptive field plus a margin, and the network runs only on what "
                        "the unit sees; full: --size px pictures, as `vis` draws by default")
    p.add_argument("--edits", type=opt.input_path, default=None, help="also report this edit's effect (needs --images)")
    p.add_argument("--images", type=opt.input_path, default=None, help="image folder the edit's effect is measured on")
    p.add_argument("--dataset-examples", type=opt.input_path, default=None,
                   help="a dataset-examples output folder: each unit page shows its strongest images and the sigma-binned strip")
    _device(p)
    _arch(p)
    p.add_argument("--decompiled", type=opt.input_path, default=None,
                   help="a `decompile --report` folder: copied into the report and linked from its index")
    p.add_argument("--census", type=opt.input_path, default=None,
                   help="a `census` output folder: its tables on a page of the report, its contact sheets copied and linked")
    p.add_argument("--faithfulness", type=opt.input_path, default=None,
                   help="a `faithfulness` output folder: its table on a page of the report, linked from its index")
    p.set_defaults(handler=_body("draw", "run_report", "source", "output_dir", "units", "steps", "size", "edits", "images", "device", "arch",
                                 "dataset_examples", "canvas", "decompiled", "census", "faithfulness"))


def _tuning(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "tuning", "radial tuning plots of units in one or more models, overlaid (PNG)")
    p.add_argument("sources", type=opt.input_path, nargs="+", help="circuit specs (.yaml) and/or weights files")
    p.add_argument("--units", type=opt.non_empty, required=True, help="comma-separated addresses")
    p.add_argument("--radii", type=opt.listed(opt.RADIUS, most=16), default=[32.0],
                   help="arc radii in pixels, e.g. 16,32,64 (several: also an orientation x radius map)")
    p.add_argument("--step", type=opt.ANGLE_STEP, default=5.0, help="orientation step in degrees, 0.1 to 180")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="output PNG")
    _device(p)
    _arch(p, "the files'")
    p.set_defaults(handler=_body("draw", "run_tuning", "sources", "units", "radii", "step", "output", "device", "arch"))


def _find(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "find", "classify every unit of a layer by synthetic stimuli (curves, lines, edges, colour)")
    p.add_argument("layer", help="a layer of the model, e.g. inception_3b, mixed3b, layer2, features.16")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights file (any architecture `layers --list` names)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="or a circuit spec, compiled now")
    _arch(p)
    p.add_argument("--family", default="curves", choices=["curves", "lines", "edges", "color", "boundaries", *FAMILY_NAMES],
                   help="what to look for: curves, lines, edges, color and boundaries (figure/ground by edge, frequency and colour) by "
                        "their own tuned sweeps, or any family of the census's table "
                        "(e.g. high-low, black-and-white, colour-contrast) by the census battery and that family's rule")
    p.add_argument("--limit", type=opt.COUNT, default=40, help="rows to print (the JSON has every unit)")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/find"), help="where find.json and find.png go")
    _device(p)
    p.add_argument("--vis-steps", type=opt.whole(0, 100_000), default=0,
                   help="also draw the members' feature visualisations as find_vis.png, optimised together on receptive-field "
                        "canvases for this many steps (0: skip; 128 is the report's)")
    p.set_defaults(handler=_body("find", "run_find", "layer", "weights", "spec", "arch", "family", "output_dir", "limit", "device",
                                 "vis_steps"))


def _census(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "census", "give every unit of whole layers a family (curves, lines, colour contrast, high-low frequency, ...) from one "
             "battery of synthetic stimuli, with the layer's shares beside the articles'")
    p.add_argument("layers", help="comma-separated layers of the model, e.g. conv2d2,mixed3a,mixed3b or conv2,inception_3a or layer1,layer2")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights file (any architecture `layers --list` names)")
    p.add_argument("--spec", type=opt.input_path, default=None,
                   help="or a circuit spec, compiled now: the census then says how many designed units it found in their family")
    _arch(p)
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/census"),
                   help="where census.json, census.parquet, census.md, index.html and sheets/ go")
    p.add_argument("--vis-steps", type=opt.whole(0, 100_000), default=0,
                   help="also put feature visualisations on the family sheets, optimised together on receptive-field canvases for this "
                        "many steps (0: skip; 128 is the report's)")
    p.add_argument("--images", type=opt.input_path, default=None,
                   help="dataset evidence: an image folder, list or .npy batch; each unit's strongest crops go on its sheet and its "
                        "battery_reach (battery peak over dataset peak) into its features (one resumable runner pass, in OUT/examples)")
    p.add_argument("--limit", type=opt.whole(1, 10**9), default=None, help="with --images: use only the first N images")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("census", "run_census", "layers", "weights", "spec", "arch", "output_dir", "device", "vis_steps", "images",
                                 "limit", "ray"))


def _mirrors(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "mirrors", "find every unit's mirror partner: the unit whose answers to left-right flipped inputs best match its answers "
             "to the originals; pairs, units that are their own mirror, a table, JSON and a contact sheet per layer")
    p.add_argument("layers", help="comma-separated layers, e.g. inception_4a,inception_4b or mixed3a or layer3")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights file (any architecture `layers --list` names)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="or a circuit spec, compiled now")
    _arch(p)
    p.add_argument("--images", type=opt.input_path, default=None,
                   help="an image folder, list or .npy batch to use instead of the census battery (one resumable runner pass, in OUT/answers)")
    p.add_argument("--limit", type=opt.whole(1, 10**9), default=None, help="with --images: use only the first N images")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/mirrors"),
                   help="where mirrors.json, mirrors.md and sheets/ go")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("mirrors", "run_mirrors", "layers", "weights", "spec", "arch", "output_dir", "device", "images", "limit", "ray"))


def _atlas(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "atlas", "a static, searchable site of every unit of the chosen layers: a grid per layer coloured by census family, "
             "a page per unit with its feature visualisations, tuning, dataset examples and strongest weights in and out")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights file (any architecture `layers --list` names)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="or a circuit spec, compiled now")
    _arch(p)
    p.add_argument("--layers", type=opt.non_empty, required=True,
                   help="comma-separated layers, e.g. conv1,conv2_reduce,conv2,inception_3a,inception_3b or layer1.0.conv1,layer1.0.conv2")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/atlas"),
                   help="the site's folder: index.html, a page per layer and unit, assets/ (pictures, kept between builds)")
    p.add_argument("--vis-steps", type=opt.STEPS, default=48, help="feature visualisation steps (the report draws 128)")
    p.add_argument("--vis-size", type=opt.VIS_SIZE, default=64,
                   help="feature visualisation canvas in px (neuron pictures are the unit's receptive field plus a margin)")
    p.add_argument("--diverse", type=opt.whole(0, 16), default=3, help="images in each unit's diverse batch (0: none)")
    p.add_argument("--images", type=opt.input_path, default=None,
                   help="dataset examples: an image folder, list or .npy batch (one resumable runner pass for every layer)")
    p.add_argument("--limit", type=opt.whole(1, 10**9), default=None, help="with --images: use only the first N images")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("atlas", "run_atlas", "weights", "spec", "arch", "layers", "output_dir", "device", "vis_steps", "vis_size",
                                 "diverse", "images", "limit", "ray"))


def _universality(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "universality", "several networks' censuses side by side at comparable depths (by receptive-field size): each "
             "family's share in each, and each network's clearest members next to each other")
    p.add_argument("censuses", type=opt.input_path, nargs="+", help="census output folders (or their census.json), the first the reference")
    p.add_argument("--names", type=opt.non_empty, default=None, help="comma-separated names for the networks (default: their weights files)")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/universality"),
                   help="where universality.json, universality.md, index.html and examples/ go")
    p.set_defaults(handler=_body("universality", "run_universality", "censuses", "output_dir", "names"))


def _dataset_examples(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "dataset-examples", "the images and receptive-field crops that excite units most, over an image dataset")
    p.add_argument("source", type=opt.input_path, help="a circuit spec (.yaml) or weights file")
    p.add_argument("--images", type=opt.input_path, required=True,
                   help="an image folder (flat, or one subfolder per class), a text file listing images, or a .npy batch")
    p.add_argument("--units", type=opt.non_empty, required=True, help="whole layers and/or addresses, e.g. mixed3b or mixed3b:379,mixed3b:385")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, required=True,
                   help="folder for units.parquet, examples.parquet, failures.parquet, crops/ and the resumable shards/")
    p.add_argument("--top", type=opt.whole(1, 1000), default=8, help="images kept per unit")
    p.add_argument("--bins", type=opt.whole(1, 20), default=6, help="sigma bins 0-1, 1-2, ..., >= BINS-1 standard deviations above the mean")
    p.add_argument("--per-bin", type=opt.whole(0, 1000), default=2, help="examples sampled per unit and bin")
    p.add_argument("--limit", type=opt.whole(1, 10**9), default=None, help="use only the first N images")
    p.add_argument("--batch-size", type=opt.whole(1, 4096), default=32, help="images per forward")
    p.add_argument("--workers", type=opt.whole(0, 64), default=2, help="processes decoding images beside the network's")
    p.add_argument("--shard-size", type=opt.whole(1, 10**6), default=512, help="images per results shard (the unit a killed run resumes from)")
    p.add_argument("--size", type=opt.IMAGE_SIZE, default=224, help="images are resized and centre-cropped to SIZE x SIZE px")
    p.add_argument("--class-map", type=opt.input_path, default=None, help="lines `FOLDER_NAME label` naming class subfolders")
    p.add_argument("--crops", action=argparse.BooleanOptionalAction, default=False,
                   help="write every example's receptive-field crop as a PNG under crops/ now (default: record the boxes; "
                   "the report cuts the crops it shows from the images)")
    _ray(p)
    _device(p)
    _arch(p)
    p.set_defaults(handler=_body("dataset", "run_dataset_examples", "source", "images", "units", "output_dir", "top", "bins", "per_bin",
                                 "limit", "batch_size", "workers", "shard_size", "size", "device", "arch", "class_map", "crops", "ray"))


def _images(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--images", type=opt.input_path, nargs="+", required=required, default=None,
                   help="an image folder (flat, or one subfolder per class), a text file listing images, a .npy batch, "
                        "or several image files")
    p.add_argument("--size", type=opt.IMAGE_SIZE, default=224, help="images are resized and centre-cropped to SIZE x SIZE px")


def _doctor(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "doctor", "check a long run's output folder: its shards against their checksums, its images, its tables and "
             "lock; print what is whole, what is missing or damaged, and the command that resumes it (changes nothing)")
    p.add_argument("folder", type=opt.input_path, help="the -o folder of dataset-examples, or the --shards folder of edit or patch")
    p.set_defaults(handler=_body("doctor", "run_doctor", "folder"))


def _patch(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "patch", "run an intervention spec (zero, mean, scale, clamp, set, patch, path) over images: "
                           "the target's activation and the top-5 before and after")
    p.add_argument("spec", type=opt.input_path, help="an intervention spec (.yaml, synthcircuits_patch: 1)")
    p.add_argument("--weights", type=opt.input_path, default=None, help="weights or a circuit spec (default: the spec's base:)")
    _arch(p)
    _images(p)
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/patch"), help="where patch.json goes")
    p.add_argument("--batch-size", type=opt.whole(1, 4096), default=16, help="images per forward")
    p.add_argument("--workers", type=opt.whole(0, 64), default=2, help="processes decoding images beside the network's")
    p.add_argument("--shards", type=opt.output_folder, default=None,
                   help="keep the per-image results here, so a killed run resumes (default: a temporary folder)")
    p.add_argument("--class-map", type=opt.input_path, default=None, help="lines `FOLDER_NAME label` naming class subfolders")
    p.add_argument("--mirror", action="store_true",
                   help="also run every image flipped left to right and report, per image and overall with 95%% intervals, the effect on "
                        "the original against the effect on its mirror image, and the images where they differ most")
    _ray(p)
    _device(p)
    p.set_defaults(handler=_body("causal", "run_patch_command", "spec", "weights", "arch", "images", "size", "output_dir",
                                 "batch_size", "workers", "shards", "ray", "device", "class_map", "mirror"))


def _attribute(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "attribute", "which units of an earlier layer made a target fire on each image: tables, heatmap PNGs, JSON")
    p.add_argument("target", help="a unit (mixed3b:379, at --position) or a class logit (class:281 or class:tabby)")
    p.add_argument("--to", type=opt.non_empty, default=None,
                   help="the earlier layer (or hook point) to attribute to, e.g. mixed3a (edges: the target's direct inputs)")
    p.add_argument("--weights", type=opt.input_path, default=None, help="a weights file (or give --spec)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="a circuit spec, compiled now (or give --weights)")
    _arch(p)
    _images(p, required=False)
    p.add_argument("--stimuli", type=opt.whole(1, 360), default=8,
                   help="without --images: the target unit's this many preferred radial arcs (of a 5-degree sweep, centred on "
                        "its receptive field), saved under OUTPUT_DIR/stimuli/")
    p.add_argument("--method", default="ig", choices=["ig", "gradient", "edges"],
                   help="ig: integrated gradients from a baseline; gradient: gradient x activation; edges: the articles' "
                        "edge attribution, expanded weight x input activation (GoogLeNet layouts)")
    p.add_argument("--steps", type=opt.whole(1, 4096), default=32, help="integrated-gradients steps (memory does not grow with them)")
    p.add_argument("--baseline", type=opt.input_path, default=None, help="an image whose activations IG starts from (default: zeros)")
    p.add_argument("--position", default="centre", help="where on the target unit's map: centre, mean, or Y,X")
    p.add_argument("--top", type=opt.whole(1, 10_000), default=15, help="units listed per table and per image")
    p.add_argument("--limit", type=opt.whole(1, 100_000), default=64, help="use only the first N images")
    p.add_argument("--batch-size", type=opt.whole(1, 256), default=4, help="images per attribution batch")
    p.add_argument("-o", "--output-dir", type=opt.output_folder, default=Path("out/attribute"),
                   help="where attribution.json and the heatmap PNGs go")
    _device(p)
    p.set_defaults(handler=_body("causal", "run_attribute", "target", "to", "weights", "spec", "arch", "images", "size", "method",
                                 "steps", "baseline", "position", "top", "limit", "batch_size", "output_dir", "device", "stimuli"))


def _extract(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "extract", "the smallest set of a unit's incoming edges that explains its activation, as a draft circuit spec")
    p.add_argument("unit", help="e.g. mixed3b:379")
    p.add_argument("--weights", type=opt.input_path, default=None, help="InceptionV1 weights (or give --spec)")
    p.add_argument("--spec", type=opt.input_path, default=None, help="a circuit spec, compiled now (its weights are saved beside the draft)")
    _images(p, required=False)
    p.add_argument("--fraction", type=opt.FRACTION, default=0.9,
                   help="how much of the unit's activation the kept edges must keep, the rest patched to their means")
    p.add_argument("--stimuli", type=opt.whole(1, 360), default=8,
                   help="without --images: this many radial arcs, those of a 5-degree sweep that drive the unit most")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="the draft circuit spec (.yaml)")
    _device(p)
    p.set_defaults(handler=_body("causal", "run_extract", "unit", "weights", "spec", "images", "size", "fraction", "stimuli", "output",
                                 "device"))


def _decompile(sub: argparse._SubParsersAction) -> None:
    p = _add(sub, "decompile", "a trained network's units as a draft circuit spec: fitted rules, checks and the round trip")
    p.add_argument("--weights", type=opt.input_path, required=True, help="the trained weights (InceptionV1 or BVLC GoogLeNet)")
    _arch(p)
    p.add_argument("--units", type=opt.non_empty, required=True,
                   help="addresses (mixed3b:379,mixed3b:385) or a layer (its ten strongest members of --family by `find`)")
    p.add_argument("--family", type=opt.non_empty, default="curves",
                   help="what the units are: curves (from early curves and lines), high-low (from the inputs that weigh most, "
                        "by side) or colour-contrast (from hue-selective inputs, by side)")
    p.add_argument("--inputs", type=opt.non_empty, default=None, help="the layer feeding the units (default: that layer)")
    p.add_argument("-o", "--output", type=opt.output_file, required=True, help="the draft circuit spec (.yaml); the fits go beside it as .json")
    p.add_argument("--report", type=opt.output_folder, default=None,
                   help="also write a round-trip report here: fitted profiles, tuning and feature visualisations, trained beside rebuilt")
    p.add_argument("--vis-steps", type=opt.whole(0, 100_000), default=128, help="feature visualisation steps in the report (0: none)")
    _device(p)
    p.set_defaults(handler=_body("decompile", "run_decompile", "weights", "arch", "units", "inputs", "output", "report", "vis_steps",
                                 "device", "family"))


_COMMANDS = [_demo, _atlas, _census, _universality, _mirrors, _dataset_examples, _doctor, _find, _vis, _report, _tuning, _layers, _weights, _probe, _build, _check_spec, _schema, _verify, _mutate, _faithfulness,
             _compare, _edit, _patch, _attribute, _extract, _decompile, _export]


def run() -> None:
    """The `synthcircuits` console script: `main`, then exit without Python's module teardown.

    By then every output is written and closed, the transaction committed, and Ray and temporary
    folders cleaned up by their own `finally` blocks; what is left is tearing torch down, about a
    second after a large forward (1.16 s against 0.13 s, measured). Output is flushed first."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left (`| head`), or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
