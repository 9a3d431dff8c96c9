"""Executors run grid cells: ``local`` (in process, or N worker processes) and ``ray`` (a local
Ray instance or an existing cluster). A cell writes its own result file atomically when it
finishes, so an interrupted grid resumes without redoing finished cells; a failed cell is
retried, reported, and the rest of the grid still completes."""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from .._registry import Registry
from ..errors import GapkitError

EXECUTORS: Registry = Registry("executor", ls_hint="executors")
log = logging.getLogger("gapkit.ablate")


@dataclass
class CellJob:
    key: str
    label: str
    config: dict
    run_dir: str
    result_path: str
    threads: int = 1


def _die_with_parent() -> None:
    """Worker initializer: on Linux, ask the kernel to end this worker when the grid process
    dies (a killed grid must not leave workers writing into its run folders)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _cell_lock(run: Path):
    """An exclusive lock per cell: two grids started on the same folder never run one cell twice."""
    from filelock import FileLock, Timeout

    run.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(run.parent / f"{run.name}.lock", timeout=0):
            yield
    except Timeout:
        raise GapkitError(f"cell {run.name} is being run by another process") from None


def run_cell(job: CellJob) -> dict:
    """Train + evaluate one cell (resuming its run folder if a checkpoint exists) and write its
    result file. Runs in a worker process or a Ray task."""
    import torch

    from ..close.config import CloseConfig
    from ..close.run import train_run
    from ..io import write_json

    torch.set_num_threads(max(1, job.threads))
    cfg = CloseConfig.from_dict(job.config)
    run = Path(job.run_dir)
    with _cell_lock(run):
        resume = (run / "checkpoint.pt").exists() and (run / "config.yaml").exists()
        record = train_run(cfg, run, resume=resume, overwrite=run.exists() and not resume)
        result = {"key": job.key, "label": job.label, "config": job.config, "metrics": record["metrics"],
                  "history": record["history"], "noise": record["noise"], "noise_norm": record["noise_norm"],
                  "dim": record["dim"], "n_train": record["n_train"], "provenance": record["provenance"]}
        write_json(Path(job.result_path), result)
    return result


def _attempt(job: CellJob) -> tuple[str, dict | None, str | None]:
    try:
        return job.key, run_cell(job), None
    except Exception as e:  # a failed cell is reported, not fatal for the grid
        return job.key, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"


class Executor:
    def __init__(self, jobs: int = 1, retries: int = 1, **_) -> None:
        self.jobs, self.retries = max(1, jobs), max(0, retries)

    def threads_per_job(self) -> int:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores // self.jobs)

    def run(self, jobs: list[CellJob], progress=None) -> dict[str, str]:
        """Run every job (with retries); returns {key: error} for the cells that still failed."""
        failed: dict[str, str] = {}
        todo = list(jobs)
        for attempt in range(1 + self.retries):
            errors = self._run_once(todo, progress)
            todo = [j for j in todo if j.key in errors]
            failed = errors
            for key, err in errors.items():
                log.warning("cell %s failed (attempt %d): %s", key, attempt + 1, err.splitlines()[0])
            if not todo:
                break
        return failed

    def _run_once(self, jobs, progress) -> dict[str, str]:
        raise NotImplementedError


@EXECUTORS.register("local")
class LocalExecutor(Executor):
    """Cells one after another in this process (jobs=1) or in N worker processes."""

    def _run_once(self, jobs, progress):
        errors = {}
        for j in jobs:
            j.threads = self.threads_per_job()
        if self.jobs == 1:
            for j in jobs:
                key, _, err = _attempt(j)
                if err:
                    errors[key] = err
                if progress:
                    progress(key, err)
            return errors
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                 initializer=_die_with_parent) as pool:
            futures = [pool.submit(_attempt, j) for j in jobs]
            for f in as_completed(futures):
                try:
                    key, _, err = f.result()
                except Exception as e:  # a worker killed from outside (OOM, SIGKILL)
                    key, err = "?", f"worker died: {e}"
                if err:
                    errors[key] = err
                if progress:
                    progress(key, err)
        return errors


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """Cells as Ray tasks, on a local instance or an existing cluster (``address``); a cell asks
    for a GPU when its config's device is CUDA."""

    def __init__(self, jobs: int = 1, retries: int = 1, address: str | None = None, **_) -> None:
        super().__init__(jobs, retries)
        self.address = address

    def _run_once(self, jobs, progress):
        try:
            import ray
        except ImportError:
            raise GapkitError("The Ray executor needs Ray: pip install 'gapkit[ray]'.") from None
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.jobs, include_dashboard=False, log_to_driver=False)
        errors = {}
        refs = {}
        for j in jobs:
            gpu = 1 if str(j.config.get("device") or "").startswith("cuda") else 0
            j.threads = 1 if not gpu else self.threads_per_job()
            task = ray.remote(num_cpus=1, num_gpus=gpu, max_retries=0)(_attempt)
            refs[task.remote(j)] = j.key
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                key, _, err = ray.get(done[0])
            except Exception as e:  # the worker process died
                key, err = refs[done[0]], f"ray task failed: {e}"
            if err:
                errors[key] = err
            if progress:
                progress(key, err)
        return errors


def create_executor(name: str, **options) -> Executor:
    return EXECUTORS.get(name)(**options)
