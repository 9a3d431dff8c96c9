"""Write a generated shapes world to disk in the official formats gapkit's real loaders read:
COCO Karpathy ``dataset_coco.json``, COCO captions json, SNLI-VE jsonl, VQA v2 questions and
annotations, VQA-E json, plus stylistic captions and counterfactual minimal pairs. A manifest
(``gapkit-world.json``) records the world identity and where each file is.

The folder is written under a temporary name and renamed when complete, so a crash never leaves
a half-written world behind. Images may be rendered later, one group at a time (a split, or the
minimal pairs): each group not rendered at export is listed with its scenes in
``pending-images/GROUP.json``, and ``render_pending`` draws it when a reader first needs it (the
embedded world's ``gapkit measure`` needs only its test split: 1,000 of 18,800 images).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import multiprocessing
import os
from pathlib import Path

from ...errors import GapkitError
from ...io import atomic_dir
from .catalog import Catalog, get
from .draw import render
from .scene import Obj, Scene
from .vocab import tokenize
from .world import SPLIT_ORDER, ShapesWorld

log = logging.getLogger("gapkit.worlds")

MANIFEST = "gapkit-world.json"
# Version of the exported file layout (the world itself is versioned by its catalog's version):
# 2 added "change" to minimal_pairs.jsonl; 3 is world v2 (its factors in the "attribute" column);
# 4 may leave image groups to be drawn on first read (pending-images/): a new cache folder name, so
# an older gapkit sharing the cache never takes a partly drawn folder for a complete one.
EXPORT_FORMAT = 4
# Official SNLI-VE file names use "dev" for validation; VQA v2 has no public test answers, but
# the world has them, so it writes a "test" subtype as well.
VE_SPLIT = {"train": "train", "val": "dev", "test": "test"}
IMAGE_DIR = "images"
# Image groups not rendered yet: one file per group ("train", ..., "pairs"), each a list of
# [path in the folder, scene]; a group's file goes once its images are drawn.
PENDING = "pending-images"
PAIRS = "pairs"


def _image_name(image_id: int) -> str:
    return f"{image_id:06d}.png"


def _karpathy(world: ShapesWorld) -> dict:
    images, sentid = [], 0
    for r in world.records:
        sents = []
        for cap in r.captions:
            sents.append({"tokens": tokenize(cap), "raw": cap, "imgid": r.image_id, "sentid": sentid})
            sentid += 1
        images.append(
            {
                "filepath": IMAGE_DIR,
                "filename": _image_name(r.image_id),
                "imgid": r.image_id,
                "cocoid": r.image_id,
                "split": r.split,
                "sentences": sents,
                "sentids": [s["sentid"] for s in sents],
            }
        )
    return {"images": images, "dataset": "coco"}


def _coco_captions(world: ShapesWorld, split: str) -> dict:
    recs = world.split(split)
    anns, k = [], 0
    for r in recs:
        for cap in r.captions:
            anns.append({"image_id": r.image_id, "id": k, "caption": cap})
            k += 1
    return {
        "info": {"description": f"gapkit shapes world v{world.version} {split}"},
        "images": [
            {
                "id": r.image_id,
                "file_name": _image_name(r.image_id),
                "width": world.catalog.image_size,
                "height": world.catalog.image_size,
            }
            for r in recs
        ],
        "annotations": anns,
    }


def _snli_ve(world: ShapesWorld, split: str) -> list[dict]:
    rows = []
    for r in world.split(split):
        for j, item in enumerate(r.ve):
            rows.append(
                {
                    "Flickr30K_ID": f"{r.image_id:06d}",
                    "pairID": f"{r.image_id:06d}#{j}",
                    "captionID": f"{r.image_id:06d}#0",
                    "gold_label": item.label,
                    "sentence1": r.captions[0],
                    "sentence2": item.hypothesis,
                }
            )
    return rows


def _vqa(world: ShapesWorld, split: str) -> tuple[dict, dict]:
    questions, annotations = [], []
    for r in world.split(split):
        for j, q in enumerate(r.vqa):
            qid = r.image_id * 10 + j
            questions.append({"image_id": r.image_id, "question": q.question, "question_id": qid})
            answers = [
                {"answer": a, "answer_confidence": "yes", "answer_id": k + 1} for k, a in enumerate(q.answers)
            ]
            top = max(set(q.answers), key=q.answers.count)
            annotations.append(
                {
                    "question_type": q.question_type,
                    "multiple_choice_answer": top,
                    "answers": answers,
                    "image_id": r.image_id,
                    "answer_type": q.answer_type,
                    "question_id": qid,
                }
            )
    head = {"info": {"description": f"gapkit shapes world v{world.version}"}, "data_subtype": split}
    return (
        {**head, "task_type": "Open-Ended", "data_type": "shapes", "questions": questions},
        {**head, "annotations": annotations},
    )


def _vqa_e(world: ShapesWorld, split: str) -> list[dict]:
    """VQA-E style: the explanation is a caption that states the factor the question asks about."""
    out = []
    for r in world.split(split):
        for q, expl in zip(r.vqa, r.vqa_explanations):
            top = max(set(q.answers), key=q.answers.count)
            out.append(
                {
                    "img_id": r.image_id,
                    "question": q.question,
                    "answers": list(q.answers),
                    "multiple_choice_answer": top,
                    "question_type": q.question_type,
                    "explanation": [expl, 1.0],
                }
            )
    return out


def _styles(world: ShapesWorld) -> dict:
    styles = sorted(world.records[0].styled) if world.records else []
    return {
        s: [{"image_id": r.image_id, "split": r.split, "caption": r.styled[s]} for r in world.records]
        for s in styles
    }


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def export_world(world: ShapesWorld, out: Path, render_now: tuple[str, ...] | None = None) -> Path:
    """Write ``world`` to ``out`` (which must not exist) and render the images of the groups in
    ``render_now`` (split names, "pairs"; None: all); the others are left to ``render_pending``.
    Returns ``out``."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / IMAGE_DIR).mkdir()
        (tmp / "pairs").mkdir()
        groups = _image_jobs(world)
        later = {g: jobs for g, jobs in groups.items() if render_now is not None and g not in render_now}
        render_files(
            [(scene, tmp / rel) for g, jobs in groups.items() if g not in later for scene, rel in jobs]
        )
        for g, jobs in later.items():
            (tmp / PENDING).mkdir(exist_ok=True)
            _write_json(tmp / PENDING / f"{g}.json", [[rel, _scene_dict(sc)] for sc, rel in jobs])
        files = {
            "karpathy": "dataset_coco.json",
            "styles": "styles.json",
            "minimal_pairs": "minimal_pairs.jsonl",
        }
        _write_json(tmp / files["karpathy"], _karpathy(world))
        for split in SPLIT_ORDER:
            if not world.split(split):
                continue
            _write_json(tmp / f"captions_{split}.json", _coco_captions(world, split))
            files[f"coco_captions_{split}"] = f"captions_{split}.json"
            q, a = _vqa(world, split)
            files[f"vqa_questions_{split}"] = f"v2_OpenEnded_mscoco_{split}_questions.json"
            files[f"vqa_annotations_{split}"] = f"v2_mscoco_{split}_annotations.json"
            _write_json(tmp / files[f"vqa_questions_{split}"], q)
            _write_json(tmp / files[f"vqa_annotations_{split}"], a)
            files[f"vqa_e_{split}"] = f"VQA-E_{split}_set.json"
            _write_json(tmp / files[f"vqa_e_{split}"], _vqa_e(world, split))
            if split in VE_SPLIT:
                files[f"snli_ve_{split}"] = f"snli_ve_{VE_SPLIT[split]}.jsonl"
                _write_jsonl(tmp / files[f"snli_ve_{split}"], _snli_ve(world, split))
        _write_json(tmp / files["styles"], _styles(world))
        _write_minimal_pairs(world, tmp, files["minimal_pairs"])
        manifest = {
            **world.identity(),
            "export_format": EXPORT_FORMAT,
            "files": files,
            "image_dir": IMAGE_DIR,
            "patterns": {
                "snli_ve": IMAGE_DIR + "/{id}.png",
                "vqa": IMAGE_DIR + "/{image_id:06d}.png",
                "vqa_e": IMAGE_DIR + "/{image_id:06d}.png",
            },
        }
        _write_json(tmp / MANIFEST, manifest)
    return out


def _pair_names(k: int) -> tuple[str, str]:
    return f"pairs/{k:05d}_a.png", f"pairs/{k:05d}_b.png"


def _image_jobs(world: ShapesWorld) -> dict[str, list[tuple[Scene, str]]]:
    """group -> (scene, path in the folder) of every image: one group per split, and the pairs."""
    groups = {
        s: [(r.scene, f"{IMAGE_DIR}/{_image_name(r.image_id)}") for r in world.split(s)] for s in SPLIT_ORDER
    }
    groups[PAIRS] = [
        (scene, name)
        for k, p in enumerate(world.minimal_pairs)
        for scene, name in zip((p.scene_a, p.scene_b), _pair_names(k))
    ]
    return {g: jobs for g, jobs in groups.items() if jobs}


def _scene_dict(scene: Scene) -> dict:
    """The scene's fields, its catalog aside (the manifest names the world version)."""
    d = {f.name: getattr(scene, f.name) for f in dataclasses.fields(scene) if f.name != "catalog"}
    return {**d, "objects": [dataclasses.asdict(o) for o in scene.objects]}


def _scene_from_dict(d: dict, catalog: Catalog) -> Scene:
    """Inverse of ``_scene_dict`` (JSON turned the tuples into lists; floats round-trip exactly)."""
    objs = tuple(Obj(**{**o, "rgb_jitter": tuple(o["rgb_jitter"])}) for o in d["objects"])
    return Scene(**{**d, "objects": objs, "bg_jitter": tuple(d["bg_jitter"])}, catalog=catalog)


def pending_groups(folder: Path) -> list[str]:
    """The image groups of an exported world that are not rendered yet, in export order."""
    order = [*SPLIT_ORDER, PAIRS]
    names = {p.stem for p in (Path(folder) / PENDING).glob("*.json")}
    return sorted(names, key=lambda g: order.index(g) if g in order else len(order))


def render_pending(folder: Path, groups: tuple[str, ...] | None = None) -> list[str]:
    """Render the pending image groups of ``folder`` that ``groups`` names (None: all); returns
    the groups rendered. Each file is written under a temporary name and renamed, and a group's
    entry goes after its last image, under a lock, so readers never see half an image and
    concurrent callers render a group once."""
    folder = Path(folder)
    todo = [g for g in pending_groups(folder) if groups is None or g in groups]
    if not todo:
        return []
    try:
        with _render_lock(folder):
            return _render_groups(folder, todo)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):  # a read-only cache; others are bugs
            raise
        raise GapkitError(
            f"The world in {folder} still has images to draw ({', '.join(todo)}) but cannot be written "
            f"({e.strerror}): run gapkit once with a writable GAPKIT_CACHE, or export the world with "
            "`gapkit world export` and pass its folder."
        ) from None


@contextlib.contextmanager
def _render_lock(folder: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / ".render.lock"))
    try:
        lock.acquire(timeout=1)
    except Timeout:
        log.info("waiting for another process that is drawing the images of %s", folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _render_groups(folder: Path, todo: list[str]) -> list[str]:
    done = []
    catalog = get(json.loads((folder / MANIFEST).read_text())["version"])
    for g in todo:
        entry = folder / PENDING / f"{g}.json"
        if not entry.is_file():  # another process drew it while this one waited
            continue
        jobs = [(_scene_from_dict(sc, catalog), folder / rel) for rel, sc in json.loads(entry.read_text())]
        render_files(jobs, atomic=True)
        entry.unlink()  # only once every image of the group is in place
        done.append(g)
    with contextlib.suppress(OSError):
        (folder / PENDING).rmdir()  # only when empty
    return done


def _write_minimal_pairs(world: ShapesWorld, tmp: Path, name: str) -> None:
    rows = []
    for k, p in enumerate(world.minimal_pairs):
        a, b = _pair_names(k)
        rows.append(
            {
                "attribute": p.attribute,
                "change": p.change,
                "image_a": a,
                "image_b": b,
                "caption_a": p.caption_a,
                "caption_b": p.caption_b,
            }
        )
    _write_jsonl(tmp / name, rows)


PNG_LEVEL = 1  # zlib level: lossless either way; level 1 writes 3x faster than PIL's default 6


def _render_chunk(jobs: list[tuple], atomic: bool = False) -> None:
    for scene, path in jobs:
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp") if atomic else target
        render(scene).save(tmp, format="PNG", compress_level=PNG_LEVEL)
        if atomic:
            tmp.replace(target)


def _render_chunk_atomic(jobs: list[tuple]) -> None:
    _render_chunk(jobs, atomic=True)


def render_files(jobs: list[tuple], workers: int | None = None, atomic: bool = False) -> None:
    """Render each (scene, path) to a PNG file, in worker processes when there are many: rendering
    is deterministic per scene (its nuisance seed), so the files do not depend on the split.
    ``atomic``: each file is written under a temporary name and renamed (for a folder readers use)."""
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    one = _render_chunk_atomic if atomic else _render_chunk
    if workers < 2 or len(jobs) < 200:
        return one(jobs)
    chunks = [jobs[k :: workers * 4] for k in range(workers * 4)]
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with ctx.Pool(workers) as pool:
        pool.map(one, chunks)
