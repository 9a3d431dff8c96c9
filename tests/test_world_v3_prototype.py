"""The world v3 prototype's catalog (analyses/world_v3_catalog.py, used by world_v3_prototype.py)
patches world v2's modules; these checks run it in a fresh interpreter (the patch is process-wide)
and fail if a change to the world's modules stops the patch from taking effect."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "world_v3_catalog.py"

CHECK = """
import collections, json, runpy, sys
import numpy as np
proto = runpy.run_path(sys.argv[1])
proto["apply"]()
from gapkit.worlds.shapes import captions, catalog, draw, scene, vocab
from gapkit.worlds.shapes.scene import Obj, Scene
def one(shape):
    return Scene(objects=(Obj(shape, "red", "large", "solid", "centre"),), background="light")
renders = [np.asarray(draw.render(one(s))) for s in catalog.SHAPES]
rng = np.random.default_rng(0)
counts = collections.Counter(o.shape for _ in range(3000) for o in scene.sample_scene(rng).objects)
print(json.dumps({
    "version": catalog.WORLD_VERSION,
    "shapes": len(catalog.SHAPES), "colours": len(catalog.COLOURS),
    "distinct_renders": len({r.tobytes() for r in renders}),
    "named": all(s in captions.SHAPE_WORDS for s in catalog.SHAPES),
    "in_lexicon": all(c in vocab.lexicon() for c in catalog.COLOURS),
    "first_share": counts[catalog.SHAPES[0]] / sum(counts.values()),
    "last_share": counts[catalog.SHAPES[-1]] / sum(counts.values()),
}))
"""


def test_prototype_patch_takes_effect():
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(SCRIPT)], capture_output=True, text=True, check=True, timeout=120
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["version"] == "3proto"  # its caches never mix with world v2's
    assert (got["shapes"], got["colours"]) == (20, 12)
    assert got["distinct_renders"] == 20 and got["named"] and got["in_lexicon"]
    # Zipf-like (s = 0.8): the first shape 21%, the last 1.9%
    assert 0.18 < got["first_share"] < 0.24 and 0.01 < got["last_share"] < 0.03
