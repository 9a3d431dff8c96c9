"""VQA accuracy: min(#human answers equal to the prediction / 3, 1), after the standard VQA
answer normalisation (punctuation, number words to digits, articles dropped, contractions),
applied to both prediction and answers. This is the simplified form CLOSE reports, not the
official average over 10 leave-one-out subsets."""

from __future__ import annotations

import re

import numpy as np

_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
            "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't", "hasnt": "hasn't",
    "havent": "haven't", "hes": "he's", "im": "i'm", "isnt": "isn't", "itd": "it'd", "itll": "it'll",
    "ive": "i've", "shouldnt": "shouldn't", "thats": "that's", "theres": "there's", "theyre": "they're",
    "wasnt": "wasn't", "werent": "weren't", "whats": "what's", "wont": "won't", "wouldnt": "wouldn't",
    "youre": "you're", "youve": "you've",
}
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
          "?", "!"]
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_NUM = re.compile(r"(\d)(,)(\d)")


def _punctuation(text: str) -> str:
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_NUM.search(text):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD.sub("", out)


def normalize_answer(answer: str) -> str:
    text = _punctuation(answer.replace("\n", " ").replace("\t", " ").strip().lower())
    words = []
    for w in text.split():
        w = _NUMBERS.get(w, w)
        if w in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(w, w))
    return " ".join(words)


def vqa_scores(pred: str, answers: list[str]) -> float:
    p = normalize_answer(pred)
    return min(sum(normalize_answer(a) == p for a in answers) / 3.0, 1.0)


def vqa_accuracy(preds: list[str], answers: list[list[str]]) -> dict:
    per = np.array([vqa_scores(p, a) for p, a in zip(preds, answers)])
    return {"vqa_accuracy": 100 * float(per.mean()) if len(per) else float("nan"), "n": len(per),
            "per_item": per}
