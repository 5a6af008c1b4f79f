"""Image decoding, before and after JPEG draft decoding, in the same run:
- a folder of large JPEGs (12 MP, made here) read at 224 px: full decode then resize (before)
  against draft decode (the JPEG decoder scales by 1/2, 1/4 or 1/8 in the DCT) then resize;
- a dataset-examples run over the shared ImageNet photos (`--photos DIR`, default
  ../shared/data/imagenet_sample/images where it exists), both ways, one decoding process.

Run: .venv/bin/python benchmarks/bench_images.py [--photos DIR] [--weights FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits import images as image_module  # noqa: E402
from synthcircuits.commands.dataset import run_dataset_examples  # noqa: E402
from synthcircuits.models import build_model, save_safetensors  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet_sample" / "images"


@contextmanager
def full_decode():
    """Decoding as it was before draft mode: the whole photo, then the resize."""
    saved = image_module.draft_decode
    image_module.draft_decode = lambda im, size: None
    try:
        yield
    finally:
        image_module.draft_decode = saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=Path, default=SHARED if SHARED.is_dir() else None)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=8, help="12 MP JPEGs to make")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        for k in range(args.count):  # smooth noise: compresses like a photo, not like white noise
            small = rng.integers(0, 256, size=(75, 100, 3), dtype=np.uint8)
            Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC).save(folder / f"{k}.jpg", quality=90)
        files = sorted(folder.glob("*.jpg"))

        def read_all():
            for path in files:
                image_module.load_image(path, 224)

        with full_decode():
            before = median_seconds(read_all, repeats=args.repeats)
        after = median_seconds(read_all, repeats=args.repeats)
        rows.append([f"{args.count} JPEGs of 4000x3000 at 224 px", f"{before / args.count * 1000:.0f} ms", f"{after / args.count * 1000:.0f} ms",
                     f"{before / after:.2f}x"])
        if args.photos is not None:
            class_map = args.photos.parent / "wnids.txt" if (args.photos.parent / "wnids.txt").is_file() else None
            weights = args.weights or save_safetensors(build_model("bvlc_googlenet", seed=0).state_dict(), folder / "w.safetensors")

            def examples(out: str):
                def run():
                    run_dataset_examples(weights, args.photos, "inception_3b:326", folder / out, 8, 6, 2, None, 32, 0, 512, 224, "cpu",
                                         None, class_map, False)
                return run

            with full_decode():
                before = median_seconds(examples("before"), repeats=1, warmup=0)
            after = median_seconds(examples("after"), repeats=1, warmup=0)
            count = sum(1 for p in args.photos.rglob("*") if p.is_file())
            rows.append([f"dataset-examples over {args.photos.name}/ ({count} photos)", f"{before:.1f} s", f"{after:.1f} s", f"{before / after:.2f}x"])
    print(format_table(["what", "full decode", "draft decode", "speed-up"], rows))


if __name__ == "__main__":
    main()
