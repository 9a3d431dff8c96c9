"""Executors run grid cells: ``local`` (in process, or one worker process per cell, N at a time)
and ``ray`` (a local Ray instance or an existing cluster). A cell writes its own result file
atomically when it finishes, so an interrupted grid resumes without redoing finished cells.

A failed cell is retried on its own, up to ``retries`` more times, unless it failed with a
``GapkitError`` (a configuration or data error: the same config fails the same way again); the
rest of the grid still completes. A worker that dies (OOM killer, SIGKILL) fails only the cell it
was running. On Ctrl-C nothing new starts, running cells are stopped and the interrupt goes on."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter, deque

from .._registry import Registry
from ..errors import GapkitError
from .cells import Attempt, CellJob, Done, attempt, first_line, run_cell

__all__ = ["EXECUTORS", "Attempt", "CellJob", "Done", "attempt", "create_executor", "first_line", "run_cell"]

EXECUTORS: Registry = Registry("executor", ls_hint="executors")
log = logging.getLogger("gapkit.ablate")


class Executor:
    def __init__(self, jobs: int = 1, retries: int = 1, **_) -> None:
        self.jobs, self.retries = max(1, jobs), max(0, retries)

    def threads_per_job(self) -> int:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores // self.jobs)

    def run(self, jobs: list[CellJob], progress=None) -> dict[str, Attempt]:
        """Run every job, retrying a failed cell on its own; returns {key: last failed attempt} for
        the cells that still failed. ``progress(job, attempt, retry)`` is called after every attempt."""
        tries: Counter = Counter()
        failed: dict[str, Attempt] = {}

        def done(job: CellJob, result: Attempt) -> bool:
            tries[job.key] += 1
            retry = result.error is not None and not result.permanent and tries[job.key] <= self.retries
            if result.error is None:
                failed.pop(job.key, None)
            else:
                failed[job.key] = result
                what = (
                    "configuration or data error, not retried"
                    if result.permanent
                    else ("retrying" if retry else f"giving up after {tries[job.key]} attempts")
                )
                log.warning(
                    "cell %s failed (attempt %d; %s): %s",
                    job.label,
                    tries[job.key],
                    what,
                    first_line(result.error),
                )
            if progress:
                progress(job, result, retry)
            return retry

        with sigterm_interrupts():
            self._run(list(jobs), done)
        return failed

    def _run(self, jobs: list[CellJob], done: Done) -> None:
        raise NotImplementedError


class Terminated(KeyboardInterrupt):
    """SIGTERM to the grid process: it stops as on Ctrl-C (nothing new starts, running cells are
    stopped and their workers cleaned up), then ``gapkit ablate`` exits with 143."""


@contextlib.contextmanager
def sigterm_interrupts():
    """While the grid runs, SIGTERM raises ``Terminated`` in the grid process, so it stops its
    workers as on Ctrl-C instead of dying at once (its workers would get SIGTERM from the kernel,
    unreported). Only in the main thread (the only one that can set signal handlers)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopping(running: int, queued: int) -> None:
    log.warning(
        "interrupted: stopping %d running cell%s; %d not started. Finished cells are kept; "
        "rerun the same command to resume.",
        running,
        "" if running == 1 else "s",
        queued,
    )


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Cells one after another in this process (jobs=1) or one worker process per cell, N at a time."""

    def _run(self, jobs, done):
        for j in jobs:
            j.threads = self.threads_per_job()
        if self.jobs == 1:
            self._in_process(deque(jobs), done)
        else:
            from .workers import run_in_workers

            run_in_workers(deque(jobs), done, self.jobs, _stopping)

    @staticmethod
    def _in_process(queue: deque, done: Done) -> None:
        while queue:
            job = queue.popleft()
            try:
                result = attempt(job)
            except KeyboardInterrupt:
                _stopping(1, len(queue))
                raise
            if done(job, result):
                queue.append(job)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Cells as Ray tasks, on a local instance or an existing cluster (``address``); a cell asks
    for a GPU when its config's device is CUDA."""

    def __init__(self, jobs: int = 1, retries: int = 1, address: str | None = None, **_) -> None:
        super().__init__(jobs, retries)
        self.address = address

    def _run(self, jobs, done):
        try:
            import ray
        except ImportError:
            raise GapkitError("The Ray executor needs Ray: pip install 'gapkit[ray]'.") from None
        from ..stats.executors import start_ray

        start_ray(ray, self.address, self.jobs)  # Ray failing to start: one line, not its traceback
        refs = {self._submit(ray, j): j for j in jobs}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                job = refs.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except Exception as e:  # the worker process died or the task was lost
                    result = Attempt(job.key, f"ray task failed: {e}")
                if done(job, result):
                    refs[self._submit(ray, job)] = job
        except KeyboardInterrupt:
            log.warning(
                "interrupted: cancelling %d unfinished cells. Finished cells are kept; rerun the same "
                "command to resume.",
                len(refs),
            )
            for ref in refs:
                ray.cancel(ref, force=True)
            raise

    def _submit(self, ray, job: CellJob):
        gpu = 1 if str(job.config.get("device") or "").startswith("cuda") else 0
        job.threads = 1 if not gpu else self.threads_per_job()
        return ray.remote(num_cpus=1, num_gpus=gpu, max_retries=0)(attempt).remote(job)


def create_executor(name: str, **options) -> Executor:
    return EXECUTORS.create(name, **options)
