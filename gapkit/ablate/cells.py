"""One grid cell: its job, how an attempt at it ended, and running it (in this process, a worker
process or a Ray task). The executors (``executors.py``) and the worker pool (``workers.py``) both
build on this module, so neither imports the other at module level."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import GapkitError
from ..records import CellResult


@dataclass
class CellJob:
    key: str
    label: str
    config: dict
    run_dir: str
    result_path: str
    threads: int = 1


@dataclass
class Attempt:
    """How one attempt at a cell ended: ``error`` is None on success; ``permanent`` marks a
    configuration or data error, which a retry cannot fix."""

    key: str
    error: str | None = None
    permanent: bool = False


# An error travels back from a worker through a pipe the worker must be able to fill before it exits.
_MAX_ERROR = 8000
# Called once per finished attempt; returns True when the executor should run the cell again.
Done = Callable[[CellJob, Attempt], bool]


def _die_with_parent() -> None:
    """In a worker: on Linux, ask the kernel to end this worker when the grid process dies (a
    killed grid must not leave workers writing into its run folders)."""
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


def run_cell(job: CellJob) -> CellResult:
    """Train + evaluate one cell (resuming its run folder if a checkpoint exists) and write its
    result file. Runs in this process, a worker process or a Ray task."""
    import torch

    from ..close.config import CloseConfig
    from ..close.run import train_run
    from ..records import write_record

    torch.set_num_threads(max(1, job.threads))
    cfg = CloseConfig.from_dict(job.config)
    run = Path(job.run_dir)
    with _cell_lock(run):
        resume = (run / "checkpoint.pt").exists() and (run / "config.yaml").exists()
        record = train_run(cfg, run, resume=resume, overwrite=run.exists() and not resume)
        result = CellResult.from_run(job.key, job.label, job.config, record)
        write_record(Path(job.result_path), result)
    return result


def attempt(job: CellJob) -> Attempt:
    """Run one cell, turning its failure into an ``Attempt`` (a failed cell is not fatal for the grid)."""
    try:
        run_cell(job)
        return Attempt(job.key)
    except GapkitError as e:
        return Attempt(job.key, str(e)[:_MAX_ERROR], permanent=True)
    except Exception as e:
        return Attempt(job.key, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"[:_MAX_ERROR])


def first_line(error: str) -> str:
    return (error.strip().splitlines() or [""])[0]
