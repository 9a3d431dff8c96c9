"""Reliability drills for `gapkit world train-clip` / `world card` and `gapkit ablate`: every bad
config value is one line on stderr with exit code 2 and leaves no --out folder behind; committed
cells with a non-numeric metric read as unreadable; a scalar grid is a spec error; a worker grid
stopped by SIGINT/SIGTERM shuts its workers down without leaking their semaphores."""

import math
import pickle
import re
import signal
import subprocess
import sys
import time
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


# --- 3. ablate: committed cells with a non-numeric score; a scalar grid ----------------------------


def _commit_cells(spec_path, out, metrics: dict) -> list[Path]:
    """Write each cell's result file as a finished run would, with these metrics."""
    from gapkit.ablate.runner import jobs_for
    from gapkit.ablate.spec import load_spec
    from gapkit.records import CellResult, write_record

    paths = []
    for job in jobs_for(load_spec(spec_path), out):
        result = CellResult(
            key=job.key,
            label=job.label,
            config=job.config,
            metrics=metrics,
            history=[],
            noise=0.01,
            noise_norm=0.2,
            dim=512,
            n_train=60,
        )
        Path(job.result_path).parent.mkdir(parents=True, exist_ok=True)
        write_record(Path(job.result_path), result)
        paths.append(Path(job.result_path))
    return paths


@pytest.mark.parametrize(
    "metrics, why",
    [
        ({"accuracy": "abc", "n": 6}, "metric 'accuracy' is 'abc', not a number"),
        ({"accuracy": None, "n": 6}, "metric 'accuracy' is None, not a number"),
        ({"accuracy": 50.0, "n": "six"}, "metric 'n' is 'six', not a number"),
    ],
)
def test_render_only_reads_a_cell_with_a_non_numeric_score_as_unreadable(
    world_dir, tmp_path, capsys, metrics, why
):
    from .test_ablate import smoke_spec

    spec_path = smoke_spec(world_dir, tmp_path / "s.yaml", rows=[{"label": "w0", "set": {"noise": 0.01}}])
    out = tmp_path / "res"
    (cell,) = _commit_cells(spec_path, out, metrics)
    assert main(["ablate", str(spec_path), "--out", str(out), "--render-only"]) == 1  # was: ValueError
    err = capsys.readouterr().err
    assert f"unreadable result {cell} ({why}): the cell will run again" in err
    assert err.count("unreadable result") == 1  # warned once, not once per lookup
    assert "1 of 1 cells have no result" in err and "1 not run yet" in err
    assert "| w0 | " in (out / "table.md").read_text() and "no result" in (out / "table.md").read_text()


def test_a_committed_cell_with_numeric_scores_still_renders(world_dir, tmp_path, capsys):
    from gapkit.ablate.runner import load_results
    from gapkit.ablate.spec import load_spec

    from .test_ablate import smoke_spec

    spec_path = smoke_spec(world_dir, tmp_path / "s.yaml", rows=[{"label": "w0", "set": {"noise": 0.01}}])
    out = tmp_path / "res"
    _commit_cells(spec_path, out, {"accuracy": 50.0, "n": 6, "items": "abcd", "spice": "unavailable"})
    assert len(load_results(load_spec(spec_path), out)) == 1  # strings outside the scores are fine


@pytest.mark.parametrize(
    "block, message",
    [
        (
            {"grid": {"noise": 0.04}},
            "grid: 'noise' must be a non-empty list of values, got 0.04 (for one value write noise: [0.04]).",
        ),
        ({"grid": {"adapter": "noise"}}, "grid: 'adapter' must be a non-empty list of values, got 'noise'"),
        ({"repeat": {"adapter_options.direction_seed": 3}}, "repeat: 'adapter_options.direction_seed' must"),
        ({"grid": {"noise": []}}, "grid: 'noise' must be a non-empty list of values, got []."),
        ({"grid": [0.04]}, "grid must map exactly one key to a list of values, got [0.04]."),
        ({"grid": {1: [0.04]}}, "grid: the key must be a config key (a string), got 1."),
    ],
)
def test_a_grid_or_repeat_that_is_not_a_list_is_a_one_line_spec_error(
    world_dir, tmp_path, capsys, block, message
):
    from .test_ablate import smoke_spec

    row = {"label": "w0", "set": {"adapter": "noise"}, **block}
    spec_path = smoke_spec(world_dir, tmp_path / "s.yaml", rows=[row])
    out = tmp_path / "res"
    _fails(capsys, ["ablate", spec_path, "--out", out], f"{spec_path}: row 'w0' {message}")  # was: TypeError
    assert not out.exists()


# --- 4. ablate --jobs N stopped by SIGINT / SIGTERM ---------------------------------------------------

# A grid of three "cells" in two workers, each holding a multiprocessing lock (as tqdm's lock in a
# real cell) and sleeping: the real worker machinery (run_in_workers, _worker, _stop) without
# training anything. ``reset`` puts SIGTERM back to its default in the worker (the old behaviour),
# as a control that this drill sees the leak.
GRID_SCRIPT = """
import os, signal, sys, time
from collections import deque
from multiprocessing import RLock
from pathlib import Path

from gapkit.ablate.executors import Attempt, CellJob, sigterm_interrupts
from gapkit.ablate.workers import run_in_workers

LOCKS = []


def hold(job):
    if job.config.get("reset"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    LOCKS.append(RLock())  # a semaphore the resource tracker follows
    Path(job.run_dir).write_text(str(os.getpid()))
    time.sleep(120)
    return Attempt(job.key)


if __name__ == "__main__":
    marks, reset = Path(sys.argv[1]), sys.argv[2] == "reset"
    jobs = deque(CellJob(f"k{i}", f"c{i}", {"reset": reset}, str(marks / f"w{i}"), "") for i in range(3))
    stopped = []
    try:
        with sigterm_interrupts():
            run_in_workers(jobs, lambda j, a: False, 2, lambda r, q: stopped.append((r, q)), target=hold)
    except KeyboardInterrupt as e:
        print("stopped", stopped, type(e).__name__, flush=True)
        sys.exit(130)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _stop_worker_grid(tmp_path, sig: int, reset: bool = False) -> tuple[str, str, list[int]]:
    script = tmp_path / "grid.py"
    script.write_text(GRID_SCRIPT)
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marks), "reset" if reset else "keep"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a foreground command
    )
    deadline = time.time() + 120
    while len(list(marks.iterdir())) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)  # both workers hold their lock and sleep
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)  # also waits for the resource tracker's last words
    pids = [int(p.read_text()) for p in marks.iterdir()]
    assert proc.returncode == 130, err
    return out, err, pids


@pytest.mark.parametrize(
    "sig, raised", [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")]
)
def test_stopped_worker_grid_leaks_no_semaphores(tmp_path, sig, raised):
    out, err, pids = _stop_worker_grid(tmp_path, sig)
    assert f"stopped [(2, 1)] {raised}" in out  # two running cells stopped, one never started
    assert "leaked semaphore" not in err and "Traceback" not in err, err
    assert len(pids) == 2 and not any(_alive(p) for p in pids)


def test_the_leak_drill_sees_workers_that_die_of_the_bare_signal(tmp_path):
    """Control: with the worker's SIGTERM handler reset to the default, as before the fix, the
    resource tracker reports the workers' semaphores as leaked."""
    _, err, _ = _stop_worker_grid(tmp_path, signal.SIGINT, reset=True)
    assert "leaked semaphore objects" in err


def test_a_worker_stopped_by_sigterm_is_reported_as_killed_by_it():
    from gapkit.ablate.workers import _exit_reason

    assert _exit_reason(128 + signal.SIGTERM) == "killed by SIGTERM"  # caught and unwound
    assert _exit_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert _exit_reason(1) == "exit code 1"


def test_sigterm_raises_terminated_only_while_the_grid_runs():
    from gapkit.ablate.executors import Terminated, sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_interrupts():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_ablate_stopped_by_sigterm_exits_143(world_dir, tmp_path, capsys, monkeypatch):
    import gapkit.ablate.runner as runner
    from gapkit.ablate.executors import Terminated

    from .test_ablate import smoke_spec

    def terminated(*args, **kwargs):
        raise Terminated

    monkeypatch.setattr(runner, "run_grid", terminated)
    spec_path = smoke_spec(world_dir, tmp_path / "s.yaml", rows=[{"label": "w0", "set": {"noise": 0.01}}])
    assert main(["ablate", str(spec_path), "--out", str(tmp_path / "res")]) == 143
    assert capsys.readouterr().err.endswith("gapkit: terminated\n")
