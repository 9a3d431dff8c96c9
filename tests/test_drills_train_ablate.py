"""Reliability drills for `gapkit world train-clip` / `world card` and `gapkit ablate`: every bad
config value is one line on stderr with exit code 2 and leaves no --out folder behind; committed
cells with a non-numeric metric read as unreadable; a scalar grid is a spec error; a worker grid
stopped by SIGINT/SIGTERM shuts its workers down without leaking their semaphores."""

import math
import pickle
import re
from pathlib import Path

import pytest
import yaml

from gapkit.cli.main import main
from gapkit.tinyclip.checks import ConfigValueError
from gapkit.tinyclip.train import TrainClipConfig

ROOT = Path(__file__).resolve().parent.parent


def _fails(capsys, argv, *messages) -> str:
    """main(argv) exits 2 with exactly one stderr line holding every one of ``messages``."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("gapkit: error: "), err
    for m in messages:
        assert m in err, err
    return err


# --- 1. train-clip config values ------------------------------------------------------------------

BAD_CONFIGS = [
    ("steps: abc", ["steps must be >= 1 (an integer)", "'abc'"]),
    ("steps: -5", ["steps must be >= 1", "got -5"]),
    ("lr: -1", ["lr must be > 0 (a finite number)", "got -1"]),
    ("lr: .nan", ["lr must be > 0 (a finite number)", "got nan"]),
    ("lr: 1e-3", ["lr must be > 0", "'1e-3'", "write 1.0e-3"]),
    ("batch_size: 0", ["batch_size must be >= 2 (an integer)", "got 0"]),
    ("model: {embed_dim: -3}", ["model.embed_dim must be >= 1 (an integer)", "got -3"]),
    ("model: {head_width: 48}", ["model.head_width must split", "got 48"]),
    ("model: {image_size: 64}", ["model.image_size must be one of 96", "got 64"]),
    ("warm_start: bogus", ["warm_start must be one of 'embedding', 'trunk'", "'bogus'"]),
    ("probes_at_end: maybe", ["probes_at_end must be true or false", "'maybe'"]),
    ("hard_fraction: 1.5", ["hard_fraction must be in [0, 1]", "1.5"]),
    ("seed: -1", ["seed must be in [0, 4294967295]", "got -1"]),
    ("stepz: 10", ["unknown key 'stepz'", "Did you mean: steps?"]),
    ("model: {embd_dim: 8}", ["unknown key 'model.embd_dim'", "Did you mean: model.embed_dim?"]),
    ("model: 5", ["model must be a mapping of keys", "got 5"]),
    ("pool_size: 16", ["batch_size must be <= pool_size (16", "got 128"]),
    ("{steps: 10, pretrain_steps: 20}", ["pretrain_steps must be <= steps (10", "got 20"]),
    ("{ramp_start: 0.5, ramp_end: 0.2}", ["ramp_end must be >= ramp_start (0.5)", "got 0.2"]),
    ("init_from: no/such/weights", ["init_from 'no/such/weights' is neither"]),
    ("[{steps: 5}, {steps: 5, init_from: x}]", ["(stage 2)", "init_from is given"]),
    ("[{steps: 5}, 7]", ["(stage 2)", "a stage must be a mapping", "got 7"]),
    ("[]", ["an empty list of stages"]),
]


@pytest.mark.parametrize("text, messages", BAD_CONFIGS, ids=[t for t, _ in BAD_CONFIGS])
def test_train_clip_refuses_bad_config_values_and_leaves_no_out(tmp_path, capsys, text, messages):
    config = tmp_path / "c.yaml"
    config.write_text(text + "\n")
    out = tmp_path / "run"
    _fails(capsys, ["world", "train-clip", "--config", config, "--out", out], *messages)
    assert not out.exists()


def test_train_clip_checks_set_overrides_too(tmp_path, capsys):
    out = tmp_path / "run"
    _fails(
        capsys, ["world", "train-clip", "--out", out, "--set", "threads=0"], "threads must be >= 1", "got 0"
    )
    # --set model.KEY=V replaces one architecture key of the file's model section, not the section
    config = tmp_path / "c.yaml"
    config.write_text("model: {head_width: 48}\n")
    argv = ["world", "train-clip", "--config", config, "--out", out, "--set", "model.embed_dim=-3"]
    _fails(capsys, argv, "model.embed_dim must be >= 1", "got -3")
    assert not out.exists()


def test_train_clip_removes_the_out_folder_it_made_when_the_run_fails_before_a_checkpoint(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    out = tmp_path / "run"
    with pytest.raises(pickle.UnpicklingError):  # a crash (exit 1), not a config error
        main(["world", "train-clip", "--out", str(out), "--set", f"init_from={garbage}"])
    assert not out.exists()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 0}, "steps must be >= 1 (an integer), got 0."),
        ({"lr": math.inf}, "lr must be > 0 (a finite number), got inf."),
        ({"weight_decay": True}, "weight_decay must be >= 0 (a finite number), got True."),
        ({"ramp_to": 0.0}, "ramp_to must be in (0, 100] (a finite number), got 0.0."),
        ({"init_from": ""}, "init_from must be a path (a non-empty string) or null, got ''."),
    ],
)
def test_the_library_config_refuses_bad_values_too(options, message):
    with pytest.raises(ConfigValueError, match=f"^{re.escape(message)}$"):
        TrainClipConfig(**options)


def test_the_shipped_recipe_and_weights_config_still_validate():
    from gapkit.cli.world import _stage_configs

    class Args:
        config, set = str(ROOT / "analyses" / "shapes-clip-recipe.yaml"), None

    assert len(_stage_configs(Args)) == 4
    meta = yaml.safe_load((ROOT / "gapkit" / "assets" / "shapes-clip" / "config.json").read_text())
    TrainClipConfig.from_dict({**meta["training"], "model": meta["model"]})


# --- 2. world card --weights ----------------------------------------------------------------------


def test_card_with_missing_weights_is_one_line(tmp_path, capsys):
    missing = tmp_path / "MISSING"
    _fails(capsys, ["world", "card", "--weights", missing], f"--weights {missing}: not found")
    afile = tmp_path / "model.safetensors"
    afile.write_bytes(b"")
    _fails(capsys, ["world", "card", "--weights", afile], "is a file, not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(capsys, ["world", "card", "--weights", empty], "no model.safetensors in it")
    assert list(empty.iterdir()) == []
