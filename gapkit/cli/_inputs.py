"""Paired embeddings for the figure verbs: precomputed files, or encoder + data set through the
cache (with a second split, restval by default, to fit the paired-data adapters)."""

from __future__ import annotations

import argparse


def add_input_args(p: argparse.ArgumentParser) -> None:
    from ._common import add_data_args, add_encoder_args

    p.add_argument(
        "--embeddings",
        nargs="+",
        default=None,
        metavar="FILE",
        help="precomputed embeddings (.npy (2, n, d), two .npy, .npz, .safetensors)",
    )
    add_encoder_args(p)
    add_data_args(p)
    p.add_argument(
        "--fit-split",
        default="restval",
        help="split whose pairs fit mean-shift/linear/cov adapters (default: %(default)s)",
    )


def encode_options(args):
    """The encoder flags as the library's ``EncodeOptions``."""
    from ..figures import EncodeOptions

    return EncodeOptions(
        args.encoder,
        args.device,
        args.batch_size,
        args.workers,
        args.decode,
        args.template,
        not args.no_cache,
        args.verify_images,
    )


def load_inputs(args):
    """(image, text, caption_image, fit_image, fit_text, label)."""
    from ..figures import encoded_pairs, precomputed_pairs

    if args.embeddings:
        return precomputed_pairs(args.embeddings, args.limit)
    return encoded_pairs(
        encode_options(args),
        args.dataset,
        args.data_path,
        args.split,
        args.image_root,
        args.limit,
        args.fit_split,
    )
