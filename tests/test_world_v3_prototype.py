"""The world v3 prototype's catalog (analyses/world_v3_catalog.py, used by world_v3_prototype.py)
is a ``Catalog`` value that a world receives: a world built with it draws its 20 shapes and 12
colours at Zipf-like frequencies, and a changed catalog under an unchanged version is refused.
World modules read the catalog of their world or scene, never world v2's module-level values."""

import ast
import collections
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gapkit.worlds.shapes import catalog as catalogs
from gapkit.worlds.shapes.catalog import V2
from gapkit.worlds.shapes.draw import render
from gapkit.worlds.shapes.scene import Obj, Scene, sample_scene
from gapkit.worlds.shapes.vocab import lexicon
from gapkit.worlds.shapes.world import ShapesWorld

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"train": 30, "restval": 5, "val": 5, "test": 10}


def _load_proto():
    spec = importlib.util.spec_from_file_location(
        "world_v3_catalog", ROOT / "analyses" / "world_v3_catalog.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def proto():
    return _load_proto().catalog()


def test_prototype_catalog_is_a_world_version(proto):
    assert proto.version == "3proto" and catalogs.get("3proto") is proto  # its caches never mix with v2's
    assert (len(proto.shapes), len(proto.colours)) == (20, 12)
    assert proto.shapes[:5] == V2.shapes and proto.colours[:6] == V2.colours
    assert all(c in lexicon(proto) for c in proto.colours) and "hexagram" in lexicon(proto)
    assert "hexagram" not in lexicon(V2) and V2.version == "2"  # v2 untouched


def test_prototype_world_draws_its_shapes_and_colours(proto):
    one = lambda s: Scene(  # noqa: E731
        objects=(Obj(s, "red", "large", "solid", "centre"),), background="light", catalog=proto
    )
    renders = {np.asarray(render(one(s))).tobytes() for s in proto.shapes}
    assert len(renders) == 20
    rng = np.random.default_rng(0)
    counts = collections.Counter(
        o.shape for _ in range(3000) for o in sample_scene(rng, catalog=proto).objects
    )
    colours = collections.Counter(
        o.colour for _ in range(1000) for o in sample_scene(rng, catalog=proto).objects
    )
    assert set(counts) == set(proto.shapes) and set(colours) == set(proto.colours)
    # Zipf-like (s = 0.8): the first shape 21%, the last 1.9%
    total = sum(counts.values())
    assert 0.18 < counts[proto.shapes[0]] / total < 0.24 and 0.01 < counts[proto.shapes[-1]] / total < 0.03


def test_prototype_world_records_differ_from_v2s(proto):
    v2 = ShapesWorld(seed=0, sizes=SIZES, n_minimal_pairs=1).generate()
    v3 = ShapesWorld(seed=0, sizes=SIZES, n_minimal_pairs=1, catalog=proto).generate()
    assert v3.version == "3proto" and v3.identity()["version"] == "3proto" and v2.version == "2"
    assert all(r.scene.catalog is proto for r in v3.records)
    assert [r.captions for r in v3.records] != [r.captions for r in v2.records]
    new = set(proto.shapes) - set(V2.shapes)
    assert any(o.shape in new for r in v3.records for o in r.scene.objects)


def test_changed_catalog_under_the_same_version_is_refused(proto):
    module = _load_proto()
    module.NEW_RGB["pink"] = (0, 0, 0)
    with pytest.raises(SystemExit, match="catalog changed .* bump VERSION"):
        module.catalog()
    other = dataclasses.replace(proto, rgb={**proto.rgb, "pink": (0, 0, 0)})
    with pytest.raises(ValueError, match="'3proto' is already a different catalog"):
        catalogs.register(other)
    assert catalogs.register(dataclasses.replace(proto)) is proto  # the same content: the known one


WORLD_MODULES = ("scene", "captions", "items", "draw", "vocab", "export", "world")


@pytest.mark.parametrize("name", WORLD_MODULES)
def test_world_modules_read_no_module_level_world_values(name):
    """World content comes from the world's or scene's catalog: no module reads catalog.SHAPES,
    catalog.V2.rgb or the like (only V2 as a default argument, and the factor-name schema)."""
    path = ROOT / "gapkit" / "worlds" / "shapes" / f"{name}.py"
    tree = ast.parse(path.read_text())
    allowed = {"V2", "Catalog", "OBJECT_FACTOR_NAMES", "SCENE_FACTOR_NAMES", "cdf", "get"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and node.module is None:  # from . import x
            assert "catalog" not in {a.name for a in node.names}, name
        if isinstance(node, ast.ImportFrom) and node.module == "catalog":
            assert {a.name for a in node.names} <= allowed, (name, [a.name for a in node.names])
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "V2":
            assert name == "captions" and node.attr == "shape_words", (name, node.attr, node.lineno)
