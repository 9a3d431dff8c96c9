"""``gapkit score``: score a predictions file against references (captioning, VQA or VE), in
gapkit's own format or the official COCO captioning / VQA results formats."""

from __future__ import annotations

import argparse
import json

EPILOG = """Formats (--format, detected from the fields when left at auto; see `gapkit ls formats`):
  gapkit         a JSON list of {id?, prediction, refs} (a run's predictions.json), or {id, prediction}
                 with --refs FILE holding {id, refs}; needs --kind
  coco-captions  COCO captioning results [{image_id, caption}] with --refs captions_val2014.json
                 (a COCO captions annotation file); scores BLEU, ROUGE-L, CIDEr-D (METEOR with --meteor)
  vqa            VQA results [{question_id, answer}] with --annotations (official VQA annotations)
                 and optionally --questions (checked against them); scores vqa_acc_official (the VQA v2
                 leave-one-out metric) and vqa_acc_close (CLOSE's min(#matches/3, 1))
Examples:
  gapkit score runs/cap/predictions.json --kind caption --meteor
  gapkit score preds.json --refs refs.json --kind vqa
  gapkit score captions_val2014_results.json --refs annotations/captions_val2014.json
  gapkit score vqa_results.json --annotations v2_mscoco_val2014_annotations.json \\
      --questions v2_OpenEnded_mscoco_val2014_questions.json"""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="score predictions against references",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("predictions")
    p.add_argument(
        "--format", default="auto", help="auto, gapkit, coco-captions or vqa (default: %(default)s)"
    )
    p.add_argument(
        "--kind",
        choices=("caption", "vqa", "ve"),
        default=None,
        help="what is scored (needed for gapkit's format; implied by the official formats)",
    )
    p.add_argument(
        "--refs",
        default=None,
        help="gapkit format: JSON list of {id, refs}; coco-captions: a COCO captions annotation file",
    )
    p.add_argument("--annotations", default=None, help="vqa: the official VQA annotations file")
    p.add_argument("--questions", default=None, help="vqa: the official VQA questions file (optional)")
    p.add_argument(
        "--meteor", action=argparse.BooleanOptionalAction, default=False, help="METEOR (needs Java)"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..metrics.formats import FORMATS, Sources, score_file

    if args.format != "auto":
        FORMATS.get(args.format)  # unknown name: did-you-mean
    metrics = score_file(
        args.predictions,
        args.format,
        args.kind,
        Sources(args.refs, args.annotations, args.questions),
        args.meteor,
    )
    print(json.dumps(metrics, indent=1))
    return 0
