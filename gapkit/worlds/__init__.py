"""Procedural worlds. ``shapes`` is the embedded default: generated and exported once into the
cache, then read through the same loaders as real data sets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..cache import cache_root, check_cache_root, digest
from ..errors import GapkitError
from .shapes.catalog import V2, Catalog

log = logging.getLogger("gapkit.worlds")


def shapes_world_dir(seed: int = 0, sizes: dict[str, int] | None = None, catalog: Catalog = V2) -> Path:
    """Where the exported shapes world for (catalog, seed, sizes) lives in the cache (keyed by the
    catalog's version)."""
    from .shapes.export import EXPORT_FORMAT
    from .shapes.world import DEFAULT_SIZES

    version = catalog.version
    ident = {"seed": seed, "sizes": sizes or DEFAULT_SIZES, "version": version}
    if EXPORT_FORMAT > 1:  # format 1 folders keep their names; later formats get new folders
        ident["export_format"] = EXPORT_FORMAT
    return cache_root() / "worlds" / f"shapes-v{version}-seed{seed}-{digest(ident)[:10]}"


def ensure_shapes_world(
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    images: tuple[str, ...] | None = None,
    catalog: Catalog = V2,
) -> Path:
    """Generate and export the shapes world unless the cache has it; returns its folder. The images
    of the groups in ``images`` (split names, "pairs"; None: all) are rendered before it returns,
    the others when a later caller asks for them: ``gapkit measure`` reads only its split."""
    from .shapes.export import export_world, render_pending
    from .shapes.world import DEFAULT_SIZES, ShapesWorld

    out = shapes_world_dir(seed, sizes, catalog)
    if (out / "gapkit-world.json").is_file():
        check_world_manifest(out, catalog)
    else:
        check_cache_root()  # the world is generated into the cache: fail now if it cannot be written
        log.info("generating shapes world (seed %d) into %s", seed, out)
        world = ShapesWorld(seed=seed, sizes=dict(sizes or DEFAULT_SIZES), catalog=catalog).generate()
        export_world(world, out, render_now=images)
    if rendered := render_pending(out, images):
        log.info("rendered the images of %s into %s", ", ".join(rendered), out)
    return out


def check_world_manifest(folder: Path, catalog: Catalog = V2) -> dict:
    """The manifest of an exported world; errors if absent, unreadable or not ``catalog``'s version."""
    path = Path(folder) / "gapkit-world.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise GapkitError(f"{folder} is not an exported gapkit world (no {path.name}).") from None
    except ValueError as e:
        raise GapkitError(f"{path} is not valid JSON: {e}") from None
    if str(manifest.get("version")) != catalog.version:
        raise GapkitError(
            f"{folder} holds shapes world version {manifest.get('version')!r}, but this "
            f"gapkit reads version {catalog.version!r}. Re-export it with `gapkit world export`."
        )
    return manifest
