"""``gapkit ls TOPIC``: list registered names (encoders, datasets, adapters, tasks, ...)."""

from __future__ import annotations

import importlib

# topic -> (module holding the registry, registry attribute, modules to import for registration)
TOPICS = {
    "encoders": (
        "gapkit.encoders",
        "ENCODERS",
        ["gapkit.encoders.shapes", "gapkit.encoders.open_clip_backend", "gapkit.encoders.hf_clip"],
    ),
    "datasets": ("gapkit.data", "DATASETS", ["gapkit.data.coco", "gapkit.data.pairs", "gapkit.data.shapes"]),
    "adapters": ("gapkit.adapters", "ADAPTERS", []),
    "tasks": ("gapkit.close.tasks", "TASKS", []),
    "executors": ("gapkit.ablate.executors", "EXECUTORS", []),
    "measure-executors": ("gapkit.stats.executors", "PASS_EXECUTORS", []),
    "tables": ("gapkit.ablate.tables", "TABLES", []),
    "signatures": ("gapkit.ablate.signatures", "KINDS", []),
    "ablation-figures": ("gapkit.plots.ablation", "ABLATION_FIGURES", []),
    "decoders": ("gapkit.close.decoder", "DECODERS", []),
    "projections": ("gapkit.plots.tsne", "PROJECTIONS", []),
    "scorers": ("gapkit.metrics", "SCORERS", []),
    "formats": ("gapkit.metrics.formats", "FORMATS", []),
}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name, help="list registered names", epilog="Examples:\n  gapkit ls encoders\n  gapkit ls adapters"
    )
    p.add_argument("topic", nargs="?", default=None, help=f"one of: {', '.join(TOPICS)}")
    p.set_defaults(func=run)


def _registry(topic: str):
    from ..errors import GapkitError

    if topic not in TOPICS:
        raise GapkitError(f"Unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
    module, attr, extra = TOPICS[topic]
    for m in extra:
        importlib.import_module(m)
    return getattr(importlib.import_module(module), attr)


def run(args) -> int:
    topics = [args.topic] if args.topic else list(TOPICS)
    for topic in topics:
        reg = _registry(topic)
        print(f"{topic}:")
        for n in reg.names():
            print(f"  {n:<22} {reg.doc(n)}")
        if topic == "encoders":
            print(
                "  (open-clip takes ARCH:TAG names: `python -c 'import open_clip; "
                "print(open_clip.list_pretrained())'`)"
            )
    return 0
