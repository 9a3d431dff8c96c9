"""One spawned worker process per cell, at most N at a time.

A process per cell (rather than a pool) ties every failure to its cell: a worker killed from
outside fails only the cell it was running, which is then retried on its own, and a broken
worker never takes the cells queued behind it down with it. The cost is one interpreter start
per cell, small next to training a cell."""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable
from multiprocessing import connection, get_context

from .cells import Attempt, CellJob, Done, _die_with_parent, attempt

_STOP_GRACE_S = 5.0  # after SIGTERM, how long a worker gets before SIGKILL


def _exit_on_sigterm(signum: int, frame) -> None:
    """SIGTERM (the grid stopping its workers, or the grid's own death through PDEATHSIG) unwinds
    the cell like an exception: its ``finally`` blocks run (cell lock, temporary files) and so do
    multiprocessing's finalizers, which unlink the worker's semaphores (tqdm's lock, DataLoader
    queues). Dying of the bare signal left them to the resource tracker, which warned about
    "leaked semaphore objects" when the grid exited."""
    raise SystemExit(128 + signum)  # the shell's convention: the parent reports "killed by SIGTERM"


def _worker(job: CellJob, conn, target: Callable[[CellJob], Attempt] = attempt) -> None:
    """Worker entry point: run one cell and send its ``Attempt`` back."""
    # Ctrl-C in a terminal reaches the whole process group; the grid process alone decides
    # what happens (it stops the workers), so a worker does not die half-way on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _die_with_parent()
    conn.send(target(job))
    conn.close()


def _exit_reason(code: int | None) -> str:
    """How a worker ended: a negative code is the signal that killed it; 128 + N is SIGN caught by
    ``_exit_on_sigterm`` (or a shell's report of a signal)."""
    number = -code if code is not None and code < 0 else (code - 128 if code and 128 < code < 160 else 0)
    if number:
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit code {code}"


def _collect(proc, conn, job: CellJob) -> Attempt:
    """The attempt a finished worker sent, or a failure saying how the worker died."""
    proc.join()
    try:
        result = conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        result = None
    conn.close()
    if result is None:
        return Attempt(job.key, f"worker died ({_exit_reason(proc.exitcode)}) while running the cell")
    return result


def _stop(running: dict) -> None:
    """SIGTERM every running worker, then SIGKILL the ones still alive after a grace period."""
    for proc, _, _ in running.values():
        proc.terminate()
    for proc, _, _ in running.values():
        proc.join(_STOP_GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


def run_in_workers(
    queue: deque, done: Done, n_workers: int, on_interrupt, target: Callable[[CellJob], Attempt] = attempt
) -> None:
    """Run the queued jobs, ``n_workers`` at a time, each as ``target(job)`` in its own worker; a
    job for which ``done`` says retry goes back to the end of the queue. On KeyboardInterrupt
    (SIGINT, or SIGTERM under ``executors.sigterm_interrupts``): ``on_interrupt(running, queued)``,
    stop the running workers (each unwinds and cleans up, see ``_exit_on_sigterm``), re-raise.
    Workers are not daemons: a cell may start DataLoader workers."""
    ctx = get_context("spawn")
    running: dict = {}  # process sentinel -> (process, receiving end of its pipe, job)
    try:
        while queue or running:
            while queue and len(running) < n_workers:
                job = queue.popleft()
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(job, send, target), name=f"gapkit-cell-{job.key}")
                proc.start()
                send.close()  # the worker holds the only sending end: EOF once it is gone
                running[proc.sentinel] = (proc, recv, job)
            for sentinel in connection.wait(list(running)):
                proc, recv, job = running.pop(sentinel)
                if done(job, _collect(proc, recv, job)):
                    queue.append(job)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            on_interrupt(len(running), len(queue))
        _stop(running)  # never leave workers behind, whatever ended the loop
        raise
