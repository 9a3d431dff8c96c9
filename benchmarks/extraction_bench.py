"""Embedding extraction throughput: batched encoding against a naive one-item-at-a-time loop and
against the encoder's FLOP ceiling at the matrix-multiply rate measured in the same run; and the
data-loading overlap (decode + preprocess alone, encode alone, the full DataLoader pipeline).

Usage: python benchmarks/extraction_bench.py [--encoders gapkit-shapes ViT-B-32:random-init] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table  # noqa: E402

from gapkit.data import load_dataset  # noqa: E402
from gapkit.embed import _ImageFiles, extract_image_features  # noqa: E402
from gapkit.encoders import create_encoder  # noqa: E402


def matmul_gflops(seconds: float = 2.0, device: str = "cpu") -> float:
    """fp32 matmul rate on CPU; bf16 on CUDA (what the encoders' autocast uses there)."""
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    size = 8192 if device.startswith("cuda") else 1024
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        n += 1
        sync()
    return 2 * size**3 * n / (time.perf_counter() - t0) / 1e9


def flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        fn()
    return float(fc.get_total_flops())


def rate(fn, items: int, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return items / statistics.median(times)


def bench_encoder(spec: str, paths, texts, gflops: float, sizes, device: str = "cpu") -> tuple[list, list]:
    enc = create_encoder(spec, device=device)
    pils = [Image.open(p).convert("RGB") for p in paths]
    pixels = torch.stack([enc.image_transform(im) for im in pils])
    f_img = flops(lambda: enc.image_features(pixels[:1]))
    f_txt = flops(lambda: enc.text_features(texts[:1]))
    ceil_img, ceil_txt = gflops * 1e9 / f_img, gflops * 1e9 / f_txt
    naive_img = rate(lambda: [enc.image_features(enc.image_transform(im)[None]) for im in pils[:32]], 32, 1)
    naive_txt = rate(lambda: [enc.text_features([t]) for t in texts[:64]], 64, 1)
    rows = [
        [spec, "image", "naive loop (1 at a time)", f"{naive_img:.0f}", f"{naive_img / ceil_img:.0%}"],
        [spec, "text", "naive loop (1 at a time)", f"{naive_txt:.0f}", f"{naive_txt / ceil_txt:.0%}"],
    ]
    for bs in sizes:
        n = min(len(pixels), max(bs, 64))
        r_img = rate(lambda: [enc.image_features(pixels[i : i + bs]) for i in range(0, n, bs)], n)
        r_txt = rate(lambda: [enc.text_features(texts[i : i + bs]) for i in range(0, n, bs)], n)
        rows += [
            [spec, "image", f"batch {bs}", f"{r_img:.0f}", f"{r_img / ceil_img:.0%}"],
            [spec, "text", f"batch {bs}", f"{r_txt:.0f}", f"{r_txt / ceil_txt:.0%}"],
        ]
    rows += [
        [spec, "image", "FLOP ceiling", f"{ceil_img:.0f}", f"{f_img / 1e9:.3f} GFLOP/item"],
        [spec, "text", "FLOP ceiling", f"{ceil_txt:.0f}", f"{f_txt / 1e9:.3f} GFLOP/item"],
    ]
    # Data loading against encoding, and the pipeline that overlaps them.
    bs = max(sizes)
    load = rate(
        lambda: [_ImageFiles(paths, enc.image_transform)[i] for i in range(len(paths))], len(paths), 1
    )
    compute = rate(
        lambda: [enc.image_features(pixels[i : i + bs]) for i in range(0, len(pixels), bs)], len(pixels), 1
    )
    pipe = {
        w: rate(lambda w=w: extract_image_features(enc, paths, bs, num_workers=w), len(paths), 1)
        for w in (0, 1)
    }
    overlap = [
        [
            spec,
            f"{load:.0f}",
            f"{compute:.0f}",
            f"{1 / (1 / load + 1 / compute):.0f}",
            f"{pipe[0]:.0f}",
            f"{pipe[1]:.0f}",
        ]
    ]
    return rows, overlap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="+", default=["gapkit-shapes", "ViT-B-32:random-init"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[1, 8, 32, 128, 256])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    data = load_dataset("shapes", split="test").subset(args.images)
    texts = data.captions[: args.images]
    gflops = matmul_gflops(device=args.device)
    rows, overlap = [], []
    for spec in args.encoders:
        big = not spec.startswith("gapkit") and args.device == "cpu"  # ViTs on a CPU: keep it short
        sizes = [s for s in args.sizes if s <= 32] if big else args.sizes
        paths = data.image_paths[:128] if big else data.image_paths
        r, o = bench_encoder(spec, paths, texts, gflops, sizes, args.device)
        rows += r
        overlap += o
    report = "\n".join(
        [
            f"matrix-multiply rate measured in this run on {args.device}: {gflops:.1f} GFLOP/s "
            f"({'bf16' if args.device.startswith('cuda') else 'fp32'}, "
            f"{torch.get_num_threads()} CPU threads)",
            "",
            table(["encoder", "modality", "how", "items/s", "share of ceiling"], rows),
            "",
            "Data loading (decode + preprocess, one process) against encoding; "
            "the DataLoader pipeline overlaps them:",
            "",
            table(
                [
                    "encoder",
                    "load only img/s",
                    "encode only img/s",
                    "serial (1/(1/a+1/b))",
                    "pipeline, 0 workers",
                    "pipeline, 1 worker",
                ],
                overlap,
            ),
        ]
    )
    print(report)
    save_report(args.out, "extraction_bench.py", report)


if __name__ == "__main__":
    main()
