"""The fused streaming pass of ``measure``: one read of the rows computes everything that needs all
of them.

Per chunk of c pairs, x the image rows and y the caption rows ((c, d), float32):

1. check the rows (finite, non-zero) and normalise them, once;
2. add the point sums (``Sums`` with one replicate) and, for rows in the bootstrap set, the
   replicate sums (each row weighted by its image's Poisson weights);
3. add the second moment of delta = x - y about a centre: one symmetric rank-c update, (d, d);
4. add MG / Delta for every fixed shift at once: x.y, x B and y B for the (d, K) shift matrix B;
5. for sampled retrieval, keep each query's best candidates so far.

A contiguous range of rows (a shard, or one thread's share of it) gives a ``Partial``; partials
merge exactly: sums add, second moments about different centres combine by the pairwise update
of Chan, Golub & LeVeque (1979), top-k lists merge. Chunks hold about CHUNK_BYTES per modality,
so that a chunk of both modalities stays in the cache through steps 1-5.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import GapkitError
from .bootstrap import BootstrapSet
from .paired import norms_in_range, power_of_two_scaled
from .sums import Sums, weighted_sum

CHUNK_BYTES = 3 << 20  # one float32 chunk of one modality (1,024 rows at d = 768)
TOP_K = 10  # candidates kept per retrieval query: the largest k of R@k


def chunk_rows(d: int, limit: int) -> int:
    """Rows per chunk: about CHUNK_BYTES of float32, at most ``limit`` (at least 256 unless limited)."""
    return max(1, min(limit, max(256, CHUNK_BYTES // (4 * d))))


@dataclass
class Queries:
    """Sampled retrieval: unit query rows of each direction and their indices in the whole input."""

    image_ids: np.ndarray  # (q_i,) image index of each image query (image -> text)
    image_rows: np.ndarray  # (q_i, d) float32
    caption_ids: np.ndarray  # (q_t,) caption index of each caption query (text -> image)
    caption_rows: np.ndarray  # (q_t, d) float32


@dataclass
class PassSpec:
    """What one pass computes. ``sums`` (pass 1) also checks every row; a pass without it only
    adds shift terms (pass 2, for shifts that depend on pass 1's gap vector)."""

    normalize: bool
    d: int
    boot: BootstrapSet
    sums: bool = True
    moment: bool = False
    shifts: np.ndarray | None = None  # (d, K) float32 shift vectors
    queries: Queries | None = None
    chunk: int = 16384
    threads: int = 1


@dataclass
class TopK:
    """The k best candidates of each query so far, best first (ties: lower index first)."""

    scores: np.ndarray  # (q, k) float32, -inf where empty
    ids: np.ndarray  # (q, k) int64 candidate indices, -1 where empty

    @classmethod
    def empty(cls, q: int, k: int = TOP_K) -> TopK:
        return cls(np.full((q, k), -np.inf, np.float32), np.full((q, k), -1, np.int64))

    def add(self, sims: np.ndarray, start: int) -> None:
        """sims (c, q): similarities of candidates start .. start + c - 1 to every query."""
        k = min(self.ids.shape[1], len(sims))
        top = np.argpartition(-sims, k - 1, axis=0)[:k]  # (k, q)
        self._keep(np.take_along_axis(sims, top, 0).T, (top + start).T)

    def merge(self, other: TopK) -> None:
        self._keep(other.scores, other.ids)

    def _keep(self, scores: np.ndarray, ids: np.ndarray) -> None:
        s, i = np.concatenate([self.scores, scores], 1), np.concatenate([self.ids, ids], 1)
        order = np.lexsort((i, -s), axis=1)[:, : self.ids.shape[1]]
        self.scores, self.ids = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


@dataclass
class Moment:
    """Second moment of delta = x - y about ``centre``: n, s1 = sum (delta - centre) (d,) and
    m2 = sum (delta - centre)(delta - centre)^T (d, d), float64. The centre is the first chunk's
    mean: |mean delta| (the gap) is large next to the spread, and float32 products of uncentred
    rows would lose the covariance's small eigenvalues to cancellation."""

    centre: np.ndarray | None
    n: float
    s1: np.ndarray
    m2: np.ndarray

    @classmethod
    def zeros(cls, d: int) -> Moment:
        return cls(None, 0.0, np.zeros(d), np.zeros((d, d)))

    def add(self, delta: np.ndarray) -> None:
        if self.centre is None:
            self.centre = delta.mean(0, dtype=np.float64).astype(np.float32).astype(np.float64)
        dc = delta - self.centre.astype(np.float32)  # (c, d) float32
        self.n += len(dc)
        self.s1 += dc.sum(0, dtype=np.float64)
        self.m2 += dc.T @ dc  # numpy runs a.T @ a as a symmetric rank-k update (syrk)

    def merge(self, other: Moment) -> None:
        if other.centre is None:
            return
        if self.centre is None:
            self.centre, self.n, self.s1, self.m2 = other.centre, other.n, other.s1.copy(), other.m2.copy()
            return
        e = other.centre - self.centre  # moments of the other part, moved to this centre
        self.m2 += other.m2 + np.outer(e, other.s1) + np.outer(other.s1, e) + other.n * np.outer(e, e)
        self.s1 += other.s1 + other.n * e
        self.n += other.n

    def covariance(self) -> np.ndarray:
        m = self.s1 / self.n
        return self.m2 / self.n - np.outer(m, m)


@dataclass
class Partial:
    """Everything one range of rows contributes. Shift sums: [0] MG terms, [1] Delta terms."""

    point: Sums | None = None
    boot: Sums | None = None
    moment: Moment | None = None
    shift_point: np.ndarray | None = None  # (2, K) sums over pairs
    shift_boot: np.ndarray | None = None  # (2, 1 + reps, K) weighted sums over bootstrap pairs
    i2t: TopK | None = None  # image queries x caption candidates
    t2i: TopK | None = None  # caption queries x image candidates
    norm_lo: float = np.inf
    norm_hi: float = 0.0
    rows: int = field(default=0)

    @classmethod
    def new(cls, spec: PassSpec) -> Partial:
        p, k = cls(), 0 if spec.shifts is None else spec.shifts.shape[1]
        if spec.sums:
            p.point = Sums.zeros(0, spec.d)
            p.boot = Sums.zeros(spec.boot.reps, spec.d) if spec.boot.reps else None
        p.moment = Moment.zeros(spec.d) if spec.moment else None
        if k:
            p.shift_point, p.shift_boot = np.zeros((2, k)), np.zeros((2, 1 + spec.boot.reps, k))
        if spec.queries is not None:
            p.i2t, p.t2i = TopK.empty(len(spec.queries.image_ids)), TopK.empty(len(spec.queries.caption_ids))
        return p

    def merge(self, o: Partial) -> Partial:
        """Add ``o`` (the rows after this part's) into this part; returns self."""
        for name in ("point", "boot"):
            if getattr(self, name) is not None:
                getattr(self, name).__iadd__(getattr(o, name))
        if self.moment is not None:
            self.moment.merge(o.moment)
        if self.shift_point is not None:
            self.shift_point += o.shift_point
            self.shift_boot += o.shift_boot
        for name in ("i2t", "t2i"):
            if getattr(self, name) is not None:
                getattr(self, name).merge(getattr(o, name))
        self.norm_lo, self.norm_hi = min(self.norm_lo, o.norm_lo), max(self.norm_hi, o.norm_hi)
        self.rows += o.rows
        return self


def merge_all(parts: list[Partial]) -> Partial:
    """Merge partials in order (the order fixes the float64 rounding: results never depend on
    which worker finished first)."""
    out = parts[0]
    for p in parts[1:]:
        out.merge(p)
    return out


# ---- checking and normalising a chunk ---------------------------------------------------------


def _unit(raw, name: str, start: int, spec: PassSpec, acc: Partial, where) -> tuple[np.ndarray, np.ndarray]:
    """A chunk as float32 rows, L2-normalised when ``spec.normalize``, and |row|^2 after that
    ((c,) float64: ones when normalised). Pass 1 checks every row and records the norm range."""
    a = np.asarray(raw)
    a = given = a if a.dtype == np.float32 else a.astype(np.float32)  # one conversion per row, ever
    with np.errstate(over="ignore", under="ignore"):
        n2 = np.einsum("cd,cd->c", a, a)
    e = None  # rows whose squares overflow or vanish are divided by 2^e first (exact; paired.py)
    if not (ok := norms_in_range(n2)).all():
        a, e = power_of_two_scaled(a, ~ok)
        n2 = np.einsum("cd,cd->c", a, a)
    if spec.sums:
        n2 = _checked(a, n2, name, start, where)
        norms = np.sqrt(n2) if e is None else np.ldexp(np.sqrt(n2.astype(np.float64)), e)
        acc.norm_lo = min(acc.norm_lo, float(norms.min()))
        acc.norm_hi = max(acc.norm_hi, float(norms.max()))
    if not spec.normalize:
        return given, n2.astype(np.float64) if e is None else np.ldexp(n2.astype(np.float64), 2 * e)
    inv = (1 / np.sqrt(n2)).astype(np.float32)[:, None]
    if a is raw or not a.flags.owndata:  # never write into the caller's array or a memory map
        return a * inv, np.ones(len(a))
    a *= inv
    return a, np.ones(len(a))


def _checked(a: np.ndarray, n2: np.ndarray, name: str, start: int, where) -> np.ndarray:
    """Raise for the first row holding NaN / Inf or a zero vector; squared norms that overflow
    float32 (huge but finite rows) are recomputed in float64."""
    if not np.isfinite(n2).all():
        bad = ~np.isfinite(a).all(axis=1)
        if bad.any():
            first = int(np.argmax(bad))
            raise GapkitError(
                f"{name} row {start + first} holds NaN or Inf ({int(bad.sum())} such rows in rows "
                f"{start}..{start + len(a) - 1}){_where(where, first)}."
            )
        n2 = np.einsum("cd,cd->c", a.astype(np.float64), a.astype(np.float64))
    zero = n2 == 0
    if zero.any():
        first = int(np.argmax(zero))
        raise GapkitError(f"{name} row {start + first} is a zero vector{_where(where, first)}.")
    return n2


def _where(where, first: int) -> str:
    """' (in FILE, its row r)' for rows of a shard; ``where`` is (label, offset of the chunk in it)."""
    return "" if where is None else f" (in {where[0]}, its row {where[1] + first})"


# ---- the per-chunk work -----------------------------------------------------------------------


def _pairs_chunk(acc: Partial, spec: PassSpec, x, qx, yraw, start: int, w_rows, where) -> None:
    """Pairs start .. start + c - 1: x their unit image rows (c, d) with |x|^2 ``qx``, ``yraw`` the
    caption rows; ``w_rows`` = (offsets of the pairs in the bootstrap set, their (1 + reps, m)
    weights)."""
    y, qy = _unit(yraw, "text_emb", start, spec, acc, where)
    xy32 = np.einsum("cd,cd->c", x, y)
    offs, w = w_rows
    full = len(offs) == len(x)
    if spec.sums:
        delta = x - y  # (c, d)
        d2 = np.einsum("cd,cd->c", delta, delta).astype(np.float64)
        xy = xy32.astype(np.float64)
        ones = np.ones((1, len(x)), np.float32)
        acc.point.add_pairs(y, ones, weighted_sum(ones, x), qy, xy, d2)
        if acc.boot is not None and len(offs):
            xs, ys = (x, y) if full else (x[offs], y[offs])
            acc.boot.add_pairs(ys, w, weighted_sum(w, xs), qy[offs], xy[offs], d2[offs])
        if acc.moment is not None:
            acc.moment.add(delta)
    if spec.shifts is not None:
        _add_shifts(acc, spec.shifts, x, y, xy32, offs, w)
    if spec.queries is not None:
        acc.i2t.add(y @ spec.queries.image_rows.T, start)  # captions as candidates of image queries
    acc.rows += len(x)


def _add_shifts(acc: Partial, b: np.ndarray, x, y, xy, offs, w) -> None:
    """MG = cos(x, n(y + b)) = (x.y + x.b) / sqrt(1 + 2 y.b + |b|^2) and Delta = cos(y, n(y + b)) =
    (1 + y.b) / sqrt(...) for every column b of B (CLOSE Table 3; x, y unit rows)."""
    bb = (b.astype(np.float64) ** 2).sum(0).astype(np.float32)  # (K,)
    xb, yb = x @ b, y @ b  # (c, K)
    inv = 1 / np.sqrt(np.maximum(1 + 2 * yb + bb, 1e-12))
    terms = np.stack([(xy[:, None] + xb) * inv, (1 + yb) * inv])  # (2, c, K) float32
    acc.shift_point += terms.sum(1, dtype=np.float64)
    if len(offs):
        sel = terms if len(offs) == len(x) else terms[:, offs]
        acc.shift_boot += np.matmul(w.astype(np.float64)[None], sel.astype(np.float64))


def _images_chunk(acc: Partial, spec: PassSpec, xraw, start: int, where) -> tuple:
    """Images start .. start + c - 1: checked, normalised, summed. Returns (unit rows, |x|^2, the
    bootstrap rows (offsets, weights)) for the pairs that use them."""
    x, qx = _unit(xraw, "image_emb", start, spec, acc, where)
    w_rows = (
        spec.boot.in_range(start, start + len(x)) if (spec.sums or spec.shifts is not None) else ((), None)
    )
    if spec.sums:
        ones = np.ones((1, len(x)), np.float32)
        acc.point.add_images(x, ones, qx)
        offs, w = w_rows
        if acc.boot is not None and len(offs):
            acc.boot.add_images(x if len(offs) == len(x) else x[offs], w, qx[offs])
    if spec.queries is not None and spec.sums:
        acc.t2i.add(x @ spec.queries.caption_rows.T, start)  # images as candidates of caption queries
    return x, qx, w_rows


# ---- passes over ranges of rows ---------------------------------------------------------------


def _threaded(n: int, spec: PassSpec, work) -> Partial:
    """``work(lo, hi) -> Partial`` over ``spec.threads`` contiguous shares of n rows, merged in
    order. BLAS runs one thread per share: the parallelism is the shares' (BLAS threads on top
    fought over the same cores; on a loaded machine a multi-threaded syrk ran 3x slower)."""
    from threadpoolctl import threadpool_limits

    step = chunk_rows(spec.d, spec.chunk)
    t = max(1, min(spec.threads, -(-n // step)))
    bounds = [round(n * i / t) for i in range(t + 1)]
    with threadpool_limits(1, user_api="blas"):
        if t == 1:
            return work(0, n)
        with ThreadPoolExecutor(max_workers=t) as pool:
            return merge_all(list(pool.map(lambda i: work(bounds[i], bounds[i + 1]), range(t))))


def pass_pairs(
    image_rows, text_rows, start: int, spec: PassSpec, label: str | None = None, text_label: str | None = None
) -> Partial:
    """1:1 pairs: row i of the two (n, d) arrays is pair ``start + i`` of the whole input. ``label``
    / ``text_label`` name the files that hold the image / text rows in errors (text: ``label``
    when None, a file of pairs)."""
    step = chunk_rows(spec.d, spec.chunk)

    def work(lo: int, hi: int) -> Partial:
        acc = Partial.new(spec)
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            at_x = None if label is None else (label, s)
            at_y = None if label is None else (text_label or label, s)
            x, qx, w_rows = _images_chunk(acc, spec, image_rows[s:e], start + s, at_x)
            _pairs_chunk(acc, spec, x, qx, text_rows[s:e], start + s, w_rows, at_y)
        return acc

    return _threaded(len(image_rows), spec, work)


def pass_one_to_many(image_emb, text_emb, owner: np.ndarray, spec: PassSpec) -> Partial:
    """1 image : k captions (in memory or memory-mapped): images once, then the captions with
    their images gathered."""
    step = chunk_rows(spec.d, spec.chunk)

    def images(lo: int, hi: int) -> Partial:
        acc = Partial.new(spec)
        for s in range(lo, hi, step):
            _images_chunk(acc, spec, image_emb[s : min(s + step, hi)], s, None)
        return acc

    def captions(lo: int, hi: int) -> Partial:
        acc = Partial.new(spec)
        quiet = PassSpec(**{**spec.__dict__, "sums": False})  # image rows were checked above
        for s in range(lo, hi, step):
            e = min(s + step, hi)
            own = owner[s:e]
            x, qx = _unit(image_emb[own], "image_emb", 0, quiet, acc, None)
            w = spec.boot.weights(own)
            offs = np.flatnonzero(w[0] > 0)
            _pairs_chunk(acc, spec, x, qx, text_emb[s:e], s, (offs, w[:, offs]), None)
        return acc

    # The image half adds the image-side sums (n_img, sx, qx) and text->image candidates; the
    # caption half the pair sums, moments, shifts and image->text candidates.
    acc = _threaded(len(image_emb), spec, images) if spec.sums else Partial.new(spec)
    return acc.merge(_threaded(len(text_emb), spec, captions))


def run_part(part, spec: PassSpec) -> Partial:
    """One part of a 1:1 source (a shard file, opened here: in a Ray task, on the worker's node)."""
    image_rows, text_rows = part.open()
    return pass_pairs(image_rows, text_rows, part.start, spec, part.label, getattr(part, "text_label", None))
