import collections
import dataclasses
import errno
import json
import os

import numpy as np
import pytest

from gapkit.errors import GapkitError
from gapkit.tinyclip.tokenizer import WordTokenizer
from gapkit.worlds import check_world_manifest
from gapkit.worlds.shapes import catalog
from gapkit.worlds.shapes.captions import (
    SHAPE_WORDS,
    STYLES,
    Mention,
    coverage,
    describe,
    reference_captions,
    sample_mention,
)
from gapkit.worlds.shapes.draw import render
from gapkit.worlds.shapes.export import PENDING, export_world, pending_groups, render_pending
from gapkit.worlds.shapes.items import ve_items
from gapkit.worlds.shapes.scene import counterfactual, sample_scene, split_of
from gapkit.worlds.shapes.vocab import lexicon, tokenize
from gapkit.worlds.shapes.world import ShapesWorld, minimal_pair

SMALL = {"train": 120, "restval": 20, "val": 20, "test": 40}


@pytest.fixture(scope="module")
def world():
    return ShapesWorld(seed=0, sizes=SMALL, n_minimal_pairs=3).generate()


def test_deterministic_by_seed(world):
    again = ShapesWorld(seed=0, sizes=SMALL, n_minimal_pairs=3).generate()
    other = ShapesWorld(seed=1, sizes=SMALL, n_minimal_pairs=3).generate()
    assert [r.scene for r in world.records] == [r.scene for r in again.records]
    assert [r.captions for r in world.records] == [r.captions for r in again.records]
    assert [r.scene for r in world.records] != [r.scene for r in other.records]
    a, b = np.asarray(render(world.records[0].scene)), np.asarray(render(again.records[0].scene))
    assert (a == b).all()


def test_splits_never_share_a_scene(world):
    keys = collections.defaultdict(set)
    for r in world.records:
        keys[r.split].add(r.scene.key())
        assert split_of(r.scene.key()) == r.split
    splits = list(keys)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not keys[a] & keys[b]
    assert len(keys["train"]) == SMALL["train"]  # unique within a split too


def test_scene_contents(world):
    for r in world.records:
        assert min(catalog.COUNTS) <= r.scene.count <= max(catalog.COUNTS)
        assert len({o.position for o in r.scene.objects}) == r.scene.count
        assert len(r.captions) == 5 and len(set(r.captions)) == 5
        assert set(r.styled) == set(STYLES)
        assert len(r.vqa) == len(r.vqa_explanations) == 3
        for q in r.vqa:
            assert len(q.answers) == 10
    img = render(world.records[0].scene)
    assert img.size == (catalog.IMAGE_SIZE, catalog.IMAGE_SIZE) and img.mode == "RGB"


def test_captions_are_partial_and_name_every_object_they_mention(rng):
    """Information imbalance: a caption states about a fifth of what the image shows."""
    cov = []
    for _ in range(2000):
        scene = sample_scene(rng)
        m = sample_mention(scene, rng)
        cov.append(coverage(scene, m))
        words = set(tokenize(describe(scene, m, rng)))
        for obj, _ in m.objects:
            assert words & set(SHAPE_WORDS[obj.shape])
    assert 0.15 <= np.mean(cov) <= 0.30
    assert max(cov) < 0.6


def test_every_factor_is_mentioned_by_some_captions(rng):
    stated = collections.Counter()
    for _ in range(3000):
        m = sample_mention(sample_scene(rng), rng)
        stated.update(f for _, fs in m.objects for f in fs)
        stated.update(["shape"] if m.objects else [])
        stated.update([m.scene_factor] if m.scene_factor else [])
    assert set(catalog.FACTORS) <= set(stated)
    assert min(stated.values()) > 100


def test_vocabulary_covers_every_generated_text(world):
    tok = WordTokenizer(lexicon())
    texts = [c for r in world.records for c in r.captions + list(r.styled.values()) + r.vqa_explanations]
    texts += [q.question for r in world.records for q in r.vqa]
    texts += [a for r in world.records for q in r.vqa for a in q.answers]
    texts += [v.hypothesis for r in world.records for v in r.ve]
    texts += [p.caption_a + " " + p.caption_b for p in world.minimal_pairs]
    unknown = {w for t in texts for w in tokenize(t) if w not in tok.stoi}
    assert not unknown
    ids = tok.encode(["a red circle"])
    assert ids[0, 0] == tok.stoi["<sot>"] and tok.eot_id == tok.vocab_size - 1 and ids.max() == tok.eot_id


def test_ve_labels_are_relative_to_the_premise_caption(rng):
    from gapkit.worlds.shapes.scene import Obj, Scene

    red = Obj("circle", "red", "small", "solid", "top left")
    blue = Obj("square", "blue", "large", "hollow", "centre")
    scene = Scene((red, blue), "grey", lighting="left")
    premise = Mention(((red, ("colour",)),), "lighting")  # "a red circle lit from the left"
    labels = collections.defaultdict(set)
    for _ in range(300):
        for item in ve_items(scene, premise, rng):
            labels[item.hypothesis].add(item.label)
    assert labels["the circle is red"] == {"entailment"}
    assert labels["the light comes from the left"] == {"entailment"}
    assert labels["the circle is blue"] == {"contradiction"}
    assert labels["the light comes from the top"] == {"contradiction"}
    # not stated by the premise: neutral, whether the image makes it true (small) or false (big)
    assert labels["the circle is small"] == {"neutral"} and labels["the circle is big"] == {"neutral"}
    assert labels["the background is grey"] == {"neutral"}


def test_ve_hypothesis_alone_does_not_give_the_label(rng):
    """A bag-of-words classifier on the hypothesis alone stays near chance (SNLI's known
    artifact: label-specific wording)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    items = []
    for _ in range(3000):
        scene = sample_scene(rng)
        items += ve_items(scene, sample_mention(scene, rng), rng)
    texts, labels = [i.hypothesis for i in items], [i.label for i in items]
    bow = CountVectorizer(ngram_range=(1, 2)).fit_transform(texts)
    n = len(items) * 2 // 3
    acc = LogisticRegression(max_iter=2000).fit(bow[:n], labels[:n]).score(bow[n:], labels[n:])
    majority = max(collections.Counter(labels[n:]).values()) / (len(items) - n)
    assert acc < majority + 0.05


def _factor_values(scene):
    objs = {
        o.position: {f: o.factor(f) for f in catalog.OBJECT_FACTORS if f != "position"} for o in scene.objects
    }
    return objs, {f: getattr(scene, f) for f in catalog.SCENE_FACTORS}


@pytest.mark.parametrize("factor", catalog.FACTORS)
def test_counterfactual_changes_exactly_one_factor(rng, factor):
    for _ in range(30):
        a = sample_scene(rng, count=3)
        b = counterfactual(a, factor, rng)
        (oa, sa), (ob, sb) = _factor_values(a), _factor_values(b)
        if factor == "count":
            assert abs(a.count - b.count) == 1 and sa == sb
        elif factor in catalog.SCENE_FACTORS:
            assert oa == ob and [f for f in sa if sa[f] != sb[f]] == [factor]
        elif factor == "position":
            assert sa == sb and len(set(oa) ^ set(ob)) == 2
            assert sorted(map(str, oa.values())) == sorted(map(str, ob.values()))
        else:
            assert sa == sb and set(oa) == set(ob)
            changed = [(p, f) for p in oa for f in oa[p] if oa[p][f] != ob[p][f]]
            assert len(changed) == 1 and changed[0][1] == factor
        assert not (np.asarray(render(a)) == np.asarray(render(b))).all()  # the image shows it


@pytest.mark.parametrize("factor", catalog.FACTORS)
def test_minimal_pair_captions_differ_only_in_the_changed_factor(rng, factor):
    for k in range(20):
        a = sample_scene(rng, count=3)
        p = minimal_pair(a, counterfactual(a, factor, rng), factor, seed=k)
        assert p.caption_a != p.caption_b
        wa, wb = tokenize(p.caption_a), tokenize(p.caption_b)
        head = next(i for i, (x, y) in enumerate(zip([*wa, None], [*wb, None])) if x != y)
        tail = next(i for i, (x, y) in enumerate(zip([*wa[::-1], None], [*wb[::-1], None])) if x != y)
        # one differing span, no longer than a phrase ("with stripes behind")
        assert max(len(wa), len(wb)) - head - tail <= 6, (p.caption_a, p.caption_b)


def test_reference_captions_come_with_what_they_state(rng):
    scene = sample_scene(rng)
    for m, text in reference_captions(scene, rng):
        assert all(o in scene.objects for o, _ in m.objects)
        assert text


def test_export_writes_official_formats(world, tmp_path):
    out = export_world(world, tmp_path / "w")
    manifest = check_world_manifest(out)
    karpathy = json.loads((out / "dataset_coco.json").read_text())
    img0 = karpathy["images"][0]
    assert {"filepath", "filename", "imgid", "split", "sentences", "cocoid"} <= set(img0)
    assert (out / img0["filepath"] / img0["filename"]).is_file()
    ve = [json.loads(line) for line in (out / "snli_ve_dev.jsonl").read_text().splitlines()]
    assert {"Flickr30K_ID", "gold_label", "sentence1", "sentence2", "pairID"} <= set(ve[0])
    first = {r.image_id: r.captions[0] for r in world.records}
    assert all(row["sentence1"] == first[int(row["Flickr30K_ID"])] for row in ve)  # the premise caption
    q = json.loads((out / manifest["files"]["vqa_questions_test"]).read_text())
    a = json.loads((out / manifest["files"]["vqa_annotations_test"]).read_text())
    assert {"image_id", "question", "question_id"} <= set(q["questions"][0])
    assert len(a["annotations"][0]["answers"]) == 10
    vqa_e = json.loads((out / manifest["files"]["vqa_e_test"]).read_text())
    assert vqa_e[0]["explanation"][0] in {e for r in world.records for e in r.vqa_explanations}
    pairs = [json.loads(line) for line in (out / "minimal_pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 3 * len(catalog.FACTORS) and (out / pairs[0]["image_a"]).is_file()
    assert {p["attribute"] for p in pairs} == set(catalog.FACTORS)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary folder left behind


def test_images_rendered_later_equal_images_rendered_at_export(world, tmp_path):
    """A world exported with only its test split drawn lists the rest as pending; drawing a group
    later writes byte-identical files, only that group's, and the list shrinks until it is gone."""
    eager = export_world(world, tmp_path / "eager")
    lazy = export_world(world, tmp_path / "lazy", render_now=("test",))
    files = sorted(p.relative_to(eager) for p in eager.rglob("*.png"))
    drawn = lambda: sorted(p.relative_to(lazy) for p in lazy.rglob("*.png"))  # noqa: E731
    n_test = len(world.split("test"))
    assert len(drawn()) == n_test and set(pending_groups(lazy)) == {"train", "restval", "val", "pairs"}
    assert render_pending(lazy, ("pairs",)) == ["pairs"] and render_pending(lazy, ("pairs",)) == []
    assert len(drawn()) == n_test + 2 * len(world.minimal_pairs)
    assert render_pending(lazy, ("train", "restval")) == ["train", "restval"]  # a "train+restval" reader
    assert render_pending(lazy) == ["val"] and pending_groups(lazy) == []
    assert drawn() == files
    assert all((lazy / f).read_bytes() == (eager / f).read_bytes() for f in files)
    assert not (lazy / PENDING).exists() and not list(lazy.rglob("*.tmp"))


def test_wrong_world_version_is_refused(world, tmp_path):
    out = export_world(world, tmp_path / "w")
    manifest = json.loads((out / "gapkit-world.json").read_text())
    manifest["version"] = "0"
    (out / "gapkit-world.json").write_text(json.dumps(manifest))
    with pytest.raises(GapkitError, match="version '0'"):
        check_world_manifest(out)
    with pytest.raises(GapkitError, match="not an exported gapkit world"):
        check_world_manifest(tmp_path)


def test_scene_key_ignores_nuisance_and_covers_every_factor(rng):
    a = sample_scene(rng)
    jittered = dataclasses.replace(a, bg_jitter=(1, 2, 3), nuisance=a.nuisance + 1)
    assert jittered.key() == a.key()
    for factor in catalog.FACTORS:
        assert counterfactual(a, factor, rng).key() != a.key()


@pytest.mark.parametrize("probs", [(0.55, 0.45), (0.15, 0.35, 0.3, 0.2), (0.35, 0.4, 0.25), (1.0,)])
def test_weighted_draws_are_numpys_choice_exactly(probs):
    """The world's fast weighted draw must give numpy's index and leave the generator in numpy's
    state, or every world (and every result made from one) would change."""
    from gapkit.worlds.shapes.scene import cdf, weighted_index

    a, b, c = np.random.default_rng(3), np.random.default_rng(3), cdf(probs)
    assert [int(a.choice(len(probs), p=probs)) for _ in range(5000)] == [
        weighted_index(b, c) for _ in range(5000)
    ]
    assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_pending_images_on_a_read_only_cache_are_one_line(world, tmp_path, monkeypatch, code):
    """A world folder that still has images to draw but sits on a read-only file system (a shared
    cluster cache): one line naming the groups, not the OSError of the first image written."""
    from gapkit.worlds.shapes import export

    lazy = export_world(world, tmp_path / "lazy", render_now=("test",))

    def refuse(jobs, atomic):
        raise OSError(code, os.strerror(code), str(jobs[0][1]))

    monkeypatch.setattr(export, "render_files", refuse)
    with pytest.raises(GapkitError, match=r"still has images to draw \(train.*cannot be written"):
        render_pending(lazy, ("train",))
    assert "train" in pending_groups(lazy)  # nothing half-done: the group is still listed
