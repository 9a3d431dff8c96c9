"""Argument groups shared by several verbs."""

from __future__ import annotations

import argparse


def add_encoder_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoder")
    g.add_argument("--encoder", default="gapkit-shapes",
                   help="encoder spec: gapkit-shapes, ARCH:TAG, ARCH:CHECKPOINT, ARCH:random-init, "
                        "hf-hub:REPO, local-dir:PATH, hf:PATH (default: %(default)s)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    g.add_argument("--batch-size", type=int, default=256, help="encoding batch size")
    g.add_argument("--workers", type=int, default=None, help="DataLoader workers for image decoding")
    g.add_argument("--template", default="{}", help="text template, e.g. 'a photo of {}'")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")


def add_data_args(p: argparse.ArgumentParser, default_split: str = "test") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="shapes", help="data set loader (see `gapkit ls datasets`)")
    g.add_argument("--data-path", default=None, help="annotation file (or world folder for shapes)")
    g.add_argument("--image-root", default=None, help="folder the image paths are relative to")
    g.add_argument("--split", default=default_split, help="split (default: %(default)s)")
    g.add_argument("--limit", type=int, default=None, help="use only the first N images")


def parse_sets(items: list[str] | None) -> dict:
    """``--set a.b=v`` overrides -> nested dict, values parsed as YAML scalars."""
    import yaml

    from ..errors import GapkitError

    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise GapkitError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out
