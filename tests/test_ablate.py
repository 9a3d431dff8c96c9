import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from gapkit.ablate.runner import run_grid
from gapkit.ablate.spec import load_spec
from gapkit.cli.main import main
from gapkit.errors import GapkitError


def smoke_spec(world_dir, path, table="bias", rows=None, tasks=None):
    spec = {
        "name": "smoke",
        "description": "smoke-sized grid",
        "table": table,
        "tasks": tasks or ["ve"],
        "base": {
            "world": world_dir,
            "encoder": "gapkit-shapes:random-init",
            "epochs": 1,
            "batch_size": 32,
            "beams": 1,
            "max_train_examples": 60,
            "max_eval_examples": 6,
            "decoder_options": {"d_model": 32, "d_ff": 64, "num_heads": 2},
        },
        "rows": rows
        or [
            {"label": "none", "set": {"adapter": "noise"}},
            {"label": "-mean", "set": {"adapter": "mean-shift", "adapter_options": {"scale": -1.0}}},
            {
                "label": "RNG",
                "set": {"adapter": "random-shift"},
                "grid": {"adapter_options.magnitude": [0.5, 2.0]},
                "repeat": {"adapter_options.direction_seed": [0, 1]},
            },
        ],
        "reference": {
            "source": "CLOSE Table 3",
            "setting": "ViT-L/14 + T5-base",
            "columns": ["Bias", "MG"],
            "rows": [["none", 0.26]],
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def test_grid_runs_renders_and_skips_finished_cells(world_dir, tmp_path, capsys):
    spec_path = smoke_spec(world_dir, tmp_path / "smoke.yaml")
    raw = yaml.safe_load(spec_path.read_text())
    raw["signatures"] = [
        {
            "claim": "small random shifts barely hurt",
            "paper": "93.5 vs 94.4",
            "kind": "difference",
            "a": {"row": "RNG@0.5", "task": "ve"},
            "b": {"row": "none", "task": "ve"},
            "op": ">=",
            "threshold": -5.0,
        }
    ]
    spec_path.write_text(yaml.safe_dump(raw))
    assert main(["ablate", str(spec_path), "--out", str(tmp_path / "res")]) == 0
    md = (tmp_path / "res" / "table.md").read_text()
    assert "| Bias | Mag. | MG | Δ | VE acc. |" in md and "RNG" in md
    assert re.search(r"\| -?\d+\.\d \[-?\d+\.\d, -?\d+\.\d\] \|", md)  # mean [lo, hi]
    assert "Protocol: runs per cell 1-2 (the base config's training seed); evaluation items per run: 6." in md
    assert f"Regenerate: `gapkit ablate {spec_path} --out {tmp_path / 'res'}`" in md and "6 of 6 cells" in md
    assert "no result" not in md
    assert "the paper's published numbers" in md
    assert "## Signatures" in md and "| small random shifts barely hurt | 93.5 vs 94.4 |" in md
    assert (tmp_path / "res" / "signatures.csv").read_text().startswith("Claim,Paper,gapkit [95% interval]")
    assert (tmp_path / "res" / "table.csv").is_file() and (tmp_path / "res" / "table.tex").is_file()
    assert (tmp_path / "res" / "ablation-smoke.png").is_file()  # specs outside analyses/ keep figures local
    cells = sorted((tmp_path / "res" / "cells").glob("*.json"))
    assert len(cells) == 2 + 4
    before = {p.name: p.read_text() for p in cells}
    outcome = run_grid(load_spec(spec_path), tmp_path / "res")
    assert outcome["failed"] == {} and not outcome["missing"]
    assert {p.name: p.read_text() for p in cells} == before  # nothing reran
    geometry = json.loads((tmp_path / "res" / "geometry.json").read_text())
    assert geometry["RNG@2.0"]["magnitude"] == pytest.approx([2.0, 2.0])
    assert geometry["-mean"]["mg"][0] < geometry["none"]["mg"][0]


def test_killed_grid_resumes_with_identical_finished_cells(world_dir, tmp_path):
    spec_path = smoke_spec(world_dir, tmp_path / "smoke.yaml")
    out = tmp_path / "res"
    env = {**os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapkit", "ablate", str(spec_path), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while len(list((out / "cells").glob("*.json"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.read_text() for p in (out / "cells").glob("*.json")}
    if len(finished) == 6:
        pytest.skip("the grid finished before it could be killed")
    assert finished, "no cell finished before the kill"
    for text in finished.values():
        json.loads(text)  # no corrupt result file
    outcome = run_grid(load_spec(spec_path), out)
    assert not outcome["missing"]
    for name, text in finished.items():
        assert (out / "cells" / name).read_text() == text


def test_failed_cell_is_reported_and_the_rest_completes(world_dir, tmp_path):
    rows = [
        {"label": "ok", "set": {"adapter": "noise"}},
        {"label": "broken", "set": {"adapter": "noise", "data_files": {}, "eval_split": "nosuchsplit"}},
    ]
    spec = load_spec(smoke_spec(world_dir, tmp_path / "s.yaml", rows=rows))
    outcome = run_grid(spec, tmp_path / "res", retries=1)
    assert len(outcome["failed"]) == 1 and len(outcome["results"]) == 1
    (failure,) = outcome["failed"].values()
    assert failure["label"] == "broken/ve" and "nosuchsplit" in failure["error"] and failure["permanent"]


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_on_a_local_instance(world_dir, tmp_path):
    pytest.importorskip("ray")
    import ray

    rows = [{"label": "none", "set": {"adapter": "noise"}}]
    spec = load_spec(smoke_spec(world_dir, tmp_path / "s.yaml", rows=rows))
    try:
        outcome = run_grid(spec, tmp_path / "res", executor="ray", jobs=1)
    finally:
        ray.shutdown()
    assert outcome["failed"] == {} and len(outcome["results"]) == 1
    local = run_grid(spec, tmp_path / "res-local")
    assert {k: v.metrics for k, v in local["results"].items()} == {
        k: v.metrics for k, v in outcome["results"].items()
    }


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.update(colums=1), "unknown key 'colums'"),
        (lambda s: s.update(rows=[]), "empty grid"),
        (lambda s: s["rows"].append({"label": "x", "set": {"adapter": "nosie"}}), "Unknown adapter 'nosie'"),
        (
            lambda s: s["rows"].append({"label": "x", "grid": {"adapter_options.magnitude": ["big"]}}),
            "must be numbers",
        ),
        (lambda s: s.update(table="tabel"), "Unknown table 'tabel'"),
        (lambda s: s["base"].update(epoch=2), "unknown key 'epoch'. Did you mean: epochs"),
    ],
)
def test_invalid_specs_fail_before_any_run(world_dir, tmp_path, capsys, mutate, message):
    path = smoke_spec(world_dir, tmp_path / "bad.yaml")
    spec = yaml.safe_load(path.read_text())
    mutate(spec)
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(GapkitError, match=message):
        load_spec(path)
    assert main(["ablate", str(path), "--out", str(tmp_path / "res")]) == 2
    assert str(path) in capsys.readouterr().err
    assert not (tmp_path / "res").exists()


def test_retrained_encoder_weights_make_new_cells(world_dir, tmp_path):
    """The cell key covers the weights behind the encoder name, not only the config."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from gapkit.ablate.spec import encoder_fingerprint
    from gapkit.encoders.shapes import ASSET_DIR

    weights = tmp_path / "shapes-clip"
    shutil.copytree(ASSET_DIR, weights)
    path = smoke_spec(world_dir, tmp_path / "s.yaml", rows=[{"label": "none", "set": {"adapter": "noise"}}])
    spec = yaml.safe_load(path.read_text())
    spec["base"]["encoder"] = f"gapkit-shapes:{weights}"
    path.write_text(yaml.safe_dump(spec))
    before = [c.key for c in load_spec(path).cells()]
    tensors = load_file(str(weights / "model.safetensors"))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3  # "retrained": same name, same config, other weights
    save_file(tensors, str(weights / "model.safetensors"))
    encoder_fingerprint.cache_clear()  # a new process would hash the weights anew
    after = [c.key for c in load_spec(path).cells()]
    assert len(before) == len(after) == 1 and before != after
    assert [c.config.to_dict() for c in load_spec(path).cells()][0]["encoder"] == f"gapkit-shapes:{weights}"


def test_committed_cells_match_their_specs():
    """The committed results (the v2 tables and the v1 archive) are found under their specs' cell
    keys: each cell's result file is named by its key (v1 files by their converted config's key and
    the weights they record, which the archived specs pin). A change of the shipped weights or of a
    spec's cells fails here until the tables are regenerated."""
    from pathlib import Path

    from gapkit.ablate.runner import default_out, jobs_for, load_results

    root = Path(__file__).resolve().parent.parent / "analyses"
    for name in (
        "v1/bias",
        "v1/noise",
        "v1/table1",
        "bias",
        "noise",
        "table1",
        "precheck",
        "precheck-world1",
        "methods",
    ):
        spec = load_spec(root / f"{name}.yaml")
        jobs = jobs_for(spec, default_out(spec))
        assert all(Path(j.result_path).is_file() for j in jobs), name
        assert len(load_results(spec, default_out(spec))) == len(jobs), name


def test_cell_lock_is_exclusive_and_released(tmp_path):
    from gapkit.ablate.cells import _cell_lock

    run = tmp_path / "runs" / "abc"
    with _cell_lock(run):
        with pytest.raises(GapkitError, match="cell abc is being run by another process"):
            with _cell_lock(run):
                pass
    with _cell_lock(run):  # released when the first holder finished
        pass


def test_spec_pinned_to_other_weights_renders_but_does_not_run(tmp_path):
    """An archived spec (weights_sha256 of weights no longer shipped) keys its cells by the pinned
    weights; running it is refused with the reason, rendering is allowed."""
    from gapkit.ablate.runner import run_grid

    path = tmp_path / "pinned.yaml"
    path.write_text(
        "name: pinned\ntable: noise\ntasks: [caption-single]\n"
        f"weights_sha256: {'ab' * 32}\nbase: {{encoder: gapkit-shapes, epochs: 1}}\n"
        "rows:\n  - label: none\n    set: {adapter: none}\n"
    )
    spec = load_spec(path)
    from gapkit.ablate.spec import cell_key

    cell = spec.cells()[0]
    assert cell.key == cell_key(cell.config.to_dict(), "ab" * 32)
    with pytest.raises(GapkitError, match="now resolves to .*--render-only"):
        run_grid(spec, tmp_path / "out")
    assert run_grid(spec, tmp_path / "out", only_render=True)["missing"]  # nothing ran, nothing written
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("ab" * 32, "abc"))
    with pytest.raises(GapkitError, match="weights_sha256 must be 64 lowercase hex digits"):
        load_spec(bad)


def test_methods_table_shows_the_geometry_each_method_leaves(world_dir, tmp_path):
    """The methods table: CLOSE's noise beside C3, DeCap and nearest caption, each with the MG and
    L2M its deterministic transforms leave; C3's collapse leaves the smallest centroid distance."""
    rows = [
        {"label": "noise", "set": {"adapter": "noise"}},
        {"label": "c3", "set": {"adapter": "c3", "noise": 0.1265}},
        {"label": "decap", "set": {"adapter": "decap"}},
        {"label": "nearest", "set": {"adapter": "nearest-caption"}},
    ]
    spec_path = smoke_spec(
        world_dir, tmp_path / "methods.yaml", table="methods", rows=rows, tasks=["caption-single"]
    )
    raw = yaml.safe_load(spec_path.read_text())
    raw.pop("reference")
    spec_path.write_text(yaml.safe_dump(raw))
    assert main(["ablate", str(spec_path), "--out", str(tmp_path / "res")]) == 0
    md = (tmp_path / "res" / "table.md").read_text()
    assert "| Method | w | MG | L2M | Cap. CIDEr |" in md and "4 of 4 cells" in md
    geometry = json.loads((tmp_path / "res" / "geometry.json").read_text())
    l2m = {k: v["l2m"][0] for k, v in geometry.items()}
    assert l2m["c3"] < l2m["noise"] and l2m["nearest"] < l2m["noise"]
    assert (tmp_path / "res" / "ablation-smoke.png").is_file()
