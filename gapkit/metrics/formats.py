"""Prediction files ``gapkit score`` reads, so outputs of other systems can be scored too:

- ``gapkit``: a run's ``predictions.json``, a JSON list of {id?, prediction, refs}, or
  {id, prediction} with a references file of {id, refs}; any kind (caption, vqa, ve).
- ``coco-captions``: the COCO captioning results format, [{"image_id", "caption"}], scored against
  a COCO captions annotation file ({"annotations": [{"image_id", "caption"}]}); like the COCO
  evaluation, the images in the results are scored, one caption each.
- ``vqa``: the VQA results format, [{"question_id", "answer"}], scored against the official VQA
  annotations file (the 10 answers of each question) and, when given, its questions file.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from .._registry import Registry
from ..data._json import describe, read_json
from ..errors import GapkitError

FORMATS: Registry = Registry("prediction format", ls_hint="formats")
log = logging.getLogger("gapkit.metrics")


@dataclass
class Scorable:
    """Predictions matched with their references, ready for ``gapkit.metrics.score``."""

    kind: str  # scorer family: caption, vqa or ve
    preds: list[str]
    refs: list[list[str]]  # one list of references per prediction
    groups: dict[str, list[int]] = field(default_factory=dict)  # e.g. VQA answer type -> item indices


@dataclass
class Sources:
    """The files besides the predictions that a format may need (None: not given)."""

    refs: str | None = None
    annotations: str | None = None
    questions: str | None = None


def read_predictions(path: str) -> list[dict]:
    rows = read_json(path, "predictions")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise GapkitError(f"{path} must be a JSON list of objects (one per prediction).")
    if not rows:
        raise GapkitError(f"{path} holds no predictions.")
    return rows


def detect_format(rows: list[dict], path: str) -> str:
    """The registered format whose fields the first prediction has."""
    for name in FORMATS.names():
        if FORMATS.get(name).fields <= set(rows[0]):
            return name
    wanted = "; ".join(f"{n}: {', '.join(sorted(FORMATS.get(n).fields))}" for n in FORMATS.names())
    raise GapkitError(
        f"Cannot tell the format of {path}: its first item has fields {sorted(rows[0])}; "
        f"expected ({wanted}). See `gapkit ls formats`."
    )


def _require_fields(rows: list[dict], fields_: set[str], path: str) -> None:
    for k, row in enumerate(rows):
        missing = sorted(fields_ - set(row))
        if missing:
            raise GapkitError(
                f"{path}: item {k} has no field {missing[0]!r} "
                f"(every item needs {', '.join(sorted(fields_))})."
            )


def _texts(rows: list[dict], key: str, path: str, id_key: str | None = None) -> list[str]:
    """``row[key]`` of every row as text: a string, or a number (a VQA answer written as 2). Null,
    true/false, a list or an object is an error naming the item, not the text "None" scored."""
    out = []
    for k, row in enumerate(rows):
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            name = f"item {k}" + (f" ({id_key} {row[id_key]!r})" if id_key in row else "")
            raise GapkitError(f"{path}: {name}: {key!r} is {describe(value)}, not a string.")
        out.append(str(value))
    return out


def _ref_lists(rows: list[dict], path: str) -> list[list[str]]:
    """``row["refs"]`` of every row: a non-empty list of strings, else an error naming the item."""
    for k, row in enumerate(rows):
        refs = row.get("refs")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise GapkitError(f"{path}: item {k} needs 'refs', a non-empty list of strings.")
    return [list(row["refs"]) for row in rows]


def _unique(ids: list, what: str, path: str) -> None:
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        raise GapkitError(
            f"{path}: {len(dup)} {what} appear more than once, e.g. {dup[0]!r}; give one prediction each."
        )


def _unknown(ids: list, known, what: str, path: str, refs_path: str) -> None:
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise GapkitError(f"{path}: {len(unknown)} {what} are not in {refs_path}, e.g. {unknown[:3]}.")


@FORMATS.register("gapkit")
class GapkitFormat:
    """gapkit's own list: {id?, prediction, refs}, or {id, prediction} with --refs of {id, refs}."""

    fields = {"prediction"}

    @staticmethod
    def load(rows: list[dict], path: str, src: Sources, kind: str | None) -> Scorable:
        if kind is None:
            raise GapkitError("gapkit's predictions format needs --kind (caption, vqa or ve).")
        if src.refs:
            refs = _id_refs(src.refs)
            _require_fields(rows, {"id", "prediction"}, path)
            _unknown([str(r["id"]) for r in rows], refs, "ids", path, src.refs)
            preds = _texts(rows, "prediction", path, "id")
            return Scorable(kind, preds, [refs[str(r["id"])] for r in rows])
        bad = [k for k, r in enumerate(rows) if not r.get("refs")]
        if bad:
            raise GapkitError(f"{path}: item {bad[0]} has no refs (pass --refs).")
        _require_fields(rows, {"prediction"}, path)
        return Scorable(kind, _texts(rows, "prediction", path, "id"), _ref_lists(rows, path))


def _id_refs(path: str) -> dict[str, list[str]]:
    rows = read_json(path, "references")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r and "refs" in r for r in rows):
        raise GapkitError(f"{path} must be a JSON list of objects with 'id' and 'refs'.")
    return {str(r["id"]): refs for r, refs in zip(rows, _ref_lists(rows, path))}


@FORMATS.register("coco-captions")
class CocoCaptions:
    """COCO captioning results [{image_id, caption}] against a COCO captions annotation file (--refs)."""

    fields = {"image_id", "caption"}
    kind = "caption"

    @staticmethod
    def load(rows: list[dict], path: str, src: Sources, kind: str | None) -> Scorable:
        if not src.refs:
            raise GapkitError(
                f"{path} is in the COCO captioning results format: pass --refs with a COCO captions "
                "annotation file (e.g. captions_val2014.json)."
            )
        _require_fields(rows, CocoCaptions.fields, path)
        refs = _coco_captions(src.refs)
        ids = [r["image_id"] for r in rows]
        _unique(ids, "image ids", path)
        _unknown(ids, refs, "image ids", path, src.refs)
        if len(ids) < len(refs):
            log.info("scoring the %d images in %s (of %d in %s)", len(ids), path, len(refs), src.refs)
        return Scorable("caption", _texts(rows, "caption", path, "image_id"), [refs[i] for i in ids])


def _coco_captions(path: str) -> dict:
    data = read_json(path, "COCO captions")
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(anns, list) or not all(
        isinstance(a, dict) and {"image_id", "caption"} <= set(a) for a in anns
    ):
        raise GapkitError(
            f"{path} is not a COCO captions annotation file: it needs 'annotations', a list of "
            "{image_id, caption}."
        )
    out: dict = {}
    for a in anns:
        out.setdefault(a["image_id"], []).append(str(a["caption"]))
    return out


@FORMATS.register("vqa")
class VqaResults:
    """VQA results [{question_id, answer}] against official annotations (--annotations, --questions).

    The questions file is optional; when given, it is checked against the annotations."""

    fields = {"question_id", "answer"}
    kind = "vqa"

    @staticmethod
    def load(rows: list[dict], path: str, src: Sources, kind: str | None) -> Scorable:
        if not src.annotations:
            raise GapkitError(
                f"{path} is in the VQA results format: pass --annotations with the official VQA "
                "annotations file (and --questions with its questions file)."
            )
        _require_fields(rows, VqaResults.fields, path)
        anns = _vqa_annotations(src.annotations)
        if src.questions:
            _check_questions(src.questions, anns, src.annotations)
        ids = [r["question_id"] for r in rows]
        _unique(ids, "question ids", path)
        _unknown(ids, anns, "question ids", path, src.annotations)
        if len(ids) < len(anns):
            log.warning(
                "%s answers %d of the %d questions in %s (the official evaluation wants all); scoring "
                "those %d",
                path,
                len(ids),
                len(anns),
                src.annotations,
                len(ids),
            )
        groups: dict[str, list[int]] = {}
        for k, i in enumerate(ids):
            groups.setdefault(str(anns[i].get("answer_type", "unknown")), []).append(k)
        answers = _texts(rows, "answer", path, "question_id")
        return Scorable("vqa", answers, [anns[i]["answers"] for i in ids], groups)


def _vqa_annotations(path: str) -> dict:
    """question id -> {answers: [10 answer strings], answer_type}."""
    data = read_json(path, "VQA annotations")
    anns = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(anns, list):
        raise GapkitError(f"{path} is not a VQA annotations file: it needs 'annotations', a list.")
    out = {}
    for k, a in enumerate(anns):
        if (
            not isinstance(a, dict)
            or "question_id" not in a
            or not isinstance(a.get("answers"), list)
            or not a["answers"]
            or not all(isinstance(x, dict) and "answer" in x for x in a["answers"])
        ):
            raise GapkitError(
                f"Malformed {path}: annotations[{k}] needs question_id and answers "
                "(a non-empty list of {answer})."
            )
        out[a["question_id"]] = {
            "answers": [str(x["answer"]) for x in a["answers"]],
            "answer_type": a.get("answer_type"),
        }
    return out


def _check_questions(path: str, anns: dict, ann_path: str) -> None:
    data = read_json(path, "VQA questions")
    qs = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(qs, list) or not all(isinstance(q, dict) and "question_id" in q for q in qs):
        raise GapkitError(
            f"{path} is not a VQA questions file: it needs 'questions', a list of {{question_id, ...}}."
        )
    asked = {q["question_id"] for q in qs}
    orphans = [i for i in anns if i not in asked]
    if orphans:
        raise GapkitError(
            f"{ann_path} and {path} do not belong together: {len(orphans)} annotated questions are "
            f"not in the questions file, e.g. {orphans[:3]}."
        )


def load_scorable(
    path: str, fmt: str = "auto", kind: str | None = None, src: Sources | None = None
) -> Scorable:
    """Read a predictions file in ``fmt`` (``auto``: detected from its fields) with its references."""
    rows = read_predictions(path)
    name = detect_format(rows, path) if fmt == "auto" else fmt
    reader = FORMATS.get(name)
    fixed = getattr(reader, "kind", None)
    if kind is not None and fixed is not None and kind != fixed:
        raise GapkitError(f"--kind {kind} does not fit {name} results, which are scored as {fixed}.")
    return reader.load(rows, path, src or Sources(), kind)


def score_file(
    path: str, fmt: str = "auto", kind: str | None = None, src: Sources | None = None, meteor: bool = False
) -> dict:
    """Flat metrics for a predictions file; VQA adds the official accuracy per answer type."""
    from . import score

    s = load_scorable(path, fmt, kind, src)
    out = score(s.kind, s.preds, s.refs, meteor)
    if s.groups:
        out["vqa_acc_official_by_answer_type"] = {
            g: score(s.kind, [s.preds[k] for k in idx], [s.refs[k] for k in idx])["vqa_acc_official"]
            for g, idx in sorted(s.groups.items())
        }
    return out
