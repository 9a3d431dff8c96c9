"""Choose the t-SNE implementation by measurement: scikit-learn vs openTSNE (and PCA) at N = 350
and N = 5,000 pairs: wall time and trustworthiness (how well 2-D neighbourhoods keep the
high-dimensional ones, scikit-learn's ``trustworthiness``, k = 10).

Usage: python benchmarks/tsne_bench.py [--embeddings FILE] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table  # noqa: E402

from gapkit.plots.tsne import PROJECTIONS  # noqa: E402


def data(n: int, path: str | None) -> np.ndarray:
    if path:
        a = np.load(path)
        x = np.concatenate([a[0], a[1]])
    else:
        from gapkit.data import load_dataset
        from gapkit.embed import embed_paired
        from gapkit.encoders import create_encoder

        emb = embed_paired(
            create_encoder("gapkit-shapes"), load_dataset("shapes", split="train").subset(5000)
        )
        x = np.concatenate([emb.image, emb.text[emb.data.first_caption_per_image()]])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    idx = np.random.default_rng(0).choice(len(x), min(n, len(x)), replace=False)
    return x[idx]


def main() -> None:
    from sklearn.manifold import trustworthiness

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embeddings", default=None)
    ap.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=[700, 10000],
        help="points: images + their captions (N = 350 and 5,000 pairs)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        x = data(n, args.embeddings)
        for method in ("tsne", "opentsne", "pca"):
            t0 = time.perf_counter()
            y = PROJECTIONS.get(method)(x, 0)
            dt = time.perf_counter() - t0
            rows.append([len(x), method, f"{dt:.1f}", f"{trustworthiness(x, y, n_neighbors=10):.3f}"])
    report = table(["points (images + captions)", "method", "seconds", "trustworthiness@10"], rows)
    print(report)
    save_report(args.out, "tsne_bench.py", report)


if __name__ == "__main__":
    main()
