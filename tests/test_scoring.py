"""Scoring: both VQA accuracies and the official answer normalisation, whitespace in captions,
and `gapkit score` on gapkit's own and the official COCO / VQA results formats."""

import json
import math

import numpy as np
import pytest

from gapkit.cli.main import main
from gapkit.metrics import SCORERS, caption_scores, java_available, score
from gapkit.metrics.caption import one_line, ptb_tokenize
from gapkit.metrics.vqa import close_score, normalize_answer, official_score, process_punctuation
from gapkit.metrics.vqa import vqa_accuracy as vqa_both

# ---------------------------------------------------------------------------------------------
# VQA accuracy


def leave_one_out(pred: str, answers: list[str]) -> float:
    """The official definition spelled out: for each of the 10 annotators, the 9 others; the
    prediction scores min(#equal answers / 3, 1) against them; the mean over the 10 subsets."""
    scores = []
    for i in range(len(answers)):
        others = answers[:i] + answers[i + 1 :]
        scores.append(min(1.0, sum(a == pred for a in others) / 3))
    return sum(scores) / len(scores)


@pytest.mark.parametrize(
    "matches, official, close",
    [
        (0, 0.0, 0.0),
        (1, 0.9 * (1 / 3), 1 / 3),  # the 9 subsets without the match hold it once
        (
            2,
            (2 * (1 / 3) + 8 * (2 / 3)) / 10,
            2 / 3,
        ),  # = 0.6: the subsets without one match hold 1, the rest 2
        (3, (3 * (2 / 3) + 7 * 1.0) / 10, 1.0),  # = 0.9
        (4, 1.0, 1.0),
        (10, 1.0, 1.0),
    ],
)
def test_official_and_close_accuracy_hand_computed(matches, official, close):
    answers = ["2"] * matches + ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"][: 10 - matches]
    assert official_score("2", answers) == pytest.approx(official)
    assert close_score("2", answers) == pytest.approx(close)
    assert official_score("2", answers) == pytest.approx(leave_one_out("2", answers))


def test_two_of_ten_reads_0_6_official_and_0_667_close():
    answers = ["red", "red"] + ["blue"] * 8
    out = vqa_both(["red", "blue"], [answers, answers])
    assert out["vqa_acc_official"] == pytest.approx(100 * (0.6 + 1.0) / 2)
    assert out["vqa_acc_close"] == pytest.approx(100 * (2 / 3 + 1.0) / 2)
    assert out["n"] == 2


def test_official_accuracy_matches_the_definition_on_random_answer_sets():
    rng = np.random.default_rng(0)
    words = ["yes", "no", "2", "red", "blue"]
    for _ in range(200):
        answers = list(rng.choice(words, 10))
        pred = str(rng.choice(words))
        assert official_score(pred, answers) == pytest.approx(leave_one_out(pred, answers))
        assert official_score(pred, answers) <= close_score(pred, answers) + 1e-12


def test_official_accuracy_normalises_the_prediction_not_uniform_answers():
    # The official code gives the human answers only the punctuation step, and only when they
    # differ: "two" as a prediction becomes "2"; answers already read "2" in the official files.
    assert official_score("two", ["2"] * 10) == 1.0
    assert official_score("two", ["two"] * 10) == 0.0 and close_score("two", ["two"] * 10) == 1.0
    # Answers that differ get the punctuation step ("t-shirt" -> "t shirt"); identical ones do not.
    assert official_score("t shirt", ["t-shirt"] * 3 + ["shirt"] * 7) == pytest.approx(0.9)
    assert official_score("t shirt", ["t-shirt"] * 10) == 0.0


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("whos", "who's"),
        ("wheres", "where's"),
        ("theyve", "they've"),
        ("dont", "don't"),
        ("whats", "what's"),
        ("youll", "you'll"),
        ("oclock", "o'clock"),
        ("yall", "y'all"),
        ("maam", "ma'am"),
        ("hows", "how's"),
        ("Im", "im"),  # the official table's capitalised keys never match: words are lower-cased first
        ("two", "2"),
        ("None", "0"),
        ("ten", "10"),
        ("eleven", "eleven"),
        ("a dog", "dog"),
        ("The red one", "red 1"),
        ("an apple", "apple"),
        ("yes.", "yes"),
        ("3.5", "3.5"),
        ("mr. smith", "mr smith"),  # a period stays only before a digit
        ("1,000", "1000"),
        ("1,000 (about)", "1000 about"),  # a comma in a number: marks deleted, not spaced
        ("black-and-white", "black and white"),
        ("red , blue", "red blue"),
        ("hot dog?", "hot dog"),
        ("who's", "who's"),
        ("  tab\tand\nline ", "tab and line"),
    ],
)
def test_answer_normalisation(raw, normal):
    assert normalize_answer(raw) == normal


def test_punctuation_rules():
    assert process_punctuation("a-b") == "a b"  # not next to a space: becomes a space
    assert process_punctuation("a -b") == "a b"  # next to a space: deleted
    assert process_punctuation("1,000-2") == "10002"  # a comma inside a number deletes every mark
    assert process_punctuation("." * 40) == "." * 8  # the official call strips at most 32 periods


def test_vqa_scorer_through_the_registry():
    out = score("vqa", ["two"], [["2"] * 2 + ["3"] * 8])
    assert out == {"vqa_acc_official": pytest.approx(60.0), "vqa_acc_close": pytest.approx(200 / 3), "n": 1}
    assert set(SCORERS.names()) == {"caption", "vqa", "ve"}


# ---------------------------------------------------------------------------------------------
# Whitespace in captions

BREAKS = ["\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\r\n"]
PREDS = {
    "1": "a red circle on the left",
    "2": "two blue squares",
    "3": "a big green triangle",
    "4": "a small star",
}
REFS = {
    "1": ["a red circle on the left", "a red circle at left"],
    "2": ["two blue squares", "a pair of blue squares"],
    "3": ["a big green triangle", "a large green triangle"],
    "4": ["a small star", "a little star"],
}


@pytest.mark.parametrize("ch", BREAKS)
def test_one_line_removes_every_line_break(ch):
    assert one_line(f" a{ch}b  c{ch}") == "a b c"


@pytest.mark.skipif(not java_available(), reason="the PTB tokenizer needs Java")
def test_ptb_tokenizer_keeps_one_line_per_text():
    texts = [f"a dog{ch}runs" for ch in BREAKS] + ["last one"]
    assert ptb_tokenize(texts) == ["a dog runs"] * len(BREAKS) + ["last one"]


@pytest.fixture(scope="module")
def clean_scores():
    return caption_scores(PREDS, REFS, tokenizer="ptb" if java_available() else "regex")


@pytest.mark.skipif(not java_available(), reason="the PTB tokenizer needs Java")
@pytest.mark.parametrize("ch", BREAKS)
def test_line_breaks_inside_captions_do_not_shift_scores(clean_scores, ch):
    """A break inside the first prediction and inside a reference used to shift every later
    caption in the PTB tokenizer's line-based protocol (BLEU-4 61.56 -> 0.003 for one CRLF)."""
    preds = {**PREDS, "1": f"a red circle{ch}on the left"}
    refs = {**REFS, "2": [f"two blue{ch}squares", "a pair of blue squares"]}
    dirty = caption_scores(preds, refs, tokenizer="ptb")
    for key in ("bleu1", "bleu4", "rouge_l", "cider"):
        assert dirty[key] == pytest.approx(clean_scores[key]), key
    assert clean_scores["bleu4"] > 50


# ---------------------------------------------------------------------------------------------
# gapkit score: formats


@pytest.fixture
def coco(tmp_path):
    anns = {
        "images": [{"id": i} for i in (1, 2, 3)],
        "annotations": [
            {"id": k, "image_id": i, "caption": c}
            for k, (i, c) in enumerate(
                [
                    (1, "A red circle on the left."),
                    (1, "a red circle at left"),
                    (2, "Two blue squares"),
                    (2, "a pair of blue squares"),
                    (3, "a green triangle"),
                    (3, "a large green triangle"),
                ]
            )
        ],
    }
    results = [
        {"image_id": 1, "caption": "a red circle on the left"},
        {"image_id": 2, "caption": "two squares"},
    ]
    (tmp_path / "captions.json").write_text(json.dumps(anns))
    (tmp_path / "results.json").write_text(json.dumps(results))
    return tmp_path


def _score(capsys, *argv) -> dict:
    assert main(["score", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_score_coco_captioning_results(coco, capsys):
    out = _score(capsys, str(coco / "results.json"), "--refs", str(coco / "captions.json"))
    assert out["n"] == 2 and out["cider"] > 0
    own = [
        {
            "prediction": "a red circle on the left",
            "refs": ["A red circle on the left.", "a red circle at left"],
        },
        {"prediction": "two squares", "refs": ["Two blue squares", "a pair of blue squares"]},
    ]
    (coco / "own.json").write_text(json.dumps(own))
    same = _score(capsys, str(coco / "own.json"), "--kind", "caption")
    assert {k: v for k, v in out.items() if isinstance(v, float)} == {
        k: v for k, v in same.items() if isinstance(v, float)
    }


@pytest.fixture
def vqa(tmp_path):
    def ann(qid, answers, kind):
        return {
            "question_id": qid,
            "image_id": 7,
            "answer_type": kind,
            "question_type": "what",
            "multiple_choice_answer": answers[0],
            "answers": [{"answer": a, "answer_id": k + 1} for k, a in enumerate(answers)],
        }

    anns = {
        "annotations": [
            ann(1, ["2"] * 2 + ["3"] * 8, "number"),
            ann(2, ["yes"] * 10, "yes/no"),
            ann(3, ["red"] * 3 + ["blue"] * 7, "other"),
        ]
    }
    questions = {"questions": [{"question_id": q, "image_id": 7, "question": "?"} for q in (1, 2, 3)]}
    results = [
        {"question_id": 1, "answer": "two"},
        {"question_id": 2, "answer": "Yes."},
        {"question_id": 3, "answer": "red"},
    ]
    for name, obj in (("anns", anns), ("questions", questions), ("results", results)):
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    return tmp_path


def test_score_vqa_results(vqa, capsys):
    out = _score(
        capsys,
        str(vqa / "results.json"),
        "--annotations",
        str(vqa / "anns.json"),
        "--questions",
        str(vqa / "questions.json"),
    )
    assert out["n"] == 3
    assert out["vqa_acc_official"] == pytest.approx(100 * (0.6 + 1.0 + 0.9) / 3)
    assert out["vqa_acc_close"] == pytest.approx(100 * (2 / 3 + 1.0 + 1.0) / 3)
    assert out["vqa_acc_official_by_answer_type"] == pytest.approx(
        {"number": 60.0, "yes/no": 100.0, "other": 90.0}
    )


def test_score_gapkit_format_reports_both_vqa_metrics(tmp_path, capsys):
    rows = [{"image_id": "7", "extra": "how many?", "prediction": "two", "refs": ["2"] * 2 + ["3"] * 8}]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    out = _score(capsys, str(tmp_path / "p.json"), "--kind", "vqa")
    assert out["vqa_acc_official"] == pytest.approx(60.0) and out["vqa_acc_close"] == pytest.approx(200 / 3)
    assert not any(math.isnan(v) for v in out.values() if isinstance(v, float))


@pytest.mark.parametrize(
    "files, argv, message",
    [
        ({"p.json": [{"image_id": 1, "caption": "x"}]}, [], "COCO captioning results format: pass --refs"),
        ({"p.json": [{"question_id": 1, "answer": "x"}]}, [], "VQA results format: pass --annotations"),
        ({"p.json": [{"prediction": "x", "refs": ["x"]}]}, [], "gapkit's predictions format needs --kind"),
        (
            {"p.json": [{"answer": "x"}]},
            [],
            "Cannot tell the format of .*p.json: its first item has fields \\['answer'\\]",
        ),
        (
            {"p.json": [{"answer": "x"}]},
            ["--format", "coco-caption"],
            "Unknown prediction format 'coco-caption'. Did you mean: coco-captions",
        ),
        ({"p.json": {"a": 1}}, [], "must be a JSON list of objects"),
        ({"p.json": []}, [], "holds no predictions"),
        (
            {"p.json": [{"image_id": 1, "caption": "x"}], "r.json": {"images": []}},
            ["--refs", "r.json"],
            "is not a COCO captions annotation file",
        ),
        (
            {
                "p.json": [{"image_id": 9, "caption": "x"}],
                "r.json": {"annotations": [{"image_id": 1, "caption": "y"}]},
            },
            ["--refs", "r.json"],
            "1 image ids are not in .*r.json, e.g. \\[9\\]",
        ),
        (
            {
                "p.json": [{"image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "z"}],
                "r.json": {"annotations": [{"image_id": 1, "caption": "y"}]},
            },
            ["--refs", "r.json"],
            "1 image ids appear more than once, e.g. 1",
        ),
        (
            {
                "p.json": [{"image_id": 1, "caption": "x"}],
                "r.json": {"annotations": [{"image_id": 1, "caption": "y"}]},
            },
            ["--refs", "r.json", "--kind", "vqa"],
            "--kind vqa does not fit coco-captions results",
        ),
        (
            {
                "p.json": [{"question_id": 5, "answer": "x"}],
                "a.json": {"annotations": [{"question_id": 1, "answers": [{"answer": "x"}]}]},
            },
            ["--annotations", "a.json"],
            "1 question ids are not in .*a.json",
        ),
        (
            {"p.json": [{"question_id": 1, "answer": "x"}], "a.json": {"annotations": [{"question_id": 1}]}},
            ["--annotations", "a.json"],
            "annotations\\[0\\] needs question_id and answers",
        ),
        (
            {
                "p.json": [{"question_id": 1, "answer": "x"}],
                "a.json": {"annotations": [{"question_id": 1, "answers": [{"answer": "x"}]}]},
                "q.json": {"questions": [{"question_id": 2}]},
            },
            ["--annotations", "a.json", "--questions", "q.json"],
            "do not belong together: 1 annotated questions are not in the questions file",
        ),
        (
            {"p.json": [{"id": 3, "prediction": "x"}], "r.json": [{"id": 1, "refs": ["x"]}]},
            ["--refs", "r.json", "--kind", "ve"],
            "1 ids are not in .*r.json",
        ),
        ({"p.json": [{"prediction": "x"}]}, ["--kind", "ve"], "item 0 has no refs \\(pass --refs\\)"),
        (
            {"p.json": [{"prediction": "x"}], "r.json": [{"id": 1, "refs": ["x"]}]},
            ["--refs", "r.json", "--kind", "ve"],
            "item 0 has no field 'id'",
        ),
        (
            {"p.json": [{"id": 1, "prediction": "x"}], "r.json": [{"id": 1}]},
            ["--refs", "r.json", "--kind", "ve"],
            "must be a JSON list of objects with 'id' and 'refs'",
        ),
        (
            {
                "p.json": [{"image_id": 1, "caption": "x"}, {"image_id": 2}],
                "r.json": {"annotations": [{"image_id": 1, "caption": "y"}]},
            },
            ["--refs", "r.json"],
            "item 1 has no field 'caption'",
        ),
        (
            {"p.json": [{"question_id": 1, "answer": "x"}], "a.json": [1]},
            ["--annotations", "a.json"],
            "is not a VQA annotations file",
        ),
        (
            {
                "p.json": [{"question_id": 1, "answer": "x"}],
                "a.json": {"annotations": [{"question_id": 1, "answers": [{"answer": "x"}]}]},
                "q.json": {"qs": []},
            },
            ["--annotations", "a.json", "--questions", "q.json"],
            "is not a VQA questions file",
        ),
    ],
)
def test_score_errors(tmp_path, capsys, monkeypatch, files, argv, message):
    import re

    monkeypatch.chdir(tmp_path)
    for name, obj in files.items():
        (tmp_path / name).write_text(json.dumps(obj))
    assert main(["score", "p.json", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err


def test_formats_and_scorers_are_listed(capsys):
    assert main(["ls", "formats"]) == 0 and main(["ls", "scorers"]) == 0
    out = capsys.readouterr().out
    for name in ("coco-captions", "gapkit", "vqa", "caption", "ve"):
        assert f"  {name} " in out
