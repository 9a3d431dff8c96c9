"""Argument groups shared by several verbs."""

from __future__ import annotations

import argparse

SEED_MAX = 2**32 - 1  # numpy, torch and scikit-learn all accept seeds in 0..2^32-1


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    v = _int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {v}")
    return v


def seed_int(text: str) -> int:
    """argparse type: a seed every generator accepts (0..2^32-1)."""
    v = _int(text)
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{SEED_MAX}, got {v}")
    return v


def add_encoder_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoder")
    g.add_argument(
        "--encoder",
        default="gapkit-shapes",
        help="encoder spec: gapkit-shapes, ARCH:TAG, ARCH:CHECKPOINT, ARCH:random-init, "
        "hf-hub:REPO, local-dir:PATH, hf:PATH (default: %(default)s)",
    )
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    g.add_argument("--batch-size", type=positive_int, default=256, help="encoding batch size")
    g.add_argument("--workers", type=nonneg_int, default=None, help="DataLoader workers for image decoding")
    g.add_argument(
        "--decode",
        choices=["pil", "torchvision"],
        default="pil",
        help="pil: workers decode and preprocess images (default); torchvision: workers only read "
        "bytes, JPEGs are decoded in batches on the encoding device (nvJPEG on CUDA)",
    )
    g.add_argument("--template", default="{}", help="text template, e.g. 'a photo of {}'")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    add_verify_arg(g)


def add_verify_arg(g) -> None:
    g.add_argument(
        "--verify-images",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="key cached image embeddings by a sha256 of each image's bytes (reads every image) "
        "instead of its path, size and modification time",
    )


def add_data_args(p: argparse.ArgumentParser, default_split: str = "test") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="shapes", help="data set loader (see `gapkit ls datasets`)")
    g.add_argument("--data-path", default=None, help="annotation file (or world folder for shapes)")
    g.add_argument("--image-root", default=None, help="folder the image paths are relative to")
    g.add_argument("--split", default=default_split, help="split (default: %(default)s)")
    g.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")


def parse_sets(items: list[str] | None) -> dict:
    """``--set a.b=v`` overrides -> nested dict, values parsed as YAML scalars."""
    import yaml

    from ..errors import GapkitError
    from ..io import yaml_problem

    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise GapkitError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise GapkitError(f"--set {item}: the value is not valid YAML ({yaml_problem(e)})") from None
    return out
