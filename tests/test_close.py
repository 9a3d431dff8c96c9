import json
import os
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
from gapkit.worlds.shapes.export import export_world
from gapkit.worlds.shapes.world import ShapesWorld

TINY = {"train": 60, "restval": 20, "val": 12, "test": 12}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    w = ShapesWorld(seed=4, sizes=TINY, n_minimal_pairs=1).generate()
    return str(export_world(w, tmp_path_factory.mktemp("w") / "world"))


def _cfg(world_dir, **kw):
    base = dict(world=world_dir, encoder="gapkit-shapes:random-init", epochs=2, batch_size=32, beams=2,
                max_train_examples=120, decoder_options={"d_model": 32, "d_ff": 64, "num_heads": 2})
    base.update(kw)
    return CloseConfig.from_dict(base)


@pytest.mark.parametrize("task", ["caption-single", "caption-multi", "ve", "vqa", "vqa-e", "caption-style"])
def test_every_task_trains_and_evaluates(world_dir, tmp_path, task):
    rec = train_run(_cfg(world_dir, task=task, epochs=1), tmp_path / "run")
    assert rec["n_train"] > 0 and rec["history"][0]["loss"] > 0
    assert {"mg", "centroid_distance", "samples_per_s"} <= set(rec["history"][0])
    for f in ("config.yaml", "metrics.json", "predictions.json", "log.txt", "checkpoint.pt", "adapter.pt"):
        assert (tmp_path / "run" / f).is_file(), f
    test = eval_run(tmp_path / "run", "test")
    assert test["metrics"]["n"] > 0
    assert TASKS.get(task).metric in rec["metrics"] and TASKS.get(task).metric in test["metrics"]
    if task.startswith("vqa"):  # both VQA accuracies, the official one never above CLOSE's
        assert rec["metrics"]["vqa_acc_official"] <= rec["metrics"]["vqa_acc_close"]


@pytest.mark.parametrize("adapter, options", [("none", {}), ("mean-shift", {"scale": -1.0}),
                                              ("random-shift", {"magnitude": 0.5}), ("linear", {}), ("cov", {})])
def test_every_adapter_trains(world_dir, tmp_path, adapter, options):
    rec = train_run(_cfg(world_dir, task="ve", epochs=1, adapter=adapter, adapter_options=options), tmp_path / "r")
    assert rec["adapter"]["adapter"] == adapter


def test_train_on_images_upper_bound(world_dir, tmp_path):
    rec = train_run(_cfg(world_dir, task="ve", epochs=1, train_on="image"), tmp_path / "r")
    assert rec["adapter"]["adapter"] == "none" and rec["history"][0]["mg"] == pytest.approx(1.0, abs=1e-5)


def test_config_round_trip_and_rerun(world_dir, tmp_path):
    a = train_run(_cfg(world_dir, task="ve", epochs=1), tmp_path / "a")
    assert main(["train", "--config", str(tmp_path / "a" / "config.yaml"), "--out", str(tmp_path / "b")]) == 0
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["metrics"] == b["metrics"] and a["history"][0]["loss"] == b["history"][0]["loss"]


def test_resume_after_kill_equals_uninterrupted(world_dir, tmp_path):
    args = ["--world", world_dir, "--encoder", "gapkit-shapes:random-init", "--task", "caption-single",
            "--epochs", "3", "--batch-size", "16", "--max-train-examples", "300", "--max-eval-examples", "6",
            "--set", "beams=1", "--set", "decoder_options={d_model: 32, d_ff: 64, num_heads: 2}"]
    full = tmp_path / "full"
    assert main(["train", *args, "--out", str(full)]) == 0
    part = tmp_path / "part"
    import torch

    # The same thread count as this process: float reductions depend on it.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-m", "gapkit.cli.main", "train", *args, "--out", str(part)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (part / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if (part / "metrics.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert (part / "checkpoint.pt").exists()
    assert main(["train", *args, "--out", str(part), "--resume"]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (full, part))
    assert a["metrics"] == b["metrics"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_vqa_target_rule():
    assert vqa_targets(["2"] * 7 + ["two"] * 3) == ["2", "two"]
    assert vqa_targets(["red"] * 5 + ["blue"] * 5) == ["blue", "red"]
    assert vqa_targets(["a", "a", "b", "c"]) == ["a"]


@pytest.mark.parametrize("argv, message", [
    (["--task", "captoin-single"], "Unknown task 'captoin-single'. Did you mean: caption-single"),
    (["--adapter", "nosie"], "Unknown adapter 'nosie'. Did you mean: noise"),
    (["--decoder", "t5-nonexistent"], "Decoder 't5-nonexistent' is not available locally"),
    (["--set", "epoch=3"], "unknown key 'epoch'. Did you mean: epochs"),
    (["--set", "epochs=0"], "epochs must be a positive integer"),
])
def test_bad_config_exits_2_and_leaves_nothing(world_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    rc = main(["train", "--world", world_dir, "--encoder", "gapkit-shapes:random-init", *argv, "--out", str(out)])
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
    for task, w in (("caption-single", 0.12), ("caption-multi", 0.04), ("ve", 0.08), ("vqa", 0.04), ("vqa-e", 0.04)):
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
    with pytest.raises(GapkitError, match="tuned_noise must be one of per-dimension, matched-norm, got 'by-norm'"):
        CloseConfig.from_dict({"tuned_noise": "by-norm"})


def test_pretrained_t5_from_a_local_folder(world_dir, tmp_path):
    """The real-decoder path: a T5 folder (random weights here) with a saved tokenizer."""
    from transformers import T5Config, T5ForConditionalGeneration

    from gapkit.close.decoder import shapes_tokenizer

    tok = shapes_tokenizer()
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(cfg).save_pretrained(tmp_path / "t5")
    tok.save_pretrained(tmp_path / "t5")
    rec = train_run(_cfg(world_dir, task="ve", epochs=1, decoder=str(tmp_path / "t5"), decoder_options={}),
                    tmp_path / "run")
    assert rec["metrics"]["n"] > 0


def test_real_data_layout(world_dir, tmp_path):
    """--data-root with official file names: the world's files under the names real data uses."""
    import shutil

    root = tmp_path / "data"
    (root / "coco").mkdir(parents=True)
    (root / "SNLI_VE").mkdir()
    shutil.copy(f"{world_dir}/dataset_coco.json", root / "coco" / "dataset_coco.json")
    for _split, name in (("train", "train"), ("val", "dev"), ("test", "test")):
        shutil.copy(f"{world_dir}/snli_ve_{name}.jsonl", root / "SNLI_VE" / f"snli_ve_{name}.jsonl")
    shutil.copytree(f"{world_dir}/images", root / "coco" / "images")
    (root / "coco" / "annotations").mkdir()
    (root / "vqa").mkdir()
    for split in ("train", "val"):
        shutil.copy(f"{world_dir}/captions_{split}.json", root / "coco" / "annotations" / f"captions_{split}2014.json")
        shutil.copy(f"{world_dir}/v2_OpenEnded_mscoco_{split}_questions.json",
                    root / "vqa" / f"v2_OpenEnded_mscoco_{split}2014_questions.json")
        shutil.copy(f"{world_dir}/v2_mscoco_{split}_annotations.json", root / "vqa" / f"v2_mscoco_{split}2014_annotations.json")
    patterns = {"karpathy": "coco/{filepath}/{filename}", "snli_ve": "coco/images/{id}.png",
                "vqa": "coco/images/{image_id:06d}.png"}
    for task in ("ve", "vqa"):
        rec = train_run(_cfg(world_dir, task=task, epochs=1, world=None, data_root=str(root),
                             data_patterns=patterns), tmp_path / f"run-{task}")
        assert rec["n_train"] > 0
    with pytest.raises(GapkitError, match="Data root not found"):
        train_run(_cfg(world_dir, task="ve", world=None, data_root=str(tmp_path / "nope")), tmp_path / "r2")
