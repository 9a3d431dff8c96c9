"""``gapkit measure``: modality-gap statistics with 95% intervals for an encoder + data set, or for
precomputed embeddings. With no arguments: the shapes world test split and the shipped tiny CLIP."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from dataclasses import dataclass

from ._common import add_data_args, add_encoder_args, nonneg_int, positive_int, seed_int

log = logging.getLogger("gapkit.cli")
DEFAULT_FIT_SPLIT = "restval"

EXAMPLES = """Examples:
  gapkit measure
  gapkit measure --embeddings ../shared/fixtures/real-clip/features_clip.npy --json gap.json
  gapkit measure --embeddings laion-emb/ --no-retrieval --executor ray --address auto --json gap.json
  gapkit measure --encoder ViT-B-32:openai --dataset coco-karpathy --data-path dataset_coco.json \\
      --image-root /data/coco --split test --csv gap.csv
  gapkit measure --dataset pairs --data-path pairs.csv --encoder hf:/models/clip-vit-base-patch32
"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="measure the modality gap (the main job)",
        epilog=EXAMPLES,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--embeddings",
        nargs="+",
        default=None,
        metavar="FILE",
        help="precomputed embeddings instead of an encoder: .npy (2, n, d), two .npy files, "
        ".npz or .safetensors with image_emb/text_emb[/caption_image], or shards: a folder "
        "(clip-retrieval's img_emb/ + text_emb/, or (2, n, d) .npy files) or a quoted glob",
    )
    add_encoder_args(p)
    add_data_args(p)
    g = p.add_argument_group("statistics")
    g.add_argument("--seed", type=seed_int, default=0, help="bootstrap, separability split, random shifts")
    g.add_argument("--bootstrap", type=nonneg_int, default=200, help="bootstrap replicates (0: no intervals)")
    g.add_argument("--top-k", type=positive_int, default=10, help="top-k gap dimensions to report")
    g.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="L2-normalise rows (default); --no-normalize requires unit-norm inputs",
    )
    g.add_argument(
        "--retrieval",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="retrieval R@k for every query (default: every query up to 50,000 images, a seeded "
        "sample of 1,000 queries each way above)",
    )
    x = p.add_argument_group("execution")
    x.add_argument(
        "--executor",
        default="local",
        help="local (this process) or ray (one task per .npy shard; see `gapkit ls measure-executors`)",
    )
    x.add_argument(
        "--address", default=None, help="Ray cluster address for --executor ray (default: a local instance)"
    )
    t = p.add_argument_group(
        "a method's transforms (what each way to cross the gap removes, before training)"
    )
    t.add_argument(
        "--transform",
        default=None,
        metavar="ADAPTER",
        help="measure after an adapter's deterministic parts on the L2-normalised rows: texts "
        "through its training half without noise, images through its test-time half (`gapkit ls "
        "adapters`), fitted on --fit-split (precomputed embeddings: on the measured pairs themselves)",
    )
    t.add_argument(
        "--transform-from", default=None, metavar="RUN", help="the fitted adapter of a CLOSE run folder"
    )
    t.add_argument(
        "--fit-split",
        default=None,
        help=f"split the --transform adapter is fitted on (default: {DEFAULT_FIT_SPLIT}; only with "
        "--transform and an encoder + data set)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--json", default=None, help="write the full report with provenance as JSON")
    o.add_argument("--csv", default=None, help="write one row per statistic as CSV")
    p.set_defaults(func=run)


def _inputs(args):
    """(stats Source, source provenance)."""
    from ..stats.engine import Source

    limit = {"limit": args.limit} if args.limit else {}
    if args.embeddings:
        from ..data.embeddings import fingerprints, first_images, load_embedding_files
        from ..data.shards import is_sharded, load_shards

        if is_sharded(args.embeddings):  # .npy: read shard by shard, memory-mapped
            shards = load_shards(args.embeddings)
            source = shards.source() if len(shards.shards) > 1 else fingerprints(args.embeddings)
            shards = shards.first(args.limit) if args.limit else shards
            return Source(shards.image_emb, shards.text_emb, None, shards.shards), {**source, **limit}
        f = load_embedding_files(args.embeddings)
        img, txt, ci = f.image_emb, f.text_emb, f.caption_image
        if args.limit:
            img, txt, ci = first_images(img, txt, ci, args.limit)
        return Source(img, txt, ci), {**f.source, **limit}
    from ..embed import image_identity
    from .encode import load_embeddings_from_args

    emb, encoder = load_embeddings_from_args(args)
    caption_image = (
        None
        if len(emb.image) == len(emb.text) and (emb.caption_image == range(len(emb.text))).all()
        else emb.caption_image
    )
    source = {
        "encoder": emb.encoder_identity,
        "dataset": emb.data.identity(),
        "template": args.template,
        "image_root": None if emb.data.image_root is None else str(emb.data.image_root.resolve()),
        "image_identity": image_identity(args.verify_images),
        **({"world": emb.data.extra["world"]} if "world" in emb.data.extra else {}),
    }
    return Source(emb.image, emb.text, caption_image), source


@dataclass
class _Plan:
    """What --transform / --transform-from will apply, settled before any encoding: the saved
    adapter of a run, or the name of one to fit and the data set split it is fitted on."""

    adapter: object = None  # a run's saved adapter (--transform-from)
    name: str | None = None  # an adapter to fit (--transform)
    fit_data: object = None  # the PairedData it is fitted on (None: the measured pairs)
    fitted_on: str = ""


def _transform_plan(args) -> _Plan | None:
    """Check the transform flags (and load what they name) before any encoding: a bad adapter,
    run folder or --fit-split costs nothing."""
    from pathlib import Path

    from ..adapters import ADAPTERS, saved_adapter
    from ..errors import GapkitError

    if args.transform and args.transform_from:
        raise GapkitError("give --transform ADAPTER or --transform-from RUN, not both.")
    if args.fit_split is not None and not args.transform:
        raise GapkitError(
            f"--fit-split {args.fit_split}: names the split a --transform ADAPTER is fitted on; "
            "without --transform it has nothing to fit (a --transform-from run brings its fitted state)."
        )
    if args.fit_split is not None and args.embeddings:
        raise GapkitError(
            f"--fit-split {args.fit_split}: with --embeddings the --transform adapter is fitted on "
            "the measured pairs themselves; drop --fit-split, or fit it in a CLOSE run and give "
            "--transform-from RUN."
        )
    if args.transform_from:
        path = Path(args.transform_from) / "adapter.pt"
        if not path.is_file():
            raise GapkitError(f"--transform-from: {path} not found (a CLOSE run folder has one).")
        return _Plan(adapter=saved_adapter(path), fitted_on=f"the run {args.transform_from}")
    if not args.transform:
        return None
    ADAPTERS.get(args.transform)  # an unknown name fails before any encoding
    if args.embeddings:
        return _Plan(name=args.transform, fitted_on="the measured pairs themselves")
    from ..data import DATASETS, _register, load_dataset

    _register()
    DATASETS.get(args.dataset)
    split = args.fit_split or DEFAULT_FIT_SPLIT
    data = load_dataset(args.dataset, args.data_path, split, args.image_root)  # a bad split fails here
    return _Plan(name=args.transform, fit_data=data, fitted_on=f"{args.dataset}/{split}")


def _fit_pairs(args, plan: _Plan, src):
    """(images, texts, caption_image) the --transform adapter is fitted on."""
    if plan.fit_data is None:
        return src.image_emb[:], src.text_emb[:], src.caption_image
    from ..cache import EmbeddingCache
    from ..embed import embed_paired
    from ..encoders import create_encoder

    enc = create_encoder(args.encoder, device=args.device)
    cache = EmbeddingCache(enabled=not args.no_cache)
    emb = embed_paired(
        enc,
        plan.fit_data,
        args.template,
        cache,
        args.batch_size,
        args.workers,
        args.verify_images,
        args.decode,
    )
    return emb.image, emb.text, emb.caption_image


def _norm_range(*arrays) -> tuple[float, float]:
    import numpy as np

    norms = np.concatenate([np.linalg.norm(np.asarray(a, np.float64), axis=1) for a in arrays])
    return float(norms.min()), float(norms.max())


def _transformed(args, plan: _Plan, src, source):
    """The measured rows after the adapter's deterministic transforms (on the L2-normalised rows),
    the provenance saying so, and the line the table shows."""
    import numpy as np

    from ..adapters import apply_deterministic, fitted_adapter, fitted_dim
    from ..errors import GapkitError
    from ..stats.engine import Source

    if src.parts and len(src.parts) > 1:
        raise GapkitError("--transform reads the embeddings into memory: give one file, not shards.")
    img, txt = np.asarray(src.image_emb[:]), np.asarray(src.text_emb[:])
    adapter = plan.adapter
    if adapter is not None and fitted_dim(adapter) not in (None, img.shape[1]):
        raise GapkitError(
            f"--transform-from {args.transform_from}: its {adapter.name} adapter was fitted on "
            f"{fitted_dim(adapter)}-d embeddings, but the measured embeddings have d = {img.shape[1]}."
        )
    if adapter is None:
        fit_i, fit_t, fit_owner = _fit_pairs(args, plan, src)
        adapter = fitted_adapter(plan.name, fit_i, fit_t, fit_owner, seed=args.seed)
    lo, hi = _norm_range(img, txt)
    img, txt = apply_deterministic(adapter, img, txt)
    record = {
        **adapter.describe(),
        "fitted_on": plan.fitted_on,
        "applied": "deterministic parts (no noise), on the L2-normalised rows",
        "raw_input_norm_min": lo,
        "raw_input_norm_max": hi,
    }
    params = ", ".join(f"{k} {v}" for k, v in adapter.describe().items() if k != "adapter")
    line = (
        f"{adapter.name} ({params}) fitted on {plan.fitted_on}; its deterministic parts applied to "
        f"the L2-normalised rows (raw input norms in [{lo:.4g}, {hi:.4g}])"
    )
    return Source(img, txt, src.caption_image), {**source, "transform": record}, line


def _csv_text(report) -> str:
    from ..stats.display import flat_rows

    buf = io.StringIO()
    rows = flat_rows(report)
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    buf.write(f"# provenance: {json.dumps(report.provenance, sort_keys=True)}\n")
    return buf.getvalue()


def run(args) -> int:
    from ..io import check_output_file, dumps_json, write_files
    from ..results import provenance
    from ..stats.engine import measure_source

    # Every destination is checked before any work, and all are written together at the end:
    # a failure anywhere leaves no output behind.
    outputs = {
        flag: check_output_file(path, f"--{flag}")
        for flag, path in (("json", args.json), ("csv", args.csv))
        if path
    }
    plan = _transform_plan(args)
    src, source = _inputs(args)
    line = None
    if plan is not None:
        src, source, line = _transformed(args, plan, src, source)
    report = measure_source(
        src,
        normalize=args.normalize,
        seed=args.seed,
        bootstrap=args.bootstrap,
        top_k=args.top_k,
        retrieval=args.retrieval,
        executor=args.executor,
        address=args.address,
    )
    report.provenance = provenance(source=source, seed=args.seed)
    if line:
        report.info["transform"] = line
    text = report.table()
    render = {"json": lambda: dumps_json(report.to_dict()), "csv": lambda: _csv_text(report)}
    write_files({path: render[flag]() for flag, path in outputs.items()})
    print(text, file=sys.stdout)
    return 0
