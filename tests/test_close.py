import signal
import subprocess
import sys
import time

import pytest

from gapkit.cli.main import main
from gapkit.close.config import CloseConfig
from gapkit.close.run import eval_run, train_run
from gapkit.close.tasks import TASKS, vqa_targets
from gapkit.errors import GapkitError
from gapkit.records import EvalRecord, RunRecord, read_record
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld

TINY = {"train": 60, "restval": 20, "val": 12, "test": 12}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(seed=4, sizes=TINY, n_minimal_pairs=1).generate()
    return str(export_world(w, tmp_path_factory.mktemp("w") / "world"))


def _cfg(world_dir, **kw):
    base = dict(
        world=world_dir,
        encoder="gapkit-shapes:random-init",
        epochs=2,
        batch_size=32,
        beams=2,
        max_train_examples=120,
        decoder_options={"d_model": 32, "d_ff": 64, "num_heads": 2},
    )
    base.update(kw)
    return CloseConfig.from_dict(base)


@pytest.mark.parametrize("task", ["caption-single", "caption-multi", "ve", "vqa", "vqa-e", "caption-style"])
def test_every_task_trains_and_evaluates(world_dir, tmp_path, task):
    rec = train_run(_cfg(world_dir, task=task, epochs=1), tmp_path / "run")
    assert rec.n_train > 0 and rec.history[0]["loss"] > 0
    assert {"mg", "centroid_distance", "samples_per_s"} <= set(rec.history[0])
    for f in ("config.yaml", "metrics.json", "predictions.json", "log.txt", "checkpoint.pt", "adapter.pt"):
        assert (tmp_path / "run" / f).is_file(), f
    test = eval_run(tmp_path / "run", "test")
    assert test.metrics["n"] > 0
    assert TASKS.get(task).metric in rec.metrics and TASKS.get(task).metric in test.metrics
    if task.startswith("vqa"):  # both VQA accuracies, the official one never above CLOSE's
        assert rec.metrics["vqa_acc_official"] <= rec.metrics["vqa_acc_close"]


@pytest.mark.parametrize(
    "adapter, options",
    [
        ("none", {}),
        ("mean-shift", {"scale": -1.0}),
        ("random-shift", {"magnitude": 0.5}),
        ("linear", {}),
        ("cov", {}),
    ],
)
def test_every_adapter_trains(world_dir, tmp_path, adapter, options):
    rec = train_run(
        _cfg(world_dir, task="ve", epochs=1, adapter=adapter, adapter_options=options), tmp_path / "r"
    )
    assert rec.adapter["adapter"] == adapter


def test_train_on_images_upper_bound(world_dir, tmp_path):
    rec = train_run(_cfg(world_dir, task="ve", epochs=1, train_on="image"), tmp_path / "r")
    assert rec.adapter["adapter"] == "none" and rec.history[0]["mg"] == pytest.approx(1.0, abs=1e-5)


def test_config_round_trip_and_rerun(world_dir, tmp_path):
    a = train_run(_cfg(world_dir, task="ve", epochs=1), tmp_path / "a")
    assert main(["train", "--config", str(tmp_path / "a" / "config.yaml"), "--out", str(tmp_path / "b")]) == 0
    b = read_record(tmp_path / "b" / "metrics.json", RunRecord)
    assert a.metrics == b.metrics and a.history[0]["loss"] == b.history[0]["loss"]


def test_resume_after_kill_equals_uninterrupted(world_dir, tmp_path):
    import torch

    args = [
        "--world",
        world_dir,
        "--encoder",
        "gapkit-shapes:random-init",
        "--task",
        "caption-single",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--max-train-examples",
        "300",
        "--max-eval-examples",
        "6",
        "--set",
        "beams=1",
        "--set",
        "decoder_options={d_model: 32, d_ff: 64, num_heads: 2}",
    ]
    # The killed process starts from this process's environment, and this process trains with the
    # thread count that environment gives a fresh one: float reductions depend on both (a count
    # changed later, as the ablate executors do in-process, does not reduce like one set at start).
    threads = torch.get_num_threads()
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    torch.set_num_threads(int(fresh))
    try:
        _resume_after_kill(args, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _resume_after_kill(args: list[str], tmp_path) -> None:
    full = tmp_path / "full"
    assert main(["train", *args, "--out", str(full)]) == 0
    part = tmp_path / "part"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapkit.cli.main", "train", *args, "--out", str(part)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (part / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (part / "metrics.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert (part / "checkpoint.pt").exists()
    assert main(["train", *args, "--out", str(part), "--resume"]) == 0
    a, b = (read_record(d / "metrics.json", RunRecord) for d in (full, part))
    assert a.metrics == b.metrics
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


def test_vqa_target_rule():
    assert vqa_targets(["2"] * 7 + ["two"] * 3) == ["2", "two"]
    assert vqa_targets(["red"] * 5 + ["blue"] * 5) == ["blue", "red"]
    assert vqa_targets(["a", "a", "b", "c"]) == ["a"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "captoin-single"], "Unknown task 'captoin-single'. Did you mean: caption-single"),
        (["--adapter", "nosie"], "Unknown adapter 'nosie'. Did you mean: noise"),
        (["--decoder", "t5-nonexistent"], "Decoder 't5-nonexistent' is not available locally"),
        (["--set", "epoch=3"], "unknown key 'epoch'. Did you mean: epochs"),
        (["--set", "epochs=0"], "epochs must be a positive integer"),
        (
            ["--tuned-noise", "by-norm"],
            "tuned_noise must be one of per-dimension, matched-norm, got 'by-norm'",
        ),
        (["--weight-decay", "-1"], "weight_decay must be a number >= 0"),
    ],
)
def test_bad_config_exits_2_and_leaves_nothing(world_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    rc = main(
        ["train", "--world", world_dir, "--encoder", "gapkit-shapes:random-init", *argv, "--out", str(out)]
    )
    assert rc == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_existing_run_folder_needs_resume_or_overwrite(world_dir, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("")
    assert main(["train", "--world", world_dir, "--out", str(tmp_path / "run")]) == 2
    assert "pass --resume to continue it or --overwrite" in capsys.readouterr().err


def test_noise_default_is_closes_tuned_w_per_dimension():
    """CLOSE kept one w per task for every CLIP (d = 512 to 1024): ViT-B/32 (d = 512) gets 0.12 for
    single captioning, not 0.12 * sqrt(768 / 512) = 0.147."""
    for task, w in (
        ("caption-single", 0.12),
        ("caption-multi", 0.04),
        ("ve", 0.08),
        ("vqa", 0.04),
        ("vqa-e", 0.04),
    ):
        for d in (128, 512, 768, 1024):
            assert CloseConfig(task=task).resolved_noise(d) == w
    by_norm = CloseConfig(task="caption-single", tuned_noise="matched-norm")
    assert by_norm.resolved_noise(512) == pytest.approx(0.12 * (768 / 512) ** 0.5)
    assert by_norm.resolved_noise(512) == pytest.approx(0.147, abs=5e-4)
    assert CloseConfig(task="ve", noise_norm=2.0).resolved_noise(400) == pytest.approx(0.1)
    assert CloseConfig(task="ve", noise=0.3).resolved_noise(128) == 0.3
    assert CloseConfig(task="ve", adapter="none").resolved_noise(128) == 0.0
    with pytest.raises(GapkitError, match="noise must be a number"):
        CloseConfig.from_dict({"noise": -1})
    with pytest.raises(
        GapkitError, match="tuned_noise must be one of per-dimension, matched-norm, got 'by-norm'"
    ):
        CloseConfig.from_dict({"tuned_noise": "by-norm"})


def test_pretrained_t5_from_a_local_folder(world_dir, tmp_path):
    """The real-decoder path: a T5 folder (random weights here) with a saved tokenizer."""
    rec = train_run(
        _cfg(world_dir, task="ve", epochs=1, decoder=_local_t5(tmp_path / "t5"), decoder_options={}),
        tmp_path / "run",
    )
    assert rec.metrics["n"] > 0


def test_real_data_layout(world_dir, tmp_path):
    """--data-root with official file names: the world's files under the names real data uses."""
    import shutil

    root = tmp_path / "data"
    (root / "coco").mkdir(parents=True)
    (root / "SNLI_VE").mkdir()
    shutil.copy(f"{world_dir}/dataset_coco.json", root / "coco" / "dataset_coco.json")
    for name in ("train", "dev", "test"):
        shutil.copy(f"{world_dir}/snli_ve_{name}.jsonl", root / "SNLI_VE" / f"snli_ve_{name}.jsonl")
    shutil.copytree(f"{world_dir}/images", root / "coco" / "images")
    (root / "coco" / "annotations").mkdir()
    (root / "vqa").mkdir()
    for split in ("train", "val"):
        shutil.copy(
            f"{world_dir}/captions_{split}.json", root / "coco" / "annotations" / f"captions_{split}2014.json"
        )
        shutil.copy(
            f"{world_dir}/v2_OpenEnded_mscoco_{split}_questions.json",
            root / "vqa" / f"v2_OpenEnded_mscoco_{split}2014_questions.json",
        )
        shutil.copy(
            f"{world_dir}/v2_mscoco_{split}_annotations.json",
            root / "vqa" / f"v2_mscoco_{split}2014_annotations.json",
        )
    patterns = {
        "karpathy": "coco/{filepath}/{filename}",
        "snli_ve": "coco/images/{id}.png",
        "vqa": "coco/images/{image_id:06d}.png",
    }
    for task in ("ve", "vqa"):
        rec = train_run(
            _cfg(world_dir, task=task, epochs=1, world=None, data_root=str(root), data_patterns=patterns),
            tmp_path / f"run-{task}",
        )
        assert rec.n_train > 0
    with pytest.raises(GapkitError, match="Data root not found"):
        train_run(_cfg(world_dir, task="ve", world=None, data_root=str(tmp_path / "nope")), tmp_path / "r2")


def _local_t5(folder):
    """A T5 folder (random weights) with a saved tokenizer: the path a pretrained T5 takes."""
    from transformers import T5Config, T5ForConditionalGeneration

    from gapkit.close.decoder import shapes_tokenizer

    tok = shapes_tokenizer()
    cfg = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_training_defaults_follow_the_decoder(tmp_path):
    """A pretrained T5 (any local folder) gets CLOSE's lr 3e-4, weight decay 0, 8 epochs, batch 128
    (32 for multi-caption); the embedded shapes-t5 keeps its own tuned values; the config wins."""
    t5 = str(tmp_path / "any-t5")  # resolving the defaults needs no weights
    close = {"lr": 3e-4, "weight_decay": 0.0, "epochs": 8, "batch_size": 128}
    for task in ("caption-single", "ve", "vqa", "vqa-e", "caption-style"):
        assert CloseConfig(task=task, decoder=t5).resolved_training() == close
    assert CloseConfig(task="caption-multi", decoder=t5).resolved_training() == {**close, "batch_size": 32}
    assert CloseConfig(task="caption-multi", decoder="t5-base").resolved_training()["batch_size"] == 32
    # the images model of multi-caption is the single-caption one, batch included
    assert CloseConfig(task="caption-multi", decoder=t5, train_on="image").resolved_training() == close
    tiny = {"lr": 1e-3, "weight_decay": 0.0, "epochs": 4, "batch_size": 128}
    assert CloseConfig(task="caption-multi").resolved_training() == tiny
    mine = CloseConfig(task="caption-multi", decoder=t5, lr=1e-4, epochs=2, batch_size=64, weight_decay=0.01)
    assert mine.resolved_training() == {"lr": 1e-4, "weight_decay": 0.01, "epochs": 2, "batch_size": 64}
    with pytest.raises(GapkitError, match="weight_decay must be a number >= 0, got -0.1"):
        CloseConfig.from_dict({"weight_decay": -0.1})
    with pytest.raises(GapkitError, match="batch_size must be a positive integer, got 0"):
        CloseConfig.from_dict({"batch_size": 0})


def test_a_local_t5_trains_with_closes_settings(world_dir, tmp_path):
    import math

    folder = _local_t5(tmp_path / "t5")
    cfg = CloseConfig.from_dict(
        dict(
            world=world_dir,
            encoder="gapkit-shapes:random-init",
            task="caption-multi",
            decoder=folder,
            beams=1,
            max_train_examples=40,
            max_eval_examples=4,
        )
    )
    rec = train_run(cfg, tmp_path / "run")
    r = rec.resolved
    assert (r["lr"], r["weight_decay"], r["epochs"], r["batch_size"]) == (3e-4, 0.0, 8, 32)
    assert len(rec.history) == 8 and rec.history[0]["step"] == math.ceil(rec.n_train / 32)
    assert rec.history[0]["lr"] == pytest.approx(3e-4 * (1 - 1 / 8))  # linear decay over 8 epochs


def test_beam_search_settings_are_closes(monkeypatch):
    """num_beams 5, no length penalty, and no early stopping (CLOSE's AllenNLP search goes on until
    every beam has finished); early_stopping=True stays available."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from gapkit.close.model import ClipPrefixT5

    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=20, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2, decoder_start_token_id=0
        )
    )
    seen = []
    monkeypatch.setattr(t5, "generate", lambda **kw: seen.append(kw) or torch.zeros((1, 1), dtype=torch.long))
    model = ClipPrefixT5(t5, 6)
    cfg = CloseConfig()
    model.generate(torch.ones(1, 6), None, None, 16, cfg.beams, cfg.early_stopping)
    assert seen[-1]["num_beams"] == 5 and seen[-1]["early_stopping"] is False
    assert seen[-1]["length_penalty"] == 0.0 and seen[-1]["do_sample"] is False
    model.generate(torch.ones(1, 6), None, None, 16, 5, True)
    assert seen[-1]["early_stopping"] is True
    with pytest.raises(GapkitError, match="early_stopping must be true or false"):
        CloseConfig.from_dict({"early_stopping": "no"})


def test_eval_on_text_applies_the_adapters_shift(world_dir, tmp_path, monkeypatch):
    """`gapkit eval --inputs text` decodes n(t + mu) for a model trained on mean-shifted text,
    not the unshifted t."""
    import numpy as np
    import torch

    import gapkit.close.decode as decode
    from gapkit.close.prepare import prepare

    cfg = _cfg(world_dir, task="caption-single", epochs=1, adapter="mean-shift", max_eval_examples=5)
    train_run(cfg, tmp_path / "run")
    fed = []
    real = decode._decode
    monkeypatch.setattr(
        decode, "_decode", lambda prep, vectors, *a: fed.append(vectors) or real(prep, vectors, *a)
    )
    assert main(["eval", str(tmp_path / "run"), "--split", "val", "--inputs", "text"]) == 0
    text = prepare(cfg, eval_splits=("val",), with_train=False).evals["val"].text_vectors.astype(np.float64)
    shift = torch.load(tmp_path / "run" / "adapter.pt", weights_only=False)["fitted"]["shift"].numpy()
    moved = text + shift
    assert np.allclose(fed[-1], moved / np.linalg.norm(moved, axis=1, keepdims=True), atol=1e-5)
    assert not np.allclose(fed[-1], text, atol=1e-3)
    record = read_record(tmp_path / "run" / "metrics-val-text.json", EvalRecord)
    assert record.text_adapter["adapter"] == "mean-shift" and "no noise" in record.text_adapter["applied"]
    assert record.inputs == "text" and len(record.per_item["cider"]) == 5


def test_epoch_log_mg_is_noiseless(world_dir, tmp_path):
    """The per-epoch "mg" is CLOSE Table 3's MG: mean cos(image, a(text)) without the noise;
    the noisy one is logged as mg_noisy."""

    from gapkit.close.prepare import prepare

    cfg = _cfg(world_dir, task="caption-single", epochs=1, adapter="noise", noise=0.5, max_eval_examples=8)
    rec = train_run(cfg, tmp_path / "run")
    ev = prepare(cfg, eval_splits=("val",), with_train=False).evals["val"]
    expected = float((ev.image_vectors * ev.text_vectors).sum(1).mean())  # noise adapter: a = identity
    h = rec.history[0]
    assert h["mg"] == pytest.approx(expected, abs=1e-5)
    assert abs(h["mg_noisy"]) < abs(h["mg"]) and "centroid_distance_noisy" in h


def test_one_images_model_for_both_captioning_tasks(world_dir):
    """train_on image: multi-caption trains on the single-caption examples (each image with each of
    its captions), the same target rows the single-caption text runs see."""
    from gapkit.close.prepare import prepare

    single, multi, text = (
        prepare(_cfg(world_dir, task=t, train_on=on)).train
        for t, on in (("caption-single", "image"), ("caption-multi", "image"), ("caption-single", "text"))
    )
    assert (
        [e.targets for e in multi.examples]
        == [e.targets for e in single.examples]
        == [e.targets for e in text.examples]
    )
    assert all(len(e.targets) == 1 for e in multi.examples)
    assert (multi.vectors == single.vectors).all()


def _allennlp_beam_search(model, clip, beams: int, steps: int, eos: int = 1) -> list[int]:
    """An independent reference for CLOSE's decoding (AllenNLP BeamSearch): keep the `beams` best
    sequences by summed log-probability, a finished one continuing only with eos at log-prob 0;
    stop when every kept sequence has finished. The best sequence, without start and eos."""
    import torch

    embeds, mask = model.encoder_inputs(clip, None, None)
    kept = [([0], 0.0)]
    for _ in range(steps):
        cands = []
        for seq, lp in kept:
            if len(seq) > 1 and seq[-1] == eos:
                cands.append((seq + [eos], lp))
                continue
            logits = model.t5(
                inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=torch.tensor([seq])
            ).logits
            top = torch.topk(torch.log_softmax(logits[0, -1].double(), -1), beams)
            cands += [(seq + [i], lp + v) for v, i in zip(top.values.tolist(), top.indices.tolist())]
        kept = sorted(cands, key=lambda c: -c[1])[:beams]
        if all(seq[-1] == eos for seq, _ in kept):
            break
    return _until_eos(kept[0][0])


def _until_eos(seq: list[int]) -> list[int]:
    seq = seq[1:]  # the decoder start token
    return seq[: seq.index(1)] if 1 in seq else seq


def test_beam_search_finds_what_closes_beam_search_finds():
    """On a tiny random T5 whose best sequences run to the length limit, the default search returns
    the reference's sequence every time; early_stopping=True stops at the first 5 finished
    hypotheses and returns a worse one."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from gapkit.close.model import ClipPrefixT5

    torch.manual_seed(5)
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=10,
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
            dropout_rate=0.0,
        )
    )
    with torch.no_grad():
        t5.lm_head.weight.mul_(7.0)  # peaked distributions: beams that finish early and beams that do not
    model = ClipPrefixT5(t5, 6).eval()
    cfg = CloseConfig()
    early = 0
    with torch.no_grad():
        for j in range(4):
            clip = torch.randn(1, 6, generator=torch.Generator().manual_seed(500 + j))
            ref = _allennlp_beam_search(model, clip, cfg.beams, 8)
            assert (
                _until_eos(model.generate(clip, None, None, 8, cfg.beams, cfg.early_stopping)[0].tolist())
                == ref
            )
            early += _until_eos(model.generate(clip, None, None, 8, cfg.beams, True)[0].tolist()) != ref
    assert early > 0
