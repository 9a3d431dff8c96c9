"""Sharded `gapkit measure`: N pairs at d in float16 across S shards (clip-retrieval's img_emb/ +
text_emb/ layout), measured by the local executor (one process and its threads) and by Ray on a
local instance (one task per shard, one CPU each), side by side in one run: throughput, their
ratio, peak anonymous memory of the driver and of each Ray worker; then the per-core rate of the
passes and the size of what a shard sends back, which the LAION-2B estimate is built from.

Memory: peak RssAnon from /proc/PID/status every 20 ms (memory-mapped shard pages are page
cache, RssFile, not the program's); for a Ray worker also its idle RssAnon (Python, numpy and
Ray loaded), so that the pass's own share shows.

Usage: python benchmarks/shards_bench.py [--pairs 4000000] [--d 768] [--shards 16] [--repeats 1]
       [--dir .scratch] [--keep] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import MachineNote, save_report, table  # noqa: E402
from measure_bench import ROOT, _status, evict  # noqa: E402

from gapkit.data.shards import load_shards  # noqa: E402
from gapkit.stats.bootstrap import BootstrapSet  # noqa: E402
from gapkit.stats.shift import standard_shifts  # noqa: E402
from gapkit.stats.stream import PassSpec, run_part  # noqa: E402

FLAGS = [
    "--no-retrieval",
    "--bootstrap",
    "200",
]  # measure's defaults otherwise (shifts, spectrum, separability)


def make_shards(root: Path, pairs: int, d: int, shards: int, seed: int = 0) -> Path:
    """clip-retrieval's layout in float16: CLIP-like pairs (shared content + a per-modality offset)."""
    rng = np.random.default_rng(seed)
    offset = rng.standard_normal((2, d)) * 0.6
    for sub in ("img_emb", "text_emb"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, pairs, shards + 1).astype(int)
    for k in range(shards):
        n = int(bounds[k + 1] - bounds[k])
        out = [
            np.lib.format.open_memmap(
                root / sub / f"{sub}_{k:04d}.npy", mode="w+", dtype=np.float16, shape=(n, d)
            )
            for sub in ("img_emb", "text_emb")
        ]
        for s in range(0, n, 65536):
            e = min(n, s + 65536)
            base = rng.standard_normal((e - s, d), dtype=np.float32)
            for m in range(2):
                x = base + offset[m] + 0.8 * rng.standard_normal((e - s, d), dtype=np.float32)
                out[m][s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        for o in out:
            o.flush()
    return root


def _ray_workers() -> list[int]:
    """Pids of Ray worker processes (their title starts with 'ray::')."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read(5) == b"ray::":
                        pids.append(int(p))
            except OSError:
                pass
    return pids


def run_cli(root: Path, executor: str, env: dict) -> dict:
    """Wall, driver CPU and peak RssAnon; per Ray worker its peak and idle (minimum) RssAnon."""
    cmd = [
        sys.executable,
        "-m",
        "gapkit",
        "--quiet",
        "measure",
        "--embeddings",
        str(root),
        *FLAGS,
        "--executor",
        executor,
        "--json",
        os.devnull,
    ]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    driver, workers = 0.0, {}
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        driver = max(driver, _status(p.pid)[0])
        for w in _ray_workers() if executor == "ray" else []:
            a = _status(w)[0]
            if a:
                lo, hi = workers.get(w, (a, a))
                workers[w] = (min(lo, a), max(hi, a))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.read().decode()[-3000:]}")
    busy = {w: v for w, v in workers.items() if v[1] - v[0] > 1}  # workers that ran tasks
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "driver": driver, "workers": busy}


def per_core_rate(root: Path, d: int) -> dict:
    """Passes 1 and 2 over one shard on one thread: pairs per CPU-second, and the pickled size
    of what a shard task sends back (the partial sums) with measure's defaults."""
    shards = load_shards([str(root)])
    shard = shards.shards[0]
    n = shard.stop - shard.start
    # The bootstrap subsample as LAION-2B draws it (10^5 of 2.3 x 10^9 images): almost no replicate
    # rows in one shard. (Below 10^5 images every row carries 200 replicate weights: slower.)
    boot = BootstrapSet(0, 200, int(2.3e9), 100_000)
    shifts = standard_shifts(np.full(d, 1e-3), seeds=(0, 1, 2))
    fixed = np.stack([s.vector for s in shifts if s.name not in ("mean", "-mean")], 1).astype(np.float32)
    spec1 = PassSpec(True, d, boot, moment=True, shifts=fixed, threads=1)
    spec2 = PassSpec(True, d, boot, sums=False, shifts=fixed[:, :2], threads=1)
    evict(Path(shard.image)), evict(Path(shard.text))
    c0 = time.process_time()
    part1 = run_part(shard, spec1)
    c1 = time.process_time()
    part2 = run_part(shard, spec2)
    c2 = time.process_time()
    return {
        "rows": n,
        "pass1": n / (c1 - c0),
        "pass2": n / (c2 - c1),
        "both": n / (c2 - c0),
        "partial1_mb": len(pickle.dumps(part1)) / 1e6,
        "partial2_mb": len(pickle.dumps(part2)) / 1e6,
        "spec_mb": len(pickle.dumps(spec1)) / 1e6,
    }


def laion_estimate(
    rate: dict,
    worker_mb: float,
    d: int,
    pairs: float = 2.3e9,
    shard_rows: float = 1e6,
    nodes: int = 16,
    cores: int = 64,
) -> str:
    """LAION-2B (2.3 x 10^9 pairs at d) on ``nodes`` x ``cores`` from the measured per-core rate."""
    shards = pairs / shard_rows
    read_tb = pairs * d * 2 * 2 / 1e12  # float16, images + texts, per pass
    node_hours = pairs / (nodes * cores) / rate["both"] / 3600
    moved = shards * (rate["partial1_mb"] + rate["partial2_mb"]) / 1e3 + nodes * rate["spec_mb"] / 1e3
    return "\n".join(
        [
            f"LAION-2B estimate: {pairs:.2g} pairs at d = {d}, float16, in {shards:,.0f} shards "
            f"of {shard_rows:,.0f} "
            f"pairs, on {nodes} nodes x {cores} cores (one Ray task per shard per core):",
            f"- bytes read: {read_tb:.2f} TB per pass, {2 * read_tb:.2f} TB with pass 2 "
            "(the mean-shift terms)",
            f"- per-core rate measured here: {rate['both']:,.0f} pairs per CPU-second for both passes "
            f"({rate['pass1']:,.0f} pass 1, {rate['pass2']:,.0f} pass 2)",
            f"- CPU: {pairs / rate['both'] / 3600:,.0f} core-hours; wall per node {node_hours:.2f} h "
            f"({node_hours * 60:.0f} min) if compute-bound, i.e. if each node reads "
            f"{2 * read_tb * 1e3 / nodes / (node_hours * 3600):.2f} GB/s "
            "(else the read bandwidth sets the time)",
            f"- per-worker memory: {worker_mb:.0f} MB peak RssAnon measured per Ray worker here "
            f"(x {cores} workers = {worker_mb * cores / 1e3:.1f} GB per node); "
            "shard pages are page cache",
            f"- data moved between machines: {rate['partial1_mb']:.1f} MB (pass 1) + "
            f"{rate['partial2_mb']:.2f} MB "
            f"(pass 2) of partial sums per shard, {moved:.1f} GB in all to the driver; "
            "the plan (shift vectors, "
            f"bootstrap subsample) {rate['spec_mb']:.1f} MB once per node; no rows.",
            "- samples read by the driver by random access: 20,000 + 20,000 rows (separability), 2,000 pairs "
            "(spectrum replicates); 1,000 + 1,000 query rows with sampled retrieval.",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=4_000_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the shards in --dir")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--note", default="", help="recorded with the results (e.g. what else ran on the machine)"
    )
    args = ap.parse_args()
    machine = MachineNote(args.note)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAPKIT_NO_PROGRESS": "1"}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = (
            Path(args.dir if args.keep else tmp) / f"shards-{args.pairs}-{args.d}-{args.shards}"
        ).resolve()
        t0 = time.perf_counter()
        if not (root / "text_emb").exists():
            make_shards(root, args.pairs, args.d, args.shards)
        made = time.perf_counter() - t0
        runs = {"local": [], "ray": []}
        for _ in range(args.repeats):
            for ex in runs:
                runs[ex].append(run_cli(root, ex, env))
                print(f"  {ex}: {runs[ex][-1]['wall']:.1f} s", file=sys.stderr)
        rate = per_core_rate(root, args.d)
        size = sum(f.stat().st_size for f in root.rglob("*.npy")) / 1e9
    report = render(runs, rate, args, size, made)
    print(report)
    save_report(args.out, "shards_bench.py", report, extra=machine.text())


def render(runs: dict, rate: dict, args, size: float, made: float) -> str:
    rows, base = [], None
    for ex, rs in runs.items():
        best = min(rs, key=lambda r: r["wall"])
        base = base or best["wall"]
        work = [hi - lo for lo, hi in best["workers"].values()]
        peaks = [hi for _, hi in best["workers"].values()]
        rows.append(
            [
                ex,
                f"{best['wall']:.1f}",
                f"{args.pairs / best['wall']:,.0f}",
                f"{base / best['wall']:.2f}",
                f"{best['cpu']:.0f}",
                f"{best['driver']:.0f}",
                f"{len(peaks)}: {max(peaks):.0f} ({max(work):.0f} above idle)" if peaks else "-",
            ]
        )
    worker_mb = max((hi for r in runs["ray"] for _, hi in r["workers"].values()), default=float("nan"))
    head = (
        f"{args.pairs:,} pairs at d = {args.d}, float16, {args.shards} shards (clip-retrieval layout, "
        f"{size:.1f} GB; written in {made:.0f} s); `gapkit measure --embeddings DIR {' '.join(FLAGS)}`; "
        f"best of {args.repeats}; {os.cpu_count()} cores"
    )
    return "\n".join(
        [
            head,
            "",
            table(
                [
                    "executor",
                    "wall s",
                    "pairs/s",
                    "throughput vs local",
                    "driver CPU s",
                    "driver peak RssAnon MB",
                    "Ray workers: peak RssAnon MB",
                ],
                rows,
            ),
            "",
            laion_estimate(rate, worker_mb, args.d),
        ]
    )


if __name__ == "__main__":
    main()
