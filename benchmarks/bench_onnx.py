"""onnxruntime vs torch eager throughput, batch 1 and 32: the full InceptionV1, and the
compiled curve circuit (InceptionV1 layout) exported only up to mixed3b.

Run: .venv/bin/python benchmarks/bench_onnx.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.export import export_onnx  # noqa: E402
from synthcircuits.export.onnx_export import CaptureOutputs  # noqa: E402
from synthcircuits.models import build_model  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPEC = Path(__file__).parent.parent / "specs" / "curve_circuit.yaml"


def main() -> None:
    torch.set_grad_enabled(False)
    models = {
        "InceptionV1 (random weights) -> softmax2": (build_model("inceptionv1", seed=0), ["softmax2"]),
        "curve circuit -> mixed3b": (compile_spec(load_spec(SPEC)).model(), ["mixed3b"]),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, outputs) in models.items():
            path = Path(tmp) / "m.onnx"
            export_onnx(model, path, outputs)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            eager = CaptureOutputs(model, outputs)
            for batch in (1, 32):
                x = torch.rand(batch, 3, 224, 224)
                repeats = 10 if batch == 1 else 3
                t_torch = median_seconds(lambda: eager(x), repeats)
                t_ort = median_seconds(lambda: session.run(None, {"images": x.numpy()}), repeats)
                rows.append([name, batch, batch / t_torch, batch / t_ort, t_torch / t_ort])
    print(f"images per second, CPU, {torch.get_num_threads()} threads")
    print(format_table(["model", "batch", "torch eager", "onnxruntime", "onnxruntime / torch"], rows))


if __name__ == "__main__":
    main()
