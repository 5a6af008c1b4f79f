"""The same dataset job on Ray: shards become rows of a Ray Dataset, `map_batches` hands each to a
model actor (one per GPU, or per CPU), and the driver writes the shard files it gets back. Each
actor computes a shard exactly as the local runner does (same batches, same code), so the
results are the same files. Ray is an optional extra: `pip install 'synthcircuits[ray]'`.

Faults are Ray's to handle, through its own settings: an actor whose process dies is started
again (`max_restarts`) and the shard it was computing is sent again (`max_task_retries`), a
bounded number of times, so a shard that kills every actor it meets ends the run instead of
looping. A shard is a pure function of its items, so a retried shard is the same bytes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..errors import UserError
from .items import Item
from .shards import Job, RunOptions, Shard, shard_batches, shard_payload, steady_heap

RETRIES = 3  # restarts of a dead actor, and resends of the shard it held


def run_on_ray(job: Job, items: Sequence[Item], todo: Sequence[Shard], options: RunOptions, address: str) -> Iterator[tuple[Shard, bytes]]:
    if not todo:
        return
    with ray_session(address) as ray:
        import ray.data
        gpus = int(ray.cluster_resources().get("GPU", 0)) if job_wants_gpu(options) else 0
        actors = max(1, gpus or int(ray.cluster_resources().get("CPU", 1)))
        rows = [{"number": s.number, "start": s.start, "stop": s.stop} for s in todo]
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        by_number = {s.number: s for s in todo}
        dataset = ray.data.from_items(rows).map_batches(
            ShardActor, batch_size=1, concurrency=min(actors, len(todo)), num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
            fn_constructor_kwargs={"job": job, "items": list(items), "options": options},
            max_restarts=RETRIES, max_task_retries=RETRIES)
        for row in dataset.iter_rows():
            yield by_number[int(row["number"])], bytes(row["payload"])


@contextmanager
def ray_session(address: str) -> Iterator:
    """The `ray` module, connected: to a new local instance (`local`), to this machine's cluster
    (`auto`) or to an address; shut down afterwards where this call started it."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray, which is not installed", hint="pip install 'synthcircuits[ray]' (or: pip install 'ray[data]')") from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot reach the Ray cluster {address!r}: {str(exc).splitlines()[0]}",
                            hint="--ray alone starts a local instance; --ray auto joins the cluster this machine is part of") from None
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def job_wants_gpu(options: RunOptions) -> bool:
    return options.device.startswith("cuda")


class ShardActor:
    """Holds the job (its model on this actor's device) and computes whole shards."""

    def __init__(self, job: Job, items: list[Item], options: RunOptions):
        import torch

        device = "cuda" if job_wants_gpu(options) and torch.cuda.is_available() else "cpu"
        self.job, self.items, self.options = job.to(device), items, options

    def __call__(self, batch: dict) -> dict:
        numbers, payloads = [], []
        for number, start, stop in zip(batch["number"], batch["start"], batch["stop"]):
            shard = Shard(int(number), int(start), int(stop))
            numbers.append(shard.number)
            with steady_heap():
                payloads.append(shard_payload(self.job, self.items, shard_batches(self.items, shard, self.options)))
        return {"number": numbers, "payload": payloads}
