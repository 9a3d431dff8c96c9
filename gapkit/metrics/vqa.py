"""VQA accuracy, two ways, with the VQA v2 answer normalisation.

- ``vqa_acc_official``: the official VQA v2 metric (GT-Vision-Lab/VQA, ``vqaEval.py``). For each of
  the n human answers, the prediction scores min(#matches among the *other* n - 1 answers / 3, 1);
  the question's accuracy is the mean over those n leave-one-out subsets. The prediction gets the
  full normalisation (punctuation, then lower case, number words, articles, contractions); the
  human answers get only the punctuation step, and only when they are not all identical, exactly
  as the official code does (it takes the answers in the annotation files as given otherwise).
- ``vqa_acc_close``: the simplified min(#matches among all n answers / 3, 1) that CLOSE's
  evaluator reports, with the full normalisation applied to prediction and answers alike. It
  reads higher: with 2 of 10 matching answers, 0.667 against the official 0.6.
"""

from __future__ import annotations

import re

import numpy as np

NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = {"a", "an", "the"}
# The official contractions table, entry for entry. Its capitalised keys ("Im", "Ive", "Id've",
# "I'dve") never match, because words are lower-cased before the lookup; "somebody'd" maps the
# other way round. Both are the official behaviour, kept so scores match the official code.
CONTRACTIONS = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}
PUNCT = [
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
# A period is dropped unless a digit follows ("3.5" keeps it, "yes." loses it). The official
# pattern also has a "(?!<=\d)" meant as a look-behind; as written it never matches a period, so
# only the look-ahead acts. The official call passes re.UNICODE (32) where count goes: at most 32.
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_PERIOD_COUNT = 32
_COMMA_NUMBER = re.compile(r"(\d)(,)(\d)")  # "1,000": then every punctuation mark is deleted, not spaced


def process_punctuation(text: str) -> str:
    """The official punctuation step: a mark next to a space (or any mark, in a text with a comma
    inside a number) is deleted, any other mark becomes a space; then the period rule."""
    out = text
    delete_all = _COMMA_NUMBER.search(text) is not None
    for p in PUNCT:
        if delete_all or p + " " in text or " " + p in text:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD.sub("", out, count=_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Lower case; number words to digits; articles dropped; contractions given their apostrophe."""
    words = [NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalize_answer(answer: str) -> str:
    """The full normalisation the official code gives a prediction (CLOSE: prediction and answers)."""
    return process_digit_article(process_punctuation(answer.replace("\n", " ").replace("\t", " ").strip()))


def official_score(pred: str, answers: list[str]) -> float:
    """Mean over the n leave-one-out subsets of min(#answers in the subset equal to pred / 3, 1)."""
    if not answers:
        raise ValueError("a VQA question needs at least one human answer")
    p = normalize_answer(pred)
    gts = [process_punctuation(a) for a in answers] if len(set(answers)) > 1 else list(answers)
    matches = sum(g == p for g in gts)
    # Leaving out a matching answer leaves matches - 1 in the subset, leaving out another leaves matches.
    per_subset = [min(1.0, (matches - (g == p)) / 3.0) for g in gts]
    return float(np.mean(per_subset))


def close_score(pred: str, answers: list[str]) -> float:
    """CLOSE's simplified accuracy: min(#answers equal to pred / 3, 1), all normalised."""
    p = normalize_answer(pred)
    return min(sum(normalize_answer(a) == p for a in answers) / 3.0, 1.0)


def vqa_accuracy(preds: list[str], answers: list[list[str]]) -> dict:
    """Both accuracies x100 over the questions: ``vqa_acc_official`` and ``vqa_acc_close``."""
    official = np.array([official_score(p, a) for p, a in zip(preds, answers)])
    close = np.array([close_score(p, a) for p, a in zip(preds, answers)])
    mean = lambda per: 100 * float(per.mean()) if len(per) else float("nan")
    return {
        "vqa_acc_official": mean(official),
        "vqa_acc_close": mean(close),
        "n": len(official),
        "per_item_vqa_acc_official": 100 * official,
        "per_item_vqa_acc_close": 100 * close,
    }
