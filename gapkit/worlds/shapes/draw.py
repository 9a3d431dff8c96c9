"""Render scenes with their world's catalog: draw at ``supersample`` x resolution (PIL for
objects, numpy for textures, light and tint), then box-downsample (anti-aliasing). Layers, back to
front: background colour and texture, clutter specks, objects, border; then lighting and tint act on
the whole picture, as a real light would."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .catalog import Catalog
from .scene import Obj, Scene


def _jittered(rgb, jitter) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(rgb, jitter))


def _texture_mask(texture: str, side: int, phase: float, catalog: Catalog) -> np.ndarray | None:
    """(side, side) bool: where the background pattern darkens/lightens, or None for plain."""
    period = catalog.texture_period * side
    u = (np.arange(side) / period + phase) % 1.0  # position within one period, per pixel row/col
    if texture == "striped":
        return np.broadcast_to(u[None, :] < 0.5, (side, side))
    if texture == "checked":
        return (u[None, :] < 0.5) ^ (u[:, None] < 0.5)
    if texture == "dotted":
        return ((u[None, :] - 0.5) ** 2 + (u[:, None] - 0.5) ** 2) < 0.04
    return None


def _background(scene: Scene, side: int, rng: np.random.Generator) -> np.ndarray:
    """(side, side, 3) float32 background with its texture."""
    catalog = scene.catalog
    base = np.array(_jittered(catalog.background_rgb[scene.background], scene.bg_jitter), np.float32)
    img = np.broadcast_to(base, (side, side, 3)).copy()
    mask = _texture_mask(scene.texture, side, float(rng.random()), catalog)
    if mask is not None:
        # Lighten dark backgrounds and darken light ones, so the pattern shows on every colour.
        sign = 1.0 if base.mean() < 128 else -1.0
        img[mask] += sign * catalog.texture_contrast * 255
    return img


def _draw_specks(draw: ImageDraw.ImageDraw, scene: Scene, side: int, rng: np.random.Generator) -> None:
    r = 0.02 * side
    for _ in range(scene.catalog.clutter_specks[scene.clutter]):
        x, y = rng.uniform(0.08, 0.92, 2) * side
        grey = int(rng.integers(60, 200))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(grey, grey, grey))


def _draw_object(draw: ImageDraw.ImageDraw, obj: Obj, side: int, catalog: Catalog) -> None:
    ax, ay = catalog.anchors[obj.position]
    cx, cy = (ax + obj.dx) * side, (ay + obj.dy) * side
    r = catalog.radius[obj.size] * obj.scale * side
    colour = _jittered(catalog.rgb[obj.colour], obj.rgb_jitter)
    # Hollow objects are outlines: the background (and its texture) shows through.
    paint = (
        {"fill": colour}
        if obj.fill == "solid"
        else {"outline": colour, "width": max(1, round(catalog.hollow_width * r))}
    )
    if obj.shape in catalog.ellipses:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], **paint)
        return
    a = math.radians(obj.rotation)
    ca, sa = math.cos(a), math.sin(a)
    pts = [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in catalog.outlines[obj.shape]]
    draw.polygon(pts, **paint)


def _light(scene: Scene, side: int) -> np.ndarray:
    """(side, side, 1) brightness gain: high on the lit side, low on the opposite one."""
    if scene.lighting == "even":
        return np.ones((side, side, 1), np.float32)
    t = np.linspace(0.0, 1.0, side, dtype=np.float32)  # 0 on the lit side
    if scene.lighting in ("right", "bottom"):
        t = t[::-1]
    high, low = scene.catalog.light_high, scene.catalog.light_low
    gain = high + (low - high) * t
    grid = gain[None, :] if scene.lighting in ("left", "right") else gain[:, None]
    return np.broadcast_to(grid, (side, side))[..., None]


def render(scene: Scene, size: int | None = None) -> Image.Image:
    """The scene as an RGB PIL image of ``size`` x ``size`` pixels (None: its world's image size)."""
    catalog = scene.catalog
    size = size or catalog.image_size
    side = size * catalog.supersample
    rng = np.random.default_rng(scene.nuisance)
    img = Image.fromarray(np.clip(_background(scene, side, rng), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    _draw_specks(draw, scene, side, rng)
    for obj in scene.objects:
        _draw_object(draw, obj, side, catalog)
    if scene.border != "none":
        w = catalog.border_width * side
        draw.rectangle([0, 0, side - 1, side - 1], outline=catalog.border_rgb[scene.border], width=round(w))
    pixels = (
        np.asarray(img, np.float32)
        * _light(scene, side)
        * np.array(catalog.tint_gain[scene.tint], np.float32)
    )
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return img.resize((size, size), Image.Resampling.BOX)


def render_array(scenes: list[Scene], size: int | None = None) -> np.ndarray:
    """(n, size, size, 3) uint8 (size None: the scenes' world's image size)."""
    return np.stack([np.asarray(render(s, size)) for s in scenes])
