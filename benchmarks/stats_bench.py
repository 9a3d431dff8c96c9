"""Benchmark the streaming gap statistics.

1. n = 1,000,000 pairs at d = 768, float16 on disk, memory-mapped: the streaming pass (every
   scalar statistic) against a plain read of the same array, side by side; peak memory.
2. Against the n x n Gram-matrix approach of earlier tools: agreement at n = 5,000 and the speed
   and memory ratio at n = 20,000.

Usage: python benchmarks/stats_bench.py [--n 1000000] [--d 768] [--repeats 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table, timed  # noqa: E402

from gapkit.stats.bootstrap import BootstrapSet  # noqa: E402
from gapkit.stats.core import scalar_statistics  # noqa: E402
from gapkit.stats.engine import Source  # noqa: E402
from gapkit.stats.executors import LocalPasses  # noqa: E402
from gapkit.stats.reference import gram_statistics  # noqa: E402
from gapkit.stats.shift import standard_shifts  # noqa: E402
from gapkit.stats.stream import PassSpec  # noqa: E402

CHUNK = 16384

COSINE_KEYS = [
    "paired_cosine",
    "unpaired_cosine",
    "image_image_cosine",
    "text_text_cosine",
    "l2m",
    "centroid_cosine",
    "l2i",
    "rmg",
    "diff_cov_trace",
]


def make_pairs(path: Path, n: int, d: int, seed: int = 0) -> np.memmap:
    """(2, n, d) float16 .npy of CLIP-like pairs (shared content + per-modality offset), written in chunks."""
    rng = np.random.default_rng(seed)
    offset = rng.standard_normal((2, d)) * 0.6
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(2, n, d))
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        base = rng.standard_normal((e - s, d), dtype=np.float32)
        for m in range(2):
            x = base + offset[m] + 0.8 * rng.standard_normal((e - s, d), dtype=np.float32)
            arr[m, s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
    arr.flush()
    del arr
    return np.load(path, mmap_mode="r")


def plain_read(a: np.ndarray) -> float:
    """Touch every byte once, chunk by chunk: the memory-bandwidth ceiling of any pass."""
    acc = 0.0
    for m in range(2):
        for s in range(0, a.shape[1], CHUNK):
            acc += float(np.asarray(a[m, s : s + CHUNK])[:, 0].sum())  # forces the chunk read
            np.array(a[m, s : s + CHUNK], copy=True)
    return acc


def read_convert(a: np.ndarray) -> float:
    """A plain read that also converts to float32 (what any float32 computation must do first)."""
    acc = 0.0
    for m in range(2):
        for s in range(0, a.shape[1], CHUNK):
            acc += float(np.asarray(a[m, s : s + CHUNK], dtype=np.float32)[:, 0].sum())
    return acc


def streaming(img, txt) -> dict:
    """The scalar-only streaming pass (check, normalise, sums) and its statistics."""
    spec = PassSpec(True, img.shape[1], BootstrapSet(0, 0, len(img), 10**12))
    return {k: float(v[0]) for k, v in scalar_statistics(LocalPasses()(Source(img, txt), spec).point).items()}


def shift_pass(a: np.ndarray, shifts) -> None:
    """MG / Delta terms of every shift, as measure's second pass computes them."""
    b = np.stack([s.vector for s in shifts], 1).astype(np.float32)
    spec = PassSpec(True, a.shape[2], BootstrapSet(0, 0, a.shape[1], 10**12), sums=False, shifts=b)
    LocalPasses()(Source(a[0], a[1]), spec)


def part_one(n: int, d: int, repeats: int) -> str:
    with tempfile.TemporaryDirectory(dir=os.environ.get("GAPKIT_BENCH_TMP")) as tmp:
        a = make_pairs(Path(tmp) / "pairs.npy", n, d)
        plain_read(a)  # warm the page cache so both measure the same thing
        read = timed(lambda: plain_read(a), repeats)
        convert = timed(lambda: read_convert(a), repeats)
        stream = timed(lambda: streaming(a[0], a[1]), repeats)
        shifts = standard_shifts(np.zeros(d) + 1e-3)
        shift = timed(lambda: shift_pass(a, shifts), 1)
        size_gb = a.nbytes / 1e9
    rows = [
        [
            "plain read (float16 -> memory)",
            f"{read['median']:.2f}",
            f"{read['min']:.2f}-{read['max']:.2f}",
            "1.00",
            f"{read['peak_mb']:.0f}",
        ],
        [
            "read + convert to float32 (numpy, one thread)",
            f"{convert['median']:.2f}",
            f"{convert['min']:.2f}-{convert['max']:.2f}",
            f"{convert['median'] / read['median']:.2f}",
            f"{convert['peak_mb']:.0f}",
        ],
        [
            "streaming pass: all scalar statistics",
            f"{stream['median']:.2f}",
            f"{stream['min']:.2f}-{stream['max']:.2f}",
            f"{stream['median'] / read['median']:.2f}",
            f"{stream['peak_mb']:.0f}",
        ],
        [
            f"MG/Delta pass, {len(shifts)} shifts",
            f"{shift['median']:.2f}",
            "-",
            f"{shift['median'] / read['median']:.2f}",
            f"{shift['peak_mb']:.0f}",
        ],
    ]
    head = (
        f"n = {n:,} pairs, d = {d}, float16 memory map ({size_gb:.2f} GB), chunk {CHUNK}, {repeats} repeats"
    )
    return (
        head + "\n\n" + table(["pass", "median s", "min-max s", "x plain read", "peak extra MB (anon)"], rows)
    )


def part_two(repeats: int) -> str:
    rng = np.random.default_rng(1)
    rows = []
    for n in (5000, 20000):
        d = 768
        base = rng.standard_normal((n, d), dtype=np.float32)
        img = base + 0.6 + 0.8 * rng.standard_normal((n, d), dtype=np.float32)
        txt = base - 0.6 + 0.8 * rng.standard_normal((n, d), dtype=np.float32)
        gram = timed(lambda: gram_statistics(img, txt, ks=(1,)) if n <= 5000 else _gram_cosines(img, txt), 1)
        stream = timed(lambda: streaming(img, txt), repeats)
        diff = max(abs(gram["result"][k] - stream["result"][k]) for k in COSINE_KEYS if k in gram["result"])
        rows.append(
            [
                n,
                f"{gram['median']:.2f}",
                f"{stream['median']:.3f}",
                f"{gram['median'] / stream['median']:.0f}x",
                f"{gram['peak_mb']:.0f}",
                f"{stream['peak_mb']:.1f}",
                f"{gram['peak_mb'] / max(stream['peak_mb'], 0.1):.0f}x",
                f"{diff:.1e}",
            ]
        )
    return table(
        [
            "n",
            "Gram s",
            "streaming s",
            "speed-up",
            "Gram MB",
            "streaming MB",
            "memory ratio",
            "max |difference|",
        ],
        rows,
    )


def _gram_cosines(img, txt) -> dict:
    """The n x n part of gram_statistics in float32 (what earlier tools do on a GPU), no retrieval."""
    x = img / np.linalg.norm(img, axis=1, keepdims=True)
    y = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    n = len(x)
    s = x @ y.T
    paired = np.diag(s).astype(np.float64)
    unpaired = (s.sum(dtype=np.float64) - paired.sum()) / (n * n - n)
    gi = x @ x.T
    gt = y @ y.T
    cone_i = (gi.sum(dtype=np.float64) - n) / (n * (n - 1))
    cone_t = (gt.sum(dtype=np.float64) - n) / (n * (n - 1))
    mu_i, mu_t = x.mean(0, dtype=np.float64), y.mean(0, dtype=np.float64)
    d_m = max(1 - (paired.mean() + 1) / 2, 1e-3)
    rmg = d_m / (d_m + ((1 - (cone_i + 1) / 2) + (1 - (cone_t + 1) / 2)) / 2)
    return {
        "paired_cosine": paired.mean(),
        "unpaired_cosine": unpaired,
        "image_image_cosine": cone_i,
        "text_text_cosine": cone_t,
        "l2m": float(np.linalg.norm(mu_i - mu_t)),
        "rmg": rmg,
        "centroid_cosine": float(mu_i @ mu_t / np.linalg.norm(mu_i) / np.linalg.norm(mu_t)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    text = [
        "## Streaming statistics vs a plain read",
        "",
        part_one(args.n, args.d, args.repeats),
        "",
        "## Streaming vs the n x n Gram approach (float32, d = 768)",
        "",
        part_two(args.repeats),
        "",
    ]
    report = "\n".join(text)
    print(report)
    save_report(args.out, "stats_bench.py", report)


if __name__ == "__main__":
    main()
