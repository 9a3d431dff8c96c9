"""CLOSE training from cached CLIP embeddings (gapkit) against the original design, which encodes
every batch with the frozen CLIP text tower inside the training step. Same model, data, adapter.

Usage: python benchmarks/close_bench.py [--encoder ViT-B-32:random-init] [--examples 2048] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table  # noqa: E402

from gapkit.close.batches import Tokenized  # noqa: E402
from gapkit.close.config import CloseConfig  # noqa: E402
from gapkit.close.prepare import prepare  # noqa: E402


def epoch(prep, data, vectors_fn, batch: int) -> float:
    """Seconds for one epoch; ``vectors_fn(idx)`` gives the (B, d) unit text vectors."""
    opt = torch.optim.AdamW(prep.model.parameters(), lr=1e-3)
    prep.model.train()
    prep.adapter.train()
    n = len(prep.train.examples)
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        idx = np.arange(s, min(n, s + batch))
        clip = prep.adapter(vectors_fn(idx))
        c, e, m, lab = (None if t is None else t.to(prep.device) for t in data.train_batch(idx, clip))
        loss = prep.model(c, e, m, lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if prep.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run(encoder: str, n: int, batch: int, repeats: int, device: str = "cpu") -> list:
    from gapkit.encoders import create_encoder

    cfg = CloseConfig(
        task="caption-single", encoder=encoder, max_train_examples=n, max_eval_examples=8, device=device
    )
    t0 = time.perf_counter()
    prep = prepare(cfg)  # fills (or reads) the embedding cache once
    setup = time.perf_counter() - t0
    data = Tokenized(prep.tokenizer, prep.train.examples, 32)
    enc = create_encoder(encoder, device=device)
    texts = [ex.input_texts[0] for ex in prep.train.examples]
    cached = torch.from_numpy(prep.train.vectors)

    def per_step(idx):  # the original design: the frozen text tower runs in every training step
        with torch.no_grad():
            v = torch.from_numpy(enc.text_features([texts[i] for i in idx]))
        return v / v.norm(dim=1, keepdim=True)

    t_enc = time.perf_counter()
    enc.encode_texts(texts, batch_size=batch)
    encode_once = time.perf_counter() - t_enc
    a = sorted(epoch(prep, data, lambda idx: cached[idx], batch) for _ in range(repeats))
    b = sorted(epoch(prep, data, per_step, batch) for _ in range(repeats))
    med = lambda v: v[len(v) // 2]
    return [
        encoder,
        n,
        f"{encode_once:.1f}",
        f"{med(a):.1f} ({a[0]:.1f}-{a[-1]:.1f})",
        f"{med(b):.1f} ({b[0]:.1f}-{b[-1]:.1f})",
        f"{med(b) / med(a):.1f}x",
        f"{n / med(a):.0f}",
        f"{setup:.0f}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", nargs="+", default=["gapkit-shapes", "ViT-B-32:random-init"])
    ap.add_argument("--examples", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = [run(e, args.examples, args.batch, args.repeats, args.device) for e in args.encoder]
    report = table(
        [
            "encoder",
            "examples",
            "encode once s",
            "epoch, cached s (min-max)",
            "epoch, encode per step s (min-max)",
            "ratio",
            "cached samples/s",
            "setup s",
        ],
        rows,
    )
    print(report)
    save_report(args.out, "close_bench.py", report, extra=f"torch threads: {torch.get_num_threads()}\n")


if __name__ == "__main__":
    main()
