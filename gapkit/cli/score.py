"""``gapkit score``: score a predictions file against references (captioning, VQA or VE)."""

from __future__ import annotations

import argparse
import json

from ..errors import GapkitError

KINDS = {"caption": "cider", "vqa": "vqa_accuracy", "ve": "accuracy"}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="score predictions against references", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="Predictions: a JSON list of {id?, prediction, refs} (a run's predictions.json),\n"
                              "or {id, prediction} with --refs FILE holding {id, refs}.\n"
                              "Examples:\n  gapkit score runs/cap/predictions.json --kind caption --meteor\n"
                              "  gapkit score preds.json --refs refs.json --kind vqa")
    p.add_argument("predictions")
    p.add_argument("--refs", default=None, help="JSON list of {id, refs} (when predictions lack refs)")
    p.add_argument("--kind", choices=sorted(KINDS), required=True)
    p.add_argument("--meteor", action=argparse.BooleanOptionalAction, default=False, help="METEOR (needs Java)")
    p.set_defaults(func=run)


def _load(path: str) -> list[dict]:
    from ..data._json import read_json

    rows = read_json(path, "predictions")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "prediction" in r for r in rows):
        raise GapkitError(f"{path} must be a JSON list of objects with a 'prediction' field.")
    return rows


def run(args) -> int:
    from ..close.evaluate import score
    from ..close.tasks import Example

    rows = _load(args.predictions)
    if args.refs:
        refs = {str(r["id"]): r["refs"] for r in _load_refs(args.refs)}
        missing = [r.get("id") for r in rows if str(r.get("id")) not in refs]
        if missing:
            raise GapkitError(f"{len(missing)} predictions have no references in {args.refs}, e.g. {missing[:3]}")
        for r in rows:
            r["refs"] = refs[str(r["id"])]
    bad = [i for i, r in enumerate(rows) if not r.get("refs")]
    if bad:
        raise GapkitError(f"{args.predictions}: item {bad[0]} has no refs (pass --refs).")
    examples = [Example([], str(r.get("id", i)), None, None, [], list(r["refs"])) for i, r in enumerate(rows)]
    print(json.dumps(score(KINDS[args.kind], examples, [r["prediction"] for r in rows], args.meteor), indent=1))
    return 0


def _load_refs(path: str) -> list[dict]:
    from ..data._json import read_json

    rows = read_json(path, "references")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r and "refs" in r for r in rows):
        raise GapkitError(f"{path} must be a JSON list of objects with 'id' and 'refs'.")
    return rows
