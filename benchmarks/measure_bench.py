"""`gapkit measure` timed as users run it, beside its parts and a plain `cat` of the same file,
side by side in one run.

n pairs at d, float16 on disk ((2, n, d) .npy, memory-mapped). Rows:
  cat FILE > /dev/null                                     the read every pass must do
  `gapkit measure --embeddings FILE --no-retrieval --bootstrap 0`  (a subprocess: startup,
      imports, passes, separability, spectrum, rendering)
  the same command from an older gapkit (--old PYTHONPATH), for before / after
  parts, in this process: the scalar-only pass (check + normalise + sums), the d x d second
      moment's arithmetic alone (syrk on one cached chunk, n / chunk times: the FLOP floor of
      the spectrum), pass 1 (everything measure streams) and pass 2 (the mean-shift terms)
each with the file's pages in the page cache (warm) and evicted before every run (cold:
posix_fadvise(DONTNEED) on this file only).

Memory: peak RssAnon, the anonymous pages a process allocates, sampled every 10 ms from
/proc/PID/status (in this process also tracemalloc's peak). Pages of the memory-mapped file are
page cache, shared and evictable: they show in RssFile, reported apart, not in RssAnon.

Usage: python benchmarks/measure_bench.py [--n 1000000] [--d 768] [--repeats 3] [--old DIR]
       [--dir .scratch] [--keep] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import MachineNote, PeakMemory, save_report, table  # noqa: E402
from stats_bench import make_pairs  # noqa: E402

from gapkit.stats.bootstrap import BootstrapSet  # noqa: E402
from gapkit.stats.core import _threads  # noqa: E402
from gapkit.stats.executors import LocalPasses  # noqa: E402
from gapkit.stats.shift import standard_shifts  # noqa: E402
from gapkit.stats.stream import PassSpec, chunk_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (no other file is touched)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _status(pid: int) -> tuple[float, float]:
    """(RssAnon, RssFile) of a process in MB."""
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:")):
                    k, v = line.split(":")
                    vals[k] = int(v.split()[0]) / 1024
    except OSError:
        pass
    return vals.get("RssAnon", 0.0), vals.get("RssFile", 0.0)


def run_command(cmd: list[str], env: dict) -> dict:
    """Wall and CPU seconds (user + system, from wait4) and peak RssAnon / RssFile of a child."""
    t0 = time.perf_counter()
    # cwd "/": `python -m gapkit` puts the working folder first on sys.path, ahead of PYTHONPATH,
    # which would import this checkout's gapkit for the --old row too.
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd="/")
    anon = file = 0.0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        a, f = _status(p.pid)
        anon, file = max(anon, a), max(file, f)
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.read().decode()[-2000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "anon": anon, "file": file}


def timed_in_process(fn) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    with PeakMemory() as pm:
        fn()
    return {
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "anon": pm.peak,
        "file": float("nan"),
    }


def syrk_floor(n: int, d: int) -> None:
    """The second moment's arithmetic alone: a rank-c update per chunk on one cached float32
    chunk, as many chunks as n rows make, over the pass's threads (no reading, no conversion)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    c = chunk_rows(d, 16384)
    x = np.random.default_rng(0).standard_normal((c, d), dtype=np.float32)
    t = _threads()
    share = [n // c // t] * t

    def work(k: int) -> None:
        for _ in range(k):
            x.T @ x

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(t) as pool:
        list(pool.map(work, share))


def parts(path: Path, n: int, d: int) -> dict:
    """The pieces of measure's work as callables over the (2, n, d) file at ``path``. Each call
    maps the file afresh and drops the map when done: pages this process keeps mapped cannot be
    evicted, so a map held across runs would make every "cold" run after the first a warm one."""
    boot = BootstrapSet(0, 0, n, 10**12)
    from gapkit.stats.engine import Source

    def src() -> Source:
        a = np.load(path, mmap_mode="r")
        return Source(a[0], a[1])

    run = LocalPasses()
    shifts = standard_shifts(np.full(d, 1e-3), seeds=(0, 1, 2))
    fixed = np.stack([s.vector for s in shifts if s.name not in ("mean", "-mean")], 1).astype(np.float32)
    gap2 = np.stack([s.vector for s in shifts if s.name in ("mean", "-mean")], 1).astype(np.float32)
    return {
        "scalar-only pass (check, normalise, every scalar sum)": lambda: run(src(), PassSpec(True, d, boot)),
        "d x d second moment, arithmetic only (syrk floor)": lambda: syrk_floor(n, d),
        f"pass 1: sums + second moment + {fixed.shape[1]} fixed shifts": lambda: run(
            src(), PassSpec(True, d, boot, moment=True, shifts=fixed)
        ),
        "pass 2: mean / -mean shift terms": lambda: run(
            src(), PassSpec(True, d, boot, sums=False, shifts=gap2)
        ),
    }


def measure_all(path: Path, n: int, d: int, repeats: int, old: str | None) -> dict:
    """name -> {"warm": [runs], "cold": [runs]} for every row, interleaved so that load on the
    shared machine hits all rows alike."""
    cmd = [
        sys.executable,
        "-m",
        "gapkit",
        "--quiet",
        "measure",
        "--embeddings",
        str(path),
        "--no-retrieval",
        "--bootstrap",
        "0",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAPKIT_NO_PROGRESS": "1"}
    rows = {
        "cat FILE > /dev/null": lambda: run_command(["cat", str(path)], env),
        "gapkit measure ... --no-retrieval --bootstrap 0": lambda: run_command(cmd, env),
    }
    if old:
        rows["the same command, gapkit before the fused pass"] = lambda: run_command(
            cmd, {**env, "PYTHONPATH": old}
        )
    rows.update({k: (lambda f=f: timed_in_process(f)) for k, f in parts(path, n, d).items()})
    out = {k: {"warm": [], "cold": []} for k in rows}
    for r in range(repeats):
        for k, fn in rows.items():
            if "before" in k and r:
                continue  # the old command is slow: one run of each kind
            for state in ("cold", "warm"):
                evict(path) if state == "cold" else run_command(["cat", str(path)], env)
                out[k][state].append(fn())
                print(f"  {k} [{state}] {out[k][state][-1]['wall']:.2f} s", file=sys.stderr)
    return out


def which_gapkit(old: str | None) -> str:
    """Where each command row imported gapkit from (its git commit when it is a checkout)."""
    lines = []
    for label, pp in (("command", str(ROOT)), ("before", old)):
        if pp:
            env = {**os.environ, "PYTHONPATH": pp}
            f = subprocess.run(
                [sys.executable, "-c", "import gapkit; print(gapkit.__file__)"],
                env=env,
                cwd="/",
                capture_output=True,
                text=True,
            ).stdout.strip()
            lines.append(f"- {label} row: gapkit from {f}")
    return "\n".join(lines)


def render(res: dict, n: int, d: int, size_gb: float, repeats: int) -> str:
    med = lambda runs, key: statistics.median(r[key] for r in runs)
    cat = {s: med(res["cat FILE > /dev/null"][s], "wall") for s in ("warm", "cold")}
    scalar = {
        s: med(res["scalar-only pass (check, normalise, every scalar sum)"][s], "wall")
        for s in ("warm", "cold")
    }
    rows = []
    for k, v in res.items():
        w, c = med(v["warm"], "wall"), med(v["cold"], "wall")
        rows.append(
            [
                k,
                f"{w:.2f}",
                f"{w / cat['warm']:.1f}",
                f"{w / scalar['warm']:.2f}",
                f"{c:.2f}",
                f"{c / cat['cold']:.1f}",
                f"{c / scalar['cold']:.2f}",
                f"{med(v['warm'], 'cpu'):.1f}",
                f"{max(r['anon'] for r in v['warm'] + v['cold']):.0f}",
                "-"
                if k.startswith(("scalar", "d x d", "pass"))
                else f"{max(r['file'] for r in v['cold']):.0f}",
            ]
        )
    head = (
        f"n = {n:,} pairs, d = {d}, float16 (2, n, d) .npy ({size_gb:.2f} GB), memory-mapped; medians of "
        f"{repeats} runs (the old command: 1); {_threads()} threads; warm = file in the page cache, "
        "cold = its "
        "pages evicted before each run"
    )
    return (
        head
        + "\n\n"
        + table(
            [
                "what",
                "warm s",
                "x cat",
                "x scalar pass",
                "cold s",
                "x cat",
                "x scalar pass",
                "CPU s (warm)",
                "peak RssAnon MB",
                "peak RssFile MB (cold)",
            ],
            rows,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--old", default=None, help="PYTHONPATH of an older gapkit for the before / after row")
    ap.add_argument("--dir", default=None, help="where the data file goes (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the data file in --dir")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--note", default="", help="recorded with the results (e.g. what else ran on the machine)"
    )
    args = ap.parse_args()
    machine = MachineNote(args.note)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = (Path(args.dir if args.keep else tmp) / f"pairs-{args.n}-{args.d}.npy").resolve()
        if not path.exists():
            make_pairs(path, args.n, args.d)
        size_gb = path.stat().st_size / 1e9
        res = measure_all(path, args.n, args.d, args.repeats, args.old)
        report = render(res, args.n, args.d, size_gb, args.repeats) + "\n\n" + which_gapkit(args.old)
    print(report)
    save_report(args.out, "measure_bench.py", report, extra=machine.text())


if __name__ == "__main__":
    main()
