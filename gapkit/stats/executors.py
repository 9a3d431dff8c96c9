"""How ``measure``'s streaming passes run: ``local`` (every part in this process, each over a few
threads) or ``ray`` (each shard as a Ray task on a local instance or a cluster). Either way the
parts' partial sums are merged in part order, so both give the same numbers (up to float64
rounding of the thread split: ~1e-16 relative). Only partial sums travel back from a Ray task:
O(d^2 + reps x d) numbers per shard, never its rows."""

from __future__ import annotations

import contextlib
import logging
import os

from .._registry import Registry
from ..errors import GapkitError
from .core import _threads
from .stream import Partial, PassSpec, merge_all, pass_one_to_many, pass_pairs, run_part

PASS_EXECUTORS: Registry = Registry("measure executor", ls_hint="measure-executors")
log = logging.getLogger("gapkit.stats")


@PASS_EXECUTORS.register("local")
class LocalPasses:
    """Every part in this process, one after another, each split over a few threads."""

    name = "local"

    def __init__(self, address: str | None = None) -> None:
        if address:
            raise GapkitError(
                f"--address {address} is for --executor ray; the local executor runs in this process."
            )

    def __call__(self, src, spec: PassSpec):
        spec.threads = _threads()
        if src.parts is None and src.caption_image is not None:
            return pass_one_to_many(src.image_emb, src.text_emb, src.caption_image, spec)
        if src.parts is None:
            return pass_pairs(src.image_emb, src.text_emb, 0, spec)
        return merge_all([run_part(p, spec) for p in src.parts])


@PASS_EXECUTORS.register("ray")
class RayPasses:
    """Each shard as a Ray task (one CPU) on a local Ray instance or a cluster (``address``)."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def __call__(self, src, spec: PassSpec):
        if src.parts is None:
            raise GapkitError(
                "--executor ray reads .npy shard files (one file, a folder or a glob); "
                "embeddings from .npz, .safetensors or an encoder run with --executor local."
            )
        ray = _ray(self.address)
        spec.threads = 1  # a task holds one CPU
        task = ray.remote(num_cpus=1, max_retries=1)(run_part)
        spec_ref = ray.put(spec)  # the shift matrix and queries travel to each node once
        refs = [task.remote(p, spec_ref) for p in src.parts]
        try:
            return _merge_in_order(ray, refs, Partial.new(spec))
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, GapkitError):
                raise GapkitError(str(cause)) from None
            raise


def _merge_in_order(ray, refs: list, merged: Partial) -> Partial:
    """Merge results into ``merged`` (empty; results come back read-only) in shard order as they
    arrive: a result waits only for earlier shards, so the driver holds few partials (O(d^2)
    each) however many shards there are."""
    done: dict[int, Partial] = {}
    index = {ref: i for i, ref in enumerate(refs)}
    pending, nxt = list(refs), 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        done[index[ready[0]]] = ray.get(ready[0])
        while nxt in done:
            merged.merge(done.pop(nxt))
            nxt += 1
    return merged


def _ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise GapkitError("The ray executor needs Ray: pip install 'gapkit[ray]'.") from None
    # a local instance gets the cores this process may use (taskset, cpusets), not the machine's
    start_ray(ray, address, _cores())
    return ray


def start_ray(ray, address: str | None, num_cpus: int) -> None:
    """Join the Ray cluster at ``address``, or start a local instance with ``num_cpus`` CPUs,
    unless Ray already runs in this process. When Ray cannot (no cluster at the address, a local
    instance that does not come up: a full /tmp, taken ports, a stale session), the error is one
    line saying what was tried and Ray's reason; ``--debug`` shows Ray's own traceback."""
    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as e:
        with contextlib.suppress(Exception):
            ray.shutdown()  # a half-started instance must not be picked up by the next call
        tried = (
            f"connect to the cluster at --address {address}"
            if address
            else f"start a local instance ({num_cpus} CPUs)"
        )
        raise GapkitError(
            f"Ray could not {tried}: {type(e).__name__}: {_first_line(e)} "
            "(--debug shows Ray's traceback; --executor local runs without Ray)."
        ) from e


def _first_line(e: Exception) -> str:
    """The first non-empty line of an exception's message, at most 300 characters."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else "no message"
    return text if len(text) <= 300 else text[:297] + "..."


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def create_pass_executor(name: str, address: str | None = None):
    return PASS_EXECUTORS.create(name, address=address)
