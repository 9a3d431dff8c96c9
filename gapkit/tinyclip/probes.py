"""Held-out checks that the tiny CLIP is a faithful model organism: the gap decomposition on the
world's test split (1 image : 5 reference captions) and linear probes per factor, from image
embeddings (every factor) and from text embeddings (the factor a caption states).

Probes train on train-split scenes and score on test-split scenes. Object factors are read at two
grid cells (the centre and the bottom right: scenes are drawn with an object there) and averaged;
position is the occupancy of each cell (nine binary probes, averaged)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..stats.decomposition import decomposition
from ..stats.paired import Paired
from ..streams import stream
from ..worlds.shapes import catalog
from ..worlds.shapes.captions import Mention, describe, sample_mention
from ..worlds.shapes.draw import render_array
from ..worlds.shapes.scene import Scene, sample_in_split
from ..worlds.shapes.world import ShapesWorld

EncodeImages = Callable[[np.ndarray], np.ndarray]
EncodeTexts = Callable[[list[str]], np.ndarray]
PROBE_CELLS = ("centre", "bottom right")
CELL_FACTORS = ("shape", "colour", "size", "fill")
SCENE_LEVEL = (*catalog.SCENE_FACTORS, "count")


def test_split(seed: int = 0, n: int = 1000) -> ShapesWorld:
    """The world's test split alone (identical scenes and captions to the full world's)."""
    return ShapesWorld(
        seed=seed, sizes={"train": 0, "restval": 0, "val": 0, "test": n}, n_minimal_pairs=0
    ).generate()


def test_pairs(world: ShapesWorld) -> tuple[list[Scene], list[str], np.ndarray]:
    recs = world.split("test")
    texts = [c for r in recs for c in r.captions]
    owner = np.repeat(np.arange(len(recs)), [len(r.captions) for r in recs])
    return [r.scene for r in recs], texts, owner


def i2t_r1(p: Paired) -> float:
    """Image -> text R@1: the top caption of each image is one of its own."""
    top = np.argmax(p.image @ p.text.T, axis=1)
    return float(np.mean(p.caption_image[top] == np.arange(len(p.image))))


def geometry(image_emb: np.ndarray, text_emb: np.ndarray, owner: np.ndarray, seed: int = 0) -> dict:
    p = Paired.from_raw(image_emb, text_emb, owner)
    return {**decomposition(p, seed), "i2t_r1": i2t_r1(p)}


# Probe fits run on one BLAS thread each: lbfgs stops at max_iter before it converges for weakly
# encoded factors, and where it stops depends on the rounding of every product, which a
# multi-threaded BLAS changes with its thread count (measured on the shipped weights: up to 0.002
# between 1 and 2 threads, 0.004 on a busy machine). One thread gives the same bits on any thread
# count and load; PROBE_WORKERS fits run side by side instead, each on its own thread.
PROBE_WORKERS = 2


def _probe_accuracy(x_tr, y_tr, x_te, y_te, seed: int) -> float:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # 300 lbfgs iterations: a probe that has not converged by then reads a factor poorly anyway.
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def _fit_all(fits: list[tuple], seed: int) -> list[float]:
    """``_probe_accuracy`` of each (x_tr, y_tr, x_te, y_te), PROBE_WORKERS at a time (numpy and
    scipy release the GIL in the products that dominate a fit). The BLAS limit is process-wide, so
    it is set once around all the fits, not inside each thread."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), ThreadPoolExecutor(PROBE_WORKERS) as pool:
        return list(pool.map(lambda f: _probe_accuracy(*f, seed), fits))


def _scenes(split: str, n: int, seed: int, salt: int, require: str | None = None) -> list[Scene]:
    rng = stream(seed, "probe-scenes", salt, list(catalog.SPLIT_SHARES).index(split))
    return [sample_in_split(rng, split, require=require) for _ in range(n)]


def image_probes(
    encode: EncodeImages, n_train: int = 2000, n_test: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Probe accuracy per factor from image embeddings."""
    keys, fits = [], []  # factor of each fit; (x_tr, y_tr, x_te, y_te)
    for k, cell in enumerate(PROBE_CELLS):
        tr, te = _scenes("train", n_train, seed, k, cell), _scenes("test", n_test, seed, k, cell)
        x_tr, x_te = encode(render_array(tr)), encode(render_array(te))
        labels: dict[str, Callable[[Scene], object]] = {
            f: (lambda s, f=f, c=cell: s.object_at(c).factor(f)) for f in CELL_FACTORS
        }
        if k == 0:
            labels |= {f: (lambda s, f=f: s.factor(f)) for f in SCENE_LEVEL}
            # position: occupancy of each other cell (the required cell is always full)
            positions = [q for q in catalog.POSITIONS if q != cell]
            labels |= {("position", q): (lambda s, q=q: s.object_at(q) is not None) for q in positions}
        for key, label in labels.items():
            keys.append(key[0] if isinstance(key, tuple) else key)
            fits.append((x_tr, [label(s) for s in tr], x_te, [label(s) for s in te]))
    out: dict[str, list[float]] = {f: [] for f in catalog.FACTORS}
    for key, acc in zip(keys, _fit_all(fits, seed)):
        out[key].append(acc)
    return {f: float(np.mean(v)) for f, v in out.items()}


def _stating(scene: Scene, factor: str, rng) -> tuple[str, object]:
    """A caption that states ``factor`` of one object (or the scene) and that factor's value."""
    m = sample_mention(scene, rng)
    if factor in SCENE_LEVEL:
        return describe(scene, Mention(m.objects, factor), rng), scene.factor(factor)
    obj, named = m.objects[0]
    extra = tuple(sorted(set(named) | {factor} - {"shape"}))
    return describe(
        scene, Mention(((obj, extra),), m.scene_factor if m.scene_factor != "count" else None), rng
    ), obj.factor(factor)


def text_probes(
    encode: EncodeTexts, n_train: int = 2000, n_test: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Probe accuracy per factor from embeddings of captions that state that factor."""
    fits = []
    for k, factor in enumerate(catalog.FACTORS):
        rng = stream(seed, "probe-captions", k)
        data = {}
        for split, n in (("train", n_train), ("test", n_test)):
            pairs = [_stating(s, factor, rng) for s in _scenes(split, n, seed, 10 + k)]
            data[split] = (encode([t for t, _ in pairs]), [str(v) for _, v in pairs])
        fits.append((*data["train"], *data["test"]))
    return dict(zip(catalog.FACTORS, _fit_all(fits, seed)))


def separability(image: np.ndarray, text: np.ndarray, owner: np.ndarray, seed: int = 0) -> float:
    """Held-out accuracy of a logistic regression telling image rows from text rows (each image
    with its first caption; seeded 80/20 split)."""
    img, txt = Paired(image, text, np.asarray(owner)).first_pairs()
    feats = np.concatenate([img, txt])
    labels = np.r_[np.zeros(len(img)), np.ones(len(txt))]
    perm = stream(seed, "probe-split").permutation(len(feats))
    cut = int(0.8 * len(feats))
    return _fit_all([(feats[perm[:cut]], labels[perm[:cut]], feats[perm[cut:]], labels[perm[cut:]])], seed)[0]
