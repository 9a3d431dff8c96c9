"""The GPU checks of issue 14 section 2, one subcommand per check; benchmarks/gpu.sh runs them in
order on a machine with an NVIDIA GPU and no network, and writes one Markdown file per check.

  measure-compare CPU.json CUDA.json   `gapkit measure` on CUDA (bf16 autocast) against the CPU
                                       (fp32): every statistic's value and interval ends within
                                       ATOL + RTOL * |cpu|, the top eigenvalues and the gap vector
  train-compare --cpu RUN... --cuda RUN...   a Table 1 cell trained on CUDA against the same cell
                                       on the CPU: metrics against the CPU seeds' spread, times
  extraction                           image files -> embeddings in bf16 for ViT-B-32 / ViT-L-14:
                                       encoding alone and the FLOP ceiling (bf16 matmul rate
                                       measured in the same run), the file pipeline with PIL
                                       decoding in CPU workers, and with JPEGs decoded on the GPU
  close-summary RUN                    CLOSE training samples/s of a run (its metrics.json)

Usage: python benchmarks/gpu_check.py SUBCOMMAND ... [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table  # noqa: E402

# bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%); the encoders run their matmuls
# under bf16 autocast on CUDA and in fp32 on the CPU. Tolerance on every value and interval end:
# ATOL + RTOL * |cpu|; eigenvalues RTOL relative; counts of dimensions +-1. Calibrated on the CPU
# (`gapkit measure` on the embedded default, the encoder under CPU bf16 autocast against fp32): the
# largest differences were 0.006 (effective rank 12.10), 0.002 (R@1), under 1e-4 for cosines.
ATOL, RTOL = 0.01, 0.02


def tolerance(name: str, cpu: float) -> float:
    if name.startswith("eigen"):
        return RTOL * abs(cpu)
    if name.startswith("diff_dims"):
        return 1 + RTOL * abs(cpu)
    return ATOL + RTOL * abs(cpu)


# --- measure: CUDA against CPU ---------------------------------------------------------------------
def _flat(report: dict) -> dict[str, float]:
    """name -> number for every statistic's value and interval ends, eigenvalues, shift rows."""
    out = {}
    for name, s in report["stats"].items():
        for k in ("value", "lo", "hi"):
            if isinstance(s.get(k), (int, float)) and np.isfinite(s[k]):
                out[f"{name}.{k}"] = float(s[k])
    for i, e in enumerate(report.get("eigenvalues", [])[:5]):
        out[f"eigenvalue[{i}]"] = float(e)
    return out


def measure_compare(args) -> tuple[str, bool]:
    cpu, cuda = (json.loads(Path(p).read_text()) for p in (args.cpu, args.cuda))
    a, b = _flat(cpu), _flat(cuda)
    rows, bad = [], []
    for k in sorted(set(a) & set(b)):
        diff, tol = abs(a[k] - b[k]), tolerance(k, a[k])
        if diff > tol:
            bad.append(k)
        if k.endswith(".value") or k in bad or k.startswith("eigen"):
            rows.append(
                [
                    k,
                    f"{a[k]:.5g}",
                    f"{b[k]:.5g}",
                    f"{diff:.2g}",
                    f"{tol:.2g}",
                    "ok" if diff <= tol else "OVER",
                ]
            )
    g1, g2 = np.asarray(cpu["gap_vector"]), np.asarray(cuda["gap_vector"])
    cos = float(g1 @ g2 / np.linalg.norm(g1) / np.linalg.norm(g2))
    missing = sorted(set(a) ^ set(b))
    ok = not bad and cos > 0.99 and not missing
    head = (
        f"{args.label}: CPU (fp32) {args.cpu} against CUDA (bf16 autocast) {args.cuda}; tolerance "
        f"|cuda - cpu| <= {ATOL} + {RTOL} * |cpu| for every value and 95% interval end, {RTOL} * |cpu| for "
        f"eigenvalues, 1 + {RTOL} * |cpu| for counts of dimensions ({len(a)} numbers; values shown), "
        f"gap vector cosine > 0.99: {cos:.5f}. "
        f"{'PASS' if ok else 'FAIL: ' + ', '.join(bad + missing)}"
    )
    return head + "\n\n" + table(["number", "CPU", "CUDA", "|diff|", "tolerance", ""], rows), ok


# --- a Table 1 cell: CUDA against the CPU seeds -----------------------------------------------------
def _run(path: str) -> dict:
    rec = json.loads((Path(path) / "metrics.json").read_text())
    metrics = {k: float(v) for k, v in rec["metrics"].items() if isinstance(v, (int, float)) and k != "n"}
    train_s = sum(h["seconds"] for h in rec["history"])
    return {"metrics": metrics, "train_s": train_s}


def train_compare(args) -> tuple[str, bool]:
    cpu, cuda = [_run(p) for p in args.cpu], [_run(p) for p in args.cuda]
    rows, ok = [], True
    for k in sorted(cpu[0]["metrics"]):
        c = [r["metrics"][k] for r in cpu]
        g = [r["metrics"][k] for r in cuda if k in r["metrics"]]
        sd = statistics.stdev(c) if len(c) > 1 else 0.0
        lo, hi = min(c) - sd, max(c) + sd  # the CPU seeds' range, widened by one seed sd
        inside = all(lo <= v <= hi for v in g)
        ok &= inside
        rows.append(
            [
                k,
                " / ".join(f"{v:.2f}" for v in c),
                f"{statistics.mean(c):.2f} ± {sd:.2f}",
                " / ".join(f"{v:.2f}" for v in g),
                "ok" if inside else "OUTSIDE",
            ]
        )
    ratio = statistics.median(r["train_s"] for r in cpu) / statistics.median(r["train_s"] for r in cuda)
    times = [
        [
            "training seconds (sum of epochs)",
            " / ".join(f"{r['train_s']:.1f}" for r in cpu),
            f"{statistics.median(r['train_s'] for r in cpu):.1f}",
            " / ".join(f"{r['train_s']:.1f}" for r in cuda),
            f"CPU / CUDA = {ratio:.1f}x",
        ]
    ]
    head = (
        f"{args.label}: CPU seeds {len(cpu)} ({args.cpu_note}), CUDA seeds {len(cuda)}; a CUDA metric passes "
        f"when inside the CPU seeds' [min - sd, max + sd]. {'PASS' if ok else 'FAIL'}"
    )
    return head + "\n\n" + table(
        ["metric", "CPU per seed", "CPU mean ± sd", "CUDA per seed", ""], rows + times
    ), ok


# --- extraction from image files ------------------------------------------------------------------
def _one_jpeg(args) -> None:
    """A COCO-sized (640 x 480) JPEG of a few shapes on a gradient: realistic decode cost."""
    from PIL import Image, ImageDraw

    path, seed = args
    rng = np.random.default_rng(seed)
    grad = np.linspace(0, 255, 640, dtype=np.float32)[None, :, None] * rng.uniform(0.2, 1, (1, 1, 3))
    img = Image.fromarray((grad + rng.uniform(0, 40, (480, 1, 3))).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y, r = rng.integers(0, 640), rng.integers(0, 480), rng.integers(20, 120)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    img.save(path, quality=90)


def make_jpegs(folder: Path, n: int) -> list[Path]:
    from multiprocessing import Pool

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}.jpg" for i in range(n)]
    todo = [(p, i) for i, p in enumerate(paths) if not p.exists()]
    with Pool(os.cpu_count()) as pool:
        pool.map(_one_jpeg, todo, chunksize=64)
    return paths


def _rate(fn, items: int, device: str) -> float:
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return items / (time.perf_counter() - t0)


def bench_extraction(
    spec: str, paths: list[Path], gflops: float, batch: int, workers: list[int], device: str
) -> list[list]:
    import torch
    from extraction_bench import flops
    from PIL import Image

    from gapkit.embed import extract_image_features
    from gapkit.encoders import create_encoder
    from gapkit.encoders.tensor_transform import decode_batch, read_bytes

    enc = create_encoder(spec, device=device)
    size = int(enc.image_transform(Image.new("RGB", (640, 480))).shape[-1])
    pixels = torch.randn(batch, 3, size, size, device=device)
    per_item = flops(lambda: enc.image_features(pixels[:1])) / 1e9
    ceiling = gflops / per_item
    enc.image_features(pixels)  # warm-up (cuDNN / cuBLAS choices)
    reps = max(4, len(paths) // batch)
    encode = _rate(lambda: [enc.image_features(pixels) for _ in range(reps)], reps * batch, device)
    data = [read_bytes(p) for p in paths[:batch]]
    decode_batch(data, enc.device)
    dev_decode = _rate(lambda: [decode_batch(data, enc.device) for _ in range(4)], 4 * batch, device)
    rows = [
        [spec, "FLOP ceiling", "-", f"{ceiling:,.0f}", "100%", f"{per_item:.2f} GFLOP/img"],
        [
            spec,
            "encode only (pixels already on the device)",
            "-",
            f"{encode:,.0f}",
            f"{encode / ceiling:.0%}",
            f"batch {batch}",
        ],
        [
            spec,
            f"JPEG decode only on {device} (batched decode_jpeg)",
            "-",
            f"{dev_decode:,.0f}",
            "-",
            "bytes in memory",
        ],
    ]
    warm = paths[: 2 * batch]
    for decode in ("pil", "torchvision"):
        for w in workers:
            extract_image_features(enc, warm, batch, num_workers=w, decode=decode)  # page cache, workers
            r = _rate(
                lambda: extract_image_features(enc, paths, batch, num_workers=w, decode=decode),
                len(paths),
                device,
            )
            how = (
                "files -> PIL decode + preprocess in CPU workers"
                if decode == "pil"
                else f"files -> bytes in CPU workers -> decode_jpeg + tensor preprocess on {device}"
            )
            rows.append(
                [spec, how, w, f"{r:,.0f}", f"{r / ceiling:.0%}", f"{len(paths):,} files, batch {batch}"]
            )
            print(f"  {spec} {decode} {w} workers: {r:,.0f} img/s", file=sys.stderr)
    return rows  # the encoder goes with this frame: the next one gets the GPU's memory


def extraction(args) -> tuple[str, bool]:
    import torch
    from extraction_bench import matmul_gflops

    t0 = time.perf_counter()
    paths = make_jpegs(Path(args.dir), args.images)
    made = time.perf_counter() - t0
    gflops = matmul_gflops(device=args.device)
    rows = []
    for spec in args.encoders:
        rows += bench_extraction(spec, paths, gflops, args.batch, args.workers, args.device)
    b32 = [r for r in rows if r[0].startswith("ViT-B-32") and r[1].startswith("files")]
    best = max((float(r[3].replace(",", "")) for r in b32), default=0.0)
    goal = (
        f"ViT-B-32 from files: best {best:,.0f} img/s "
        f"(goal >= 10,000: {'met' if best >= 10_000 else 'not met'})"
    )
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (a dry run)"
    head = (
        f"{name}; {os.cpu_count()} CPU cores; {args.images:,} JPEG files 640 x 480 "
        f"(quality 90, written in {made:.0f} s, read from the page cache); random-init weights, "
        f"{'bf16 autocast' if args.device.startswith('cuda') else 'fp32'}; "
        f"matmul rate measured in this run (bf16 on CUDA): {gflops / 1e3:.1f} TFLOP/s. {goal}"
    )
    return head + "\n\n" + table(
        ["encoder", "how", "loader workers", "img/s", "of ceiling", "note"], rows
    ), True


# --- CLOSE training throughput --------------------------------------------------------------------
def close_summary(args) -> tuple[str, bool]:
    import yaml

    from gapkit.close.decoder import create_decoder

    rec = json.loads((Path(args.run) / "metrics.json").read_text())
    cfg = yaml.safe_load((Path(args.run) / "config.yaml").read_text())
    rows = [
        [h["epoch"], f"{h['seconds']:.1f}", f"{h['samples_per_s']:,.0f}", f"{h['loss']:.3f}"]
        for h in rec["history"]
    ]
    opts = cfg.get("decoder_options", {})
    params = sum(p.numel() for p in create_decoder(cfg["decoder"], **opts)[0].parameters())
    head = (
        f"{args.label}: CLOSE ({cfg['task']}, {rec['n_train']:,} training examples, batch "
        f"{rec['resolved'].get('batch_size')}) with a randomly initialised T5 of T5-base's size from a local "
        f"config ({opts}; word-level vocabulary of the shapes world, not T5's 32,128 pieces), "
        f"{'bf16 autocast' if str(cfg['device']).startswith('cuda') else 'fp32'} on {cfg['device']} "
        f"({rec['provenance']['environment'].get('device')}); {params / 1e6:.0f} M decoder parameters"
    )
    return head + "\n\n" + table(["epoch", "seconds", "samples/s", "loss"], rows), True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure-compare")
    m.add_argument("cpu")
    m.add_argument("cuda")
    m.add_argument("--label", default="gapkit measure")
    t = sub.add_parser("train-compare")
    t.add_argument("--cpu", nargs="+", required=True)
    t.add_argument("--cuda", nargs="+", required=True)
    t.add_argument("--cpu-note", default="")
    t.add_argument("--label", default="Table 1 cell")
    e = sub.add_parser("extraction")
    e.add_argument("--images", type=int, default=16384)
    e.add_argument("--dir", default="/tmp/gapkit-jpegs")
    e.add_argument("--encoders", nargs="+", default=["ViT-B-32:random-init", "ViT-L-14:random-init"])
    e.add_argument("--batch", type=int, default=256)
    e.add_argument("--workers", nargs="+", type=int, default=[8, 15])
    e.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself")
    c = sub.add_parser("close-summary")
    c.add_argument("run")
    c.add_argument("--label", default="CLOSE training")
    for p in (m, t, e, c):
        p.add_argument("--out", default=None)
    args = ap.parse_args()
    fn = {
        "measure-compare": measure_compare,
        "train-compare": train_compare,
        "extraction": extraction,
        "close-summary": close_summary,
    }[args.cmd]
    report, ok = fn(args)
    print(report)
    save_report(args.out, "gpu_check.py", report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
