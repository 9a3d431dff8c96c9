"""Caption metrics with pycocoevalcap's scorers called one by one (``COCOEvalCap.evaluate``
always builds SPICE, which downloads CoreNLP and fails offline).

- Whitespace: every run of whitespace in predictions and references (``\\r``, ``\\x0b``, ``\\x0c``,
  U+0085, U+2028, U+2029 included) becomes one space first. The PTB tokenizer is fed one text per
  line and read back line by line, so one line break inside a caption would shift every later
  caption onto the wrong references.
- Tokenisation: Stanford PTBTokenizer (the jar shipped in pycocoevalcap, lower-cased, punctuation
  tokens removed) when Java is available, run from a temporary folder so a read-only install
  works; otherwise a regex tokenizer, and the result says which was used.
- CIDEr is pycocoevalcap's ``Cider`` (CIDEr-D: n = 4, sigma = 6, clipping, x10), IDF from the
  references being scored. Scores are reported x100, as papers do.
- METEOR when Java is available and asked for; SPICE is reported as unavailable, never as 0.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

# Tokens the PTB tokenizer emits for punctuation, dropped before scoring (as pycocoevalcap does).
_PTB_PUNCT = {
    "''",
    "'",
    "``",
    "`",
    "-LRB-",
    "-RRB-",
    "-LCB-",
    "-RCB-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}


@functools.lru_cache(maxsize=1)
def java_available() -> bool:
    if shutil.which("java") is None:
        return False
    try:
        return subprocess.run(["java", "-version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _jar(sub: str, name: str) -> str:
    import pycocoevalcap  # a namespace package: no __file__

    return os.path.join(list(pycocoevalcap.__path__)[0], sub, name)


def one_line(text: str) -> str:
    """Every run of whitespace (any Unicode line or paragraph separator too) -> one space, ends stripped."""
    return " ".join(text.split())


def ptb_tokenize(texts: list[str]) -> list[str]:
    """Stanford PTB tokenisation, one line per text (each text is made one line first)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sentences.txt")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(one_line(t) for t in texts))
        out = subprocess.run(
            [
                "java",
                "-cp",
                _jar("tokenizer", "stanford-corenlp-3.4.1.jar"),
                "edu.stanford.nlp.process.PTBTokenizer",
                "-encoding",
                "utf-8",
                "-preserveLines",
                "-lowerCase",
                path,
            ],
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
            timeout=600,
        ).stdout
    lines = out.split("\n")
    if len(lines) < len(texts) or any(line.strip() for line in lines[len(texts) :]):
        raise RuntimeError(f"the PTB tokenizer returned {len(lines)} lines for {len(texts)} texts")
    lines = lines[: len(texts)]
    return [" ".join(w for w in line.rstrip().split(" ") if w not in _PTB_PUNCT) for line in lines]


def simple_tokenize(texts: list[str]) -> list[str]:
    return [" ".join(re.findall(r"[a-z0-9]+", t.lower())) for t in texts]


def caption_scores(
    preds: dict[str, str], refs: dict[str, list[str]], meteor: bool = False, tokenizer: str = "auto"
) -> dict:
    """BLEU-1..4, ROUGE-L, CIDEr(-D) (and METEOR) x100 for ``preds[id]`` against ``refs[id]``, and
    ``per_item_cider``: each prediction's CIDEr-D x100, in the order of ``preds`` (their mean is
    ``cider``)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    ids = sorted(preds)
    missing = [i for i in ids if not refs.get(i)]
    if missing:
        raise ValueError(f"{len(missing)} predictions have no references, e.g. {missing[:3]}")
    use_ptb = tokenizer == "ptb" or (tokenizer == "auto" and java_available())
    tok = ptb_tokenize if use_ptb else simple_tokenize
    flat = [one_line(preds[i]) for i in ids] + [one_line(r) for i in ids for r in refs[i]]
    toks = tok(flat)
    res = {i: [toks[k]] for k, i in enumerate(ids)}
    gts, k = {}, len(ids)
    for i in ids:
        gts[i] = toks[k : k + len(refs[i])]
        k += len(refs[i])
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"bleu{n + 1}": 100 * b for n, b in enumerate(bleu)}
    out["rouge_l"] = 100 * Rouge().compute_score(gts, res)[0]
    cider, per_cider = Cider().compute_score(gts, res)  # the corpus CIDEr is the mean of the per-item scores
    out["cider"] = 100 * cider
    if meteor:
        out["meteor"] = 100 * _meteor(gts, res) if java_available() else "unavailable (Java not found)"
    out["spice"] = "unavailable (needs Stanford CoreNLP models, downloaded at run time)"
    out["tokenizer"] = "ptb" if use_ptb else "regex (Java not found)" if tokenizer == "auto" else tokenizer
    out["n"] = len(ids)
    row = {
        i: k for k, i in enumerate(ids)
    }  # the scorers work in sorted id order; report in the order of preds
    out["per_item_cider"] = 100 * np.asarray([per_cider[row[i]] for i in preds], dtype=float)
    return out


def _meteor(gts, res) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        return float(scorer.compute_score(gts, res)[0])
    finally:
        scorer.close() if hasattr(scorer, "close") else None
