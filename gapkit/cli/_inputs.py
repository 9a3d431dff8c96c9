"""Paired embeddings for the figure verbs: precomputed files, or encoder + data set through the
cache (with a second split, restval by default, to fit the paired-data adapters)."""

from __future__ import annotations

import argparse

import numpy as np


def add_input_args(p: argparse.ArgumentParser) -> None:
    from ._common import add_data_args, add_encoder_args

    p.add_argument("--embeddings", nargs="+", default=None, metavar="FILE",
                   help="precomputed embeddings (.npy (2, n, d), two .npy, .npz, .safetensors)")
    add_encoder_args(p)
    add_data_args(p)
    p.add_argument("--fit-split", default="restval",
                   help="split whose pairs fit mean-shift/linear/cov adapters (default: %(default)s)")


def load_inputs(args):
    """(image, text, caption_image, fit_image, fit_text, label)."""
    if args.embeddings:
        from ..data.embeddings import first_images, load_embedding_files

        f = load_embedding_files(args.embeddings)
        img, txt, ci = f.image_emb, f.text_emb, f.caption_image
        if args.limit:
            img, txt, ci = first_images(img, txt, ci, args.limit)
        img, txt = np.asarray(img, np.float32), np.asarray(txt, np.float32)
        owner = np.arange(len(txt)) if ci is None else ci
        # No separate split: paired adapters are fitted on the same pairs (said in the title).
        return img, txt, ci, img[owner], txt, "precomputed (adapters fitted on the same pairs)"
    from ..cache import EmbeddingCache
    from ..data import load_dataset
    from ..embed import embed_paired
    from ..encoders import create_encoder

    enc = create_encoder(args.encoder, device=args.device)
    cache = EmbeddingCache(enabled=not args.no_cache)
    data = load_dataset(args.dataset, args.data_path, args.split, args.image_root)
    if args.limit:
        data = data.subset(args.limit)
    emb = embed_paired(enc, data, args.template, cache, args.batch_size, args.workers, args.verify_images,
                       args.decode)
    fit = embed_paired(enc, load_dataset(args.dataset, args.data_path, args.fit_split, args.image_root),
                       args.template, cache, args.batch_size, args.workers, args.verify_images,
                       args.decode)
    return (emb.image, emb.text, emb.caption_image, fit.image[fit.caption_image], fit.text,
            f"{args.encoder} on {args.dataset}/{args.split}")
