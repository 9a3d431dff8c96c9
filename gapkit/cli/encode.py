"""``gapkit encode``: compute (or load from the cache) paired embeddings of a data set."""

from __future__ import annotations

import logging

import numpy as np

from ._common import add_data_args, add_encoder_args

log = logging.getLogger("gapkit.cli")


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="encode a data set's images and captions through the cache",
        description="Encode images and captions; a second run reads the cache.",
        epilog="Examples:\n  gapkit encode\n  gapkit encode --encoder ViT-B-32:/ckpt/vit.pt "
        "--dataset coco-karpathy --data-path dataset_coco.json --out emb.npz",
    )
    add_encoder_args(p)
    add_data_args(p)
    p.add_argument("--out", default=None, help="write image/text embeddings to this .npz")
    p.set_defaults(func=run)


def load_embeddings_from_args(args):
    from ..cache import EmbeddingCache, check_cache_root
    from ..data import DATASETS, _register, load_dataset
    from ..embed import embed_paired
    from ..encoders import create_encoder

    # Cheap checks first: a bad name or an unusable cache must not wait for a world to be generated.
    _register()
    DATASETS.get(args.dataset)
    if not args.no_cache:
        check_cache_root(for_reading=True)  # a read-only, pre-filled cache is read
    encoder = create_encoder(args.encoder, device=args.device)
    data = load_dataset(args.dataset, args.data_path, args.split, args.image_root)
    if args.limit:
        data = data.subset(args.limit)
    cache = EmbeddingCache(enabled=not args.no_cache)
    emb = embed_paired(
        encoder, data, args.template, cache, args.batch_size, args.workers, args.verify_images, args.decode
    )
    return emb, encoder


def run(args) -> int:
    from ..io import atomic_file, check_output_file

    if args.out:
        check_output_file(args.out, "--out")
    emb, encoder = load_embeddings_from_args(args)
    log.info(
        "%s on %s/%s: %d images, %d captions, d=%d",
        args.encoder,
        emb.data.name,
        emb.data.split,
        len(emb.image),
        len(emb.text),
        emb.image.shape[1],
    )
    if args.out:
        with atomic_file(args.out, "wb") as f:
            np.savez(f, image_emb=emb.image, text_emb=emb.text, caption_image=emb.caption_image)
        log.info("wrote %s", args.out)
    return 0
