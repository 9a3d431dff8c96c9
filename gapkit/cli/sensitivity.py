"""``gapkit sensitivity``: which dimensions move when one attribute changes, in text vs images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_encoder_args

EXAMPLES = """Examples:
  gapkit sensitivity --out figures/sensitivity
  gapkit sensitivity --pairs my_pairs.jsonl --encoder ViT-B-32:openai --out figures/sens-vitb32
Pairs file columns: image_a, image_b, caption_a, caption_b, attribute (JSONL or CSV).
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="dimension sensitivity from minimal pairs", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default=None, help="minimal pairs file (default: the embedded world's)")
    p.add_argument("--image-root", default=None)
    add_encoder_args(p)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--out", required=True, help="figure path without suffix (PNG, PDF, JSON)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cache import EmbeddingCache, items_digest
    from ..data.minimal_pairs import load_minimal_pairs
    from ..embed import embed_texts, extract_image_features
    from ..encoders import create_encoder
    from ..figures import sensitivity_job, sensitivity_table
    from ..worlds import ensure_shapes_world

    path = Path(args.pairs) if args.pairs else ensure_shapes_world() / "minimal_pairs.jsonl"
    pairs = load_minimal_pairs(path, args.image_root)
    enc = create_encoder(args.encoder, device=args.device)
    cache = EmbeddingCache(enabled=not args.no_cache)
    paths = pairs.image_a + pairs.image_b
    fields = {"kind": "image", "encoder": enc.identity(), "data": {"minimal-pairs": pairs.fingerprint},
              "items": items_digest([str(p) for p in paths]), "n": len(paths), "dtype": "float32"}
    img = cache.get_or_compute(fields, lambda: extract_image_features(enc, paths, args.batch_size, args.workers))
    txt = embed_texts(enc, pairs.caption_a + pairs.caption_b, {"minimal-pairs": pairs.fingerprint},
                      args.template, cache)
    n = len(pairs.attribute)
    sens = sensitivity_job(img[:n], img[n:], txt[:n], txt[n:], pairs.attribute, args.out, args.top_k,
                           pairs.change)
    print(sensitivity_table(sens))
    return 0
