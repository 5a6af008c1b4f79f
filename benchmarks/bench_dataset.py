"""Dataset jobs: `dataset-examples` on a whole layer against a plain batched forward to that layer
on the same pre-decoded images (throughput ratio): the job in process, and the whole command as
a user meets it (a fresh process: start, imports, decoding, shards, summary, tables; crops
recorded as boxes, and with --crops written as PNGs). Then the cost of the runner's safety
(the folder lock, shard checksums, verifying every shard on resume) against the run it guards,
peak memory at 500 vs 5,000 images (it must not grow with the dataset), and the overhead of
running the same job on a local Ray instance.

    .venv/bin/python benchmarks/bench_dataset.py [--device cuda] [--images 200] [--batch-size 32] [--skip-ray]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.dataset.items import list_items  # noqa: E402
from synthcircuits.images import load_image  # noqa: E402
from synthcircuits.models import build_model, capture  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

LAYER = "mixed3b"  # 480 units, the curve detectors' layer

# Peak resident memory of one CLI run, read from the child's own /proc (VmHWM starts at exec).
MEASURED = ("import sys\nfrom synthcircuits.cli import main\ncode = main(sys.argv[1:])\n"
            "peak = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
            "print(f'PEAK_KB {peak}', file=sys.stderr)\nsys.exit(code)\n")


def make_images(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    for i in range(count):  # a shifted noise image each: real decoding work, cheap to make
        Image.fromarray(np.roll(base, i, axis=1)).save(folder / f"img_{i:05d}.png")
    return folder


# The console script itself (`synthcircuits ...`), whatever the venv's layout: what a user runs.
CONSOLE = "import sys\nfrom synthcircuits.cli import run\nsys.argv[0] = 'synthcircuits'\nrun()\n"


def command_seconds(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CONSOLE, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return time.perf_counter() - start


def cli(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURED, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    peak = int(next(line.split()[1] for line in result.stderr.splitlines() if line.startswith("PEAK_KB")))
    return time.perf_counter() - start, peak


def safety_costs(folder: Path, run_seconds: float) -> str:
    """What the runner's safety costs, each part timed on the finished run's own shards: taking
    and releasing the lock, a checksum per shard (hashing its bytes, writing its .sha256), and
    the verification a resume does (reading and hashing every shard)."""
    import hashlib

    from synthcircuits.dataset.ledger import check_shards
    from synthcircuits.dataset.runner import read_job_record
    from synthcircuits.dataset.shards import shards_of
    from synthcircuits.folder_lock import locked_folder
    from synthcircuits.outputs import atomic_target

    record = read_job_record(folder)
    shards = shards_of(record["items"], record["shard_size"])
    start = time.perf_counter()
    with locked_folder(work_lock := folder.parent / "lock_probe"):
        pass
    lock = time.perf_counter() - start
    start = time.perf_counter()
    for shard in shards:
        digest = hashlib.sha256(shard.path(folder).read_bytes()).hexdigest()
        with atomic_target(work_lock / f"{shard.number}.sha256", now=True) as tmp:
            tmp.write_text(digest)
    checksums = time.perf_counter() - start
    start = time.perf_counter()
    assert len(check_shards(folder, shards).whole) == len(shards)
    verify = time.perf_counter() - start
    rows = [[name, f"{seconds * 1000:.1f}", f"{seconds / run_seconds:.2%}"] for name, seconds in
            (("folder lock (take and release)", lock), (f"checksums of {len(shards)} shards", checksums),
             ("verifying every shard (a resume)", verify), ("all of it", lock + checksums + verify))]
    return format_table(["runner safety", "ms", "of the run"], rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=200, help="images for the throughput rows")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_dataset."))
    weights = work / "inceptionv1.safetensors"
    from synthcircuits.models import save_safetensors

    model = build_model("inceptionv1", seed=0)
    save_safetensors(model.state_dict(), weights)
    folder = make_images(work / "images", args.images, 224)
    model = model.to(args.device)

    # Baseline: the same images, already decoded, through a plain batched forward to the layer.
    batches = [torch.stack([load_image(i.path, 224) for i in chunk]) for chunk in
               np.array_split(list_items(folder), max(1, args.images // args.batch_size))]
    with torch.no_grad():
        capture(model, batches[0].to(args.device), [LAYER])  # warm-up
        start = time.perf_counter()
        for batch in batches:
            capture(model, batch.to(args.device), [LAYER])
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        forward = time.perf_counter() - start

    # The job as the command runs it (listing, decoding workers, shards, the two-pass summary), in this process.
    from synthcircuits.dataset.examples import ExamplesJob, LayerUnits, summarise
    from synthcircuits.dataset.runner import RunOptions, run_job

    units = [LayerUnits(LAYER, tuple(range(480)), tuple(f"{LAYER}:{c}" for c in range(480)))]
    options = RunOptions(batch_size=args.batch_size, device=args.device, progress=False)

    def examples(out: Path, ray: str | None = None) -> float:
        start = time.perf_counter()
        summarise(run_job(ExamplesJob(model, units), list_items(folder), out, options, ray=ray), units)
        return time.perf_counter() - start

    local = examples(work / "local")
    rows = [["plain batched forward to mixed3b (decoded images)", f"{forward:.2f}", f"{args.images / forward:.1f}", "1.00"],
            ["dataset examples, all 480 units of mixed3b (in process)", f"{local:.2f}", f"{args.images / local:.1f}", f"{forward / local:.2f}"]]
    command = ["dataset-examples", str(weights), "--images", str(folder), "--units", LAYER, "--batch-size", str(args.batch_size),
               "--device", args.device]
    for label, extra in (("the whole command, a new process (crop boxes)", []), ("the whole command with --crops (PNGs written)", ["--crops"])):
        seconds = command_seconds([*command, "-o", str(work / f"cli{len(extra)}"), *extra])
        rows.append([label, f"{seconds:.2f}", f"{args.images / seconds:.1f}", f"{forward / seconds:.2f}"])
    if not args.skip_ray:
        ray_time = examples(work / "ray", "local")
        rows.append(["the same on a local Ray instance (start included)", f"{ray_time:.2f}", f"{args.images / ray_time:.1f}",
                     f"{forward / ray_time:.2f}"])
    print(f"device {args.device}; {args.images} images of 224 px; batch {args.batch_size}\n")
    print(format_table(["run", "seconds", "images/s", "throughput vs plain forward"], rows))
    print()
    print(safety_costs(work / "local", local))

    # Memory does not grow with the dataset: 500 vs 5,000 images (64 px, to keep the run short).
    peaks = []
    for count in (500, 5000):
        small = make_images(work / f"small_{count}", count, 64)
        _, peak = cli(["dataset-examples", str(weights), "--images", str(small), "--units", LAYER, "--size", "64",
                       "--batch-size", str(args.batch_size), "--device", args.device, "-o", str(work / f"mem_{count}")])
        peaks.append(peak)
    print()
    print(format_table(["images", "peak resident memory (MiB)", "vs 500"],
                       [[n, f"{p / 1024:.0f}", f"{p / peaks[0]:.3f}"] for n, p in zip((500, 5000), peaks)]))


if __name__ == "__main__":
    main()
