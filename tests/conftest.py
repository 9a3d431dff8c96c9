import os

import numpy as np
import pytest

os.environ.setdefault("GAPKIT_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")
REAL_CLIP = os.path.join(SHARED, "fixtures", "real-clip")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request):
    """Every test gets its own GAPKIT_CACHE unless it asks for the session-wide world cache."""
    if "shared_cache" in request.fixturenames:
        return
    monkeypatch.setenv("GAPKIT_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture
def shared_cache(shared_cache_dir, monkeypatch):
    """A cache shared by the tests that use it (the generated shapes world is built once)."""
    monkeypatch.setenv("GAPKIT_CACHE", str(shared_cache_dir))
    return shared_cache_dir


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory):
    """A tiny exported shapes world (seed 6), shared by the grid and method tests that only read it;
    a module that needs another world defines its own ``world_dir``."""
    from gapkit.worlds.shapes.export import export_world
    from gapkit.worlds.shapes.world import ShapesWorld

    w = ShapesWorld(
        seed=6, sizes={"train": 40, "restval": 16, "val": 8, "test": 8}, n_minimal_pairs=1
    ).generate()
    return str(export_world(w, tmp_path_factory.mktemp("w") / "world"))


def clouds(rng, n, d, shift_scale=1.0):
    """Two unit-norm clouds: text = image direction + noise, pushed apart along a fixed axis."""
    base = rng.standard_normal((n, d))
    axis = np.zeros(d)
    axis[0] = shift_scale
    img = base + axis + 0.3 * rng.standard_normal((n, d))
    txt = base - axis + 0.3 * rng.standard_normal((n, d))
    return img.astype(np.float32), txt.astype(np.float32)


# --- the shipped tiny CLIP's card, recomputed beside the rest of the suite -----------------------
# tests/test_shipped_clip.py checks every number of the committed model card against a
# recomputation from the weights (about 60 s of scene sampling, rendering, encoding and probe
# fits). It starts in a subprocess as soon as those tests are collected, so it overlaps the other
# tests on the second core; its numbers do not depend on the thread count or load (probe fits run
# on one BLAS thread each, tinyclip/probes.py).
CARD_JOB = (
    "import json, sys\n"
    "from gapkit.encoders.shapes import ASSET_DIR\n"
    "from gapkit.tinyclip.card import evaluate_model\n"
    "from gapkit.tinyclip.model import load_tiny_clip\n"
    "clip = load_tiny_clip(ASSET_DIR)\n"
    "metrics = evaluate_model(clip.encode_images, clip.encode_texts, seed=0, reps=0)\n"
    "json.dump(metrics, open(sys.argv[1], 'w'))\n"
)
_card: dict = {}


def _start_card_job() -> None:
    import subprocess
    import sys
    import tempfile

    out = os.path.join(tempfile.mkdtemp(prefix="gapkit-card-"), "metrics.json")
    # The job keeps the environment's thread counts: on one thread it took more CPU time than the
    # overlap saved (suite 386 s against 248 s, measured on 2 cores).
    proc = subprocess.Popen(
        [sys.executable, "-c", CARD_JOB, out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _card.update(proc=proc, out=out)


def pytest_collection_finish(session):
    if any(item.path.name == "test_shipped_clip.py" for item in session.items):
        _start_card_job()


def card_metrics() -> dict:
    """The recomputed card (waits for the job; starts it here if collection did not)."""
    import json

    if "proc" not in _card:
        _start_card_job()
    proc = _card["proc"]
    _, err = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"recomputing the card failed (exit {proc.returncode}):\n{err}")
    with open(_card["out"]) as f:
        return json.load(f)


def pytest_sessionfinish(session, exitstatus):
    import shutil

    proc = _card.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if "out" in _card:
        shutil.rmtree(os.path.dirname(_card["out"]), ignore_errors=True)
