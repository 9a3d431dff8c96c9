"""CLOSE tasks behind one registry: each turns official-format files into ``Example``s.

Training examples carry the *texts* whose CLIP embeddings stand in for the image; evaluation
examples carry the image (and, for text-to-text checks and gap logging, the texts too)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .._registry import Registry
from ..data._json import read_json, read_jsonl, require, require_str
from ..errors import GapkitError
from .data import DataSource

TASKS: Registry = Registry("task", ls_hint="tasks")
# Wherever VQA appears both accuracies are shown: the official one and CLOSE's simplified one.
VQA_COLUMNS = (("vqa_acc_official", "official"), ("vqa_acc_close", "CLOSE min(n/3,1)"))


@dataclass
class Example:
    input_texts: list[str]  # texts whose (averaged) CLIP embedding is the input when training on text
    image_id: str  # the image that replaces them at test time
    image_path: Path
    extra: str | None  # question / hypothesis, fed to T5 as ordinary tokens
    targets: list[str]  # training targets (each a separate decoder sequence)
    refs: list[str] = field(default_factory=list)  # evaluation references


def vqa_targets(answers: list[str]) -> list[str]:
    """CLOSE's rule: the most common answer plus every answer whose count equals the top count
    or is at least 3."""
    counts = Counter(a.lower() for a in answers)
    top = max(counts.values())
    return sorted(a for a, c in counts.items() if c == top or c >= 3)


class Task:
    name = ""
    scorer = ""  # metric family in gapkit.metrics.SCORERS
    metric = ""  # headline metric (a key the scorer returns)
    max_len = 32  # decode length (CLOSE: captions 32, VQA 16, VE 8)
    close_batch_size = 128  # CLOSE's training batch (close/experiments/train.py: 128, multi-caption 32)
    # The task whose training examples an images model (train_on: image) uses, when not this one:
    # the images model of multi-caption is the single-caption one (CLOSE Table 1 gives one number
    # for both columns).
    image_task: str | None = None
    # CLOSE's tuned per-dimension noise w for the task (close/experiments/train.py); None: the
    # paper's fixed w = 0.08 (config.CLOSE_FIXED_NOISE).
    tuned_noise: float | None = None
    # The task's columns in ablation tables, (metric key, label); the first is its headline.
    columns: tuple[tuple[str, str], ...] = ()
    OPTIONS: dict[str, tuple[type, float | None]] = {}  # what task_options may set: name -> (type, minimum)

    def examples(self, src: DataSource, split: str, train: bool) -> list[Example]:
        raise NotImplementedError


def _karpathy_images(src: DataSource, split: str):
    """(image id, image path, lower-cased captions) of each captioned image of ``split``."""
    from ..data.coco import karpathy_images

    for image_id, filepath, filename, caps in karpathy_images(src.file("karpathy"), [split]):
        if caps:  # an image without captions has nothing to train on or score against
            yield (
                image_id,
                src.image_path("karpathy", filepath=filepath, filename=filename),
                [c.lower() for c in caps],
            )


def _coco_captions_by_image(src: DataSource, split: str) -> dict[str, list[str]]:
    """image id -> its captions (lower-cased, file order) from a COCO captions json."""
    path = src.file("coco_captions", split)
    out: dict[str, list[str]] = {}
    for k, ann in enumerate(require(read_json(path, "COCO captions"), "annotations", "the top level", path)):
        image_id = str(require(ann, "image_id", f"annotations[{k}]", path))
        out.setdefault(image_id, []).append(
            require_str(ann, "caption", f"annotations[{k}]", path).strip().lower()
        )
    return out


class _Captioning(Task):
    """Captioning from the Karpathy split: training pairs each caption with ``train_targets``;
    evaluation feeds each image (or its first caption) and scores against all its captions."""

    scorer, metric, max_len = "caption", "cider", 32

    @staticmethod
    def train_targets(caps: list[str], i: int) -> list[str]:
        raise NotImplementedError

    def examples(self, src, split, train):
        out = []
        for image_id, path, caps in _karpathy_images(src, split):
            if train:
                out += [
                    Example([c], image_id, path, None, self.train_targets(caps, i), caps)
                    for i, c in enumerate(caps)
                ]
            else:
                out.append(Example([caps[0]], image_id, path, None, caps, caps))
        return out


@TASKS.register("caption-single")
class CaptionSingle(_Captioning):
    """Captioning, single-caption mode: each caption is trained to reproduce itself."""

    name = "caption-single"
    tuned_noise, columns = 0.12, (("cider", "Cap. CIDEr"),)

    @staticmethod
    def train_targets(caps, i):
        return [caps[i]]


@TASKS.register("caption-multi")
class CaptionMulti(_Captioning):
    """Captioning, multiple-caption mode: caption i is trained to produce the image's other captions."""

    name = "caption-multi"
    tuned_noise, columns = 0.04, (("cider", "Cap.(m) CIDEr"),)
    close_batch_size = 32  # "about 4 targets per input caption"
    image_task = "caption-single"

    @staticmethod
    def train_targets(caps, i):
        return caps[:i] + caps[i + 1 :] or [caps[i]]


@TASKS.register("caption-style")
class CaptionStyle(Task):
    """Stylistic captioning: trained only on one style's text (``style`` option), applied to images."""

    name, scorer, metric, max_len = "caption-style", "caption", "cider", 32
    tuned_noise, columns = 0.12, (("cider", "Style CIDEr"),)
    OPTIONS = {"style": (str, None)}

    def __init__(self, style: str = "first-person") -> None:
        self.style = style

    def examples(self, src, split, train):
        styles = read_json(src.file("styles"), "styles")
        if self.style not in styles:
            raise GapkitError(f"Unknown caption style {self.style!r}; known: {', '.join(sorted(styles))}.")
        by_id = {str(r["image_id"]): r["caption"].lower() for r in styles[self.style] if r["split"] == split}
        out = []
        for image_id, path, _ in _karpathy_images(src, split):
            cap = by_id.get(image_id)
            if cap is not None:
                out.append(Example([cap], image_id, path, None, [cap], [cap]))
        return out


@TASKS.register("ve")
class VisualEntailment(Task):
    """Visual entailment (SNLI-VE): premise text (train) or image (test) + hypothesis -> label."""

    name, scorer, metric, max_len = "ve", "ve", "accuracy", 8
    tuned_noise, columns = 0.08, (("accuracy", "VE acc."),)

    def examples(self, src, split, train):
        path = src.file("snli_ve", split)
        out = []
        for k, row in enumerate(read_jsonl(path, "SNLI-VE")):
            label = require(row, "gold_label", f"line {k + 1}", path)
            if label not in ("entailment", "neutral", "contradiction"):
                continue  # SNLI's "-" (no consensus) rows are not used
            image_id = str(require(row, "Flickr30K_ID", f"line {k + 1}", path))
            out.append(
                Example(
                    [require(row, "sentence1", f"line {k + 1}", path).lower()],
                    image_id,
                    src.image_path("snli_ve", id=image_id),
                    row["sentence2"].lower(),
                    [label],
                    [label],
                )
            )
        return out


@TASKS.register("vqa")
class Vqa(Task):
    """VQA v2: the averaged CLIP embedding of the image's captions (train) or the image (test) +
    question -> answer."""

    name, scorer, metric, max_len = "vqa", "vqa", "vqa_acc_official", 16
    tuned_noise, columns = 0.04, tuple((k, f"VQA acc. ({w})") for k, w in VQA_COLUMNS)

    def examples(self, src, split, train):
        q_path, a_path = src.file("vqa_questions", split), src.file("vqa_annotations", split)
        q_data = read_json(q_path, "VQA questions")
        questions = {q["question_id"]: q for q in require(q_data, "questions", "the top level", q_path)}
        captions = _coco_captions_by_image(src, split)  # CLOSE pairs VQA with the COCO 2014 captions
        subset = str(q_data.get("data_subtype", split)).replace("2014", "")
        out = []
        for k, ann in enumerate(
            require(read_json(a_path, "VQA annotations"), "annotations", "the top level", a_path)
        ):
            q = questions.get(require(ann, "question_id", f"annotations[{k}]", a_path))
            if q is None:
                raise GapkitError(f"{a_path}: annotations[{k}] has no question in {q_path}.")
            answers = [a["answer"].lower() for a in ann["answers"]]
            image_id = str(ann["image_id"])
            texts = captions.get(image_id, [])
            if train and not texts:
                continue  # no captions for this image: nothing to train on
            out.append(
                Example(
                    texts,
                    image_id,
                    src.image_path("vqa", image_id=int(ann["image_id"]), subset=subset),
                    q["question"].lower(),
                    vqa_targets(answers),
                    answers,
                )
            )
        return out


@TASKS.register("vqa-e")
class VqaE(Task):
    """VQA-E: the explanation caption (train) or image (test) + question -> answer."""

    name, scorer, metric, max_len = "vqa-e", "vqa", "vqa_acc_official", 16
    tuned_noise, columns = 0.04, tuple((k, f"VQA-E acc. ({w})") for k, w in VQA_COLUMNS)

    def examples(self, src, split, train):
        path = src.file("vqa_e", split)
        out = []
        for k, row in enumerate(read_json(path, "VQA-E")):
            answers = [a.lower() for a in require(row, "answers", f"item {k}", path)]
            expl = require(row, "explanation", f"item {k}", path)
            image_id = int(require(row, "img_id", f"item {k}", path))
            out.append(
                Example(
                    [str(expl[0]).lower()],
                    str(image_id),
                    src.image_path("vqa_e", image_id=image_id, subset=split),
                    row["question"].lower(),
                    vqa_targets(answers),
                    answers,
                )
            )
        return out


def check_task_options(name: str, options, where: str = "config") -> None:
    """Refuse unknown task_options (with a suggestion) and values of the wrong type."""
    from .._options import check_options

    check_options(options, TASKS.get(name).OPTIONS, f"{where}: task_options", f"task {name!r}")


def create_task(name: str, **options) -> Task:
    return TASKS.create(name, **options)
