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


def clouds(rng, n, d, shift_scale=1.0):
    """Two unit-norm clouds: text = image direction + noise, pushed apart along a fixed axis."""
    base = rng.standard_normal((n, d))
    axis = np.zeros(d)
    axis[0] = shift_scale
    img = base + axis + 0.3 * rng.standard_normal((n, d))
    txt = base - axis + 0.3 * rng.standard_normal((n, d))
    return img.astype(np.float32), txt.astype(np.float32)
