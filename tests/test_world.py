import collections
import json

import numpy as np
import pytest

from gapkit.errors import GapkitError
from gapkit.worlds import check_world_manifest
from gapkit.worlds.shapes import spec
from gapkit.worlds.shapes.captions import STYLES, reference_captions
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.render import render
from gapkit.worlds.shapes.scene import ATTRIBUTES, counterfactual, sample_scene, split_of
from gapkit.worlds.shapes.tasks import ve_items
from gapkit.worlds.shapes.vocab import WordTokenizer, lexicon, tokenize
from gapkit.worlds.shapes.world import ShapesWorld

SMALL = {"train": 120, "restval": 20, "val": 20, "test": 40}


@pytest.fixture(scope="module")
def world():
    return ShapesWorld(seed=0, sizes=SMALL, n_minimal_pairs=5).generate()


def test_deterministic_by_seed(world):
    again = ShapesWorld(seed=0, sizes=SMALL, n_minimal_pairs=5).generate()
    other = ShapesWorld(seed=1, sizes=SMALL, n_minimal_pairs=5).generate()
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
        for b in splits[i + 1:]:
            assert not keys[a] & keys[b]
    assert len(keys["train"]) == SMALL["train"]  # unique within a split too


def test_scene_contents(world):
    for r in world.records:
        assert 1 <= r.scene.count <= 3
        assert len({o.position for o in r.scene.objects}) == r.scene.count
        assert len(r.captions) >= 5 and len(set(r.captions)) >= 4
        assert set(r.styled) == set(STYLES)
        for q in r.vqa:
            assert len(q.answers) == 10
    img = render(world.records[0].scene)
    assert img.size == (spec.IMAGE_SIZE, spec.IMAGE_SIZE) and img.mode == "RGB"


def test_every_caption_names_the_shape_of_each_object_it_mentions(rng):
    from gapkit.worlds.shapes.captions import SHAPE_WORDS

    for _ in range(200):
        scene = sample_scene(rng)
        for cap in reference_captions(scene, rng, 6):
            words = set(tokenize(cap))
            assert any(w in words for o in scene.objects for w in SHAPE_WORDS[o.shape])


def test_vocabulary_covers_every_generated_text(world):
    tok = WordTokenizer(lexicon())
    texts = [c for r in world.records for c in r.captions + list(r.styled.values())]
    texts += [q.question for r in world.records for q in r.vqa]
    texts += [a for r in world.records for q in r.vqa for a in q.answers]
    texts += [v.hypothesis for r in world.records for v in r.ve]
    unknown = {w for t in texts for w in tokenize(t) if w not in tok.stoi}
    assert not unknown
    ids = tok.encode(["a red circle"])
    assert ids[0, 0] == tok.stoi["<sot>"] and tok.eot_id == tok.vocab_size - 1 and ids.max() == tok.eot_id


def test_ve_labels_follow_presupposition_logic(rng):
    from gapkit.worlds.shapes.scene import Obj, Scene

    two_circles = Scene((Obj("circle", "red", "small", "top left"), Obj("circle", "blue", "small", "centre")), "grey")
    labels = {}
    for _ in range(300):
        for item in ve_items(two_circles, rng):
            labels[item.hypothesis] = item.label
    assert labels.get("the circle is red", "neutral") == "neutral"
    assert labels.get("the circle is small", "entailment") == "entailment"
    assert labels.get("the circle is green", "contradiction") == "contradiction"
    assert "neutral" in labels.values()


def test_ve_hypothesis_vocabulary_is_shared_across_labels(world):
    words = collections.defaultdict(set)
    for r in world.records:
        for v in r.ve:
            words[v.label] |= set(tokenize(v.hypothesis))
    # no word appears only in neutral hypotheses (a hypothesis-only model cannot key on it)
    assert not words["neutral"] - words["entailment"] - words["contradiction"]


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_counterfactual_changes_exactly_one_attribute(rng, attribute):
    for _ in range(30):
        a = sample_scene(rng, count=2)
        b = counterfactual(a, attribute, rng)
        assert a.background == b.background
        if attribute == "count":
            assert abs(a.count - b.count) == 1
            continue
        diffs = [(x, y) for x, y in zip(a.objects, b.objects) if x != y]
        assert len(diffs) == 1 if attribute != "position" else len(diffs) >= 1
        if attribute != "position":
            x, y = diffs[0]
            changed = [f for f in ("shape", "colour", "size") if getattr(x, f) != getattr(y, f)]
            assert changed == [attribute]


def test_export_writes_official_formats(world, tmp_path):
    out = export_world(world, tmp_path / "w")
    manifest = check_world_manifest(out)
    karpathy = json.loads((out / "dataset_coco.json").read_text())
    img0 = karpathy["images"][0]
    assert {"filepath", "filename", "imgid", "split", "sentences", "cocoid"} <= set(img0)
    assert (out / img0["filepath"] / img0["filename"]).is_file()
    ve = [json.loads(line) for line in (out / "snli_ve_dev.jsonl").read_text().splitlines()]
    assert {"Flickr30K_ID", "gold_label", "sentence1", "sentence2", "pairID"} <= set(ve[0])
    q = json.loads((out / manifest["files"]["vqa_questions_test"]).read_text())
    a = json.loads((out / manifest["files"]["vqa_annotations_test"]).read_text())
    assert {"image_id", "question", "question_id"} <= set(q["questions"][0])
    assert len(a["annotations"][0]["answers"]) == 10
    pairs = [json.loads(line) for line in (out / "minimal_pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 5 * len(ATTRIBUTES) and (out / pairs[0]["image_a"]).is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary folder left behind


def test_wrong_world_version_is_refused(world, tmp_path):
    out = export_world(world, tmp_path / "w")
    manifest = json.loads((out / "gapkit-world.json").read_text())
    manifest["version"] = "0"
    (out / "gapkit-world.json").write_text(json.dumps(manifest))
    with pytest.raises(GapkitError, match="version '0'"):
        check_world_manifest(out)
    with pytest.raises(GapkitError, match="not an exported gapkit world"):
        check_world_manifest(tmp_path)
