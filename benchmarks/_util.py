"""Shared helpers for the benchmark scripts: repeated timing and peak memory sampling."""

from __future__ import annotations

import statistics
import threading
import time


def rss_anon_mb() -> float:
    """Anonymous resident memory of this process in MB (excludes page-cache pages of memory maps)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Peak extra memory of the block in MB: the larger of RssAnon sampled every few ms and
    tracemalloc's peak (which sees short-lived numpy arrays the sampler can miss)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    def __enter__(self):
        import tracemalloc

        tracemalloc.start()
        self.start = rss_anon_mb()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon_mb() - self.start)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        import tracemalloc

        self._stop.set()
        self._t.join()
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        self.peak = max(self.peak, rss_anon_mb() - self.start, traced)


def timed(fn, repeats: int = 3) -> dict:
    """Median / min / max seconds of ``fn()`` over ``repeats`` runs, and the peak extra memory."""
    times, peak, result = [], 0.0, None
    for _ in range(repeats):
        with PeakMemory() as pm:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        peak = max(peak, pm.peak)
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "peak_mb": peak,
        "result": result,
    }


def fmt_row(cells, widths) -> str:
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"


def table(header: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = [fmt_row(cells[0], widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [fmt_row(r, widths) for r in cells[1:]])


def save_report(out: str | None, script: str, report: str, extra: str = "") -> None:
    """Write ``report`` to ``out`` headed by the command that made it (when ``out`` is given)."""
    import sys
    from pathlib import Path

    if out:
        head = f"Command: `python benchmarks/{script} {' '.join(sys.argv[1:])}`\n{extra}\n"
        Path(out).write_text(head + report + "\n")


class MachineNote:
    """What a reader needs to judge timings from a shared machine: the cores and threads this run
    could use, the load averages (as `uptime` prints them) before and after, and a free-form note
    (e.g. "a training job ran alongside at higher priority")."""

    def __init__(self, note: str = "") -> None:
        import os

        self.note, self.before = note, os.getloadavg()

    def text(self) -> str:
        import os

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        env = ", ".join(
            f"{k}={os.environ[k]}"
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        )
        fmt = lambda la: ", ".join(f"{x:.2f}" for x in la)
        lines = [
            f"Machine: {os.cpu_count()} cores, this run allowed {cores} (sched_getaffinity)"
            f"{'; ' + env if env else ''}; "
            f"niceness {os.nice(0)}.",
            f"Load averages (1, 5, 15 min) before: {fmt(self.before)}; after: {fmt(os.getloadavg())}.",
        ]
        if self.note:
            lines.append(f"Note: {self.note}")
        return "\n".join(lines) + "\n"
