"""Render scenes with PIL: draw at SUPERSAMPLE x resolution, then box-downsample (anti-aliasing)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from . import spec
from .scene import Obj, Scene


def _star(n_points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    pts = []
    for k in range(2 * n_points):
        r = 1.0 if k % 2 == 0 else inner
        a = math.pi * k / n_points - math.pi / 2
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


# Unit outlines centred on (0, 0), radius about 1; circles are drawn as ellipses instead.
_OUTLINES = {
    "square": [(-0.82, -0.82), (0.82, -0.82), (0.82, 0.82), (-0.82, 0.82)],
    "triangle": [(0.0, -1.0), (0.95, 0.75), (-0.95, 0.75)],
    "star": _star(),
    "cross": [
        (-0.32, -1.0), (0.32, -1.0), (0.32, -0.32), (1.0, -0.32), (1.0, 0.32), (0.32, 0.32),
        (0.32, 1.0), (-0.32, 1.0), (-0.32, 0.32), (-1.0, 0.32), (-1.0, -0.32), (-0.32, -0.32),
    ],
}


def _jittered(rgb: tuple[int, int, int], jitter: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(rgb, jitter))


def _draw_object(draw: ImageDraw.ImageDraw, obj: Obj, side: int) -> None:
    ax, ay = spec.ANCHORS[obj.position]
    cx, cy = (ax + obj.dx) * side, (ay + obj.dy) * side
    r = spec.RADIUS[obj.size] * obj.scale * side
    fill = _jittered(spec.RGB[obj.colour], obj.rgb_jitter)
    if obj.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        return
    a = math.radians(obj.rotation)
    ca, sa = math.cos(a), math.sin(a)
    pts = [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in _OUTLINES[obj.shape]]
    draw.polygon(pts, fill=fill)


def render(scene: Scene, size: int = spec.IMAGE_SIZE) -> Image.Image:
    """The scene as an RGB PIL image of ``size`` x ``size`` pixels."""
    side = size * spec.SUPERSAMPLE
    bg = _jittered(spec.BACKGROUND_RGB[scene.background], scene.bg_jitter)
    img = Image.new("RGB", (side, side), bg)
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        _draw_object(draw, obj, side)
    return img.resize((size, size), Image.Resampling.BOX)


def render_array(scenes: list[Scene], size: int = spec.IMAGE_SIZE) -> np.ndarray:
    """(n, size, size, 3) uint8."""
    return np.stack([np.asarray(render(s, size)) for s in scenes])
