"""Atlas time per unit against the report's time per unit for the same units, in the same run, as
whole commands in fresh folders: a layer of 64 units (conv2d1, or BVLC's conv2_reduce), feature
visualisations at the same steps and size. The report draws one picture per unit (the neuron),
a tuning plot and a weight diagram; the atlas draws the neuron and channel pictures (and a
diverse batch in the last row), the census battery, the weights in and out and the site. A
second atlas build into the same folder shows what a rebuild costs when every picture is found.

Run: .venv/bin/python benchmarks/bench_atlas.py [--weights FILE] [--steps 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.cli import main as cli  # noqa: E402
from synthcircuits.commands.common import open_model  # noqa: E402
from synthcircuits.models import build_model, save_safetensors, weights_metadata  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
        assert cli(args) == 0, args
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = args.weights
        if weights is None:
            model = build_model("inceptionv1", seed=0)
            weights = save_safetensors(model.state_dict(), folder / "iv1.safetensors", weights_metadata(model))
        arch = open_model(weights).architecture
        layer = arch.equivalent_of("conv2d1")
        units = ",".join(f"{layer}:{c}" for c in range(64))
        common = ["--weights", str(weights), "--layers", layer, "--vis-steps", str(args.steps), "--vis-size", "64"]
        report = timed(["report", str(weights), "--units", units, "--steps", str(args.steps), "--size", "64", "-o", str(folder / "report")])
        atlas = timed(["atlas", *common, "--diverse", "0", "-o", str(folder / "atlas")])
        again = timed(["atlas", *common, "--diverse", "0", "-o", str(folder / "atlas")])
        diverse = timed(["atlas", *common, "--diverse", "3", "-o", str(folder / "atlas3")])
        rows = [["report (neuron, tuning, weights)", 64, f"{report:.1f}", f"{report / 64:.3f}", "1.00"],
                ["atlas (neuron, channel, census, weights in/out)", 64, f"{atlas:.1f}", f"{atlas / 64:.3f}", f"{atlas / report:.2f}"],
                ["atlas rebuilt, every picture found", 64, f"{again:.1f}", f"{again / 64:.3f}", f"{again / report:.2f}"],
                ["atlas with a diverse batch of 3", 64, f"{diverse:.1f}", f"{diverse / 64:.3f}", f"{diverse / report:.2f}"]]
    print(f"{weights.name}: {layer}, 64 units, {args.steps} visualisation steps, 64 px canvases")
    print(format_table(["what", "units", "s", "s / unit", "vs report"], rows))


if __name__ == "__main__":
    main()
