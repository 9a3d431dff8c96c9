"""The protocol for committed tables: seeds and items in specs, mean [95% interval] aggregation,
signatures, the noise-magnitude figure, and reading v1 result files."""

import json
import math

import numpy as np
import pytest
import yaml
from scipy.stats import t as student_t

from gapkit.ablate.intervals import combine
from gapkit.ablate.legacy import upgrade_result
from gapkit.ablate.runner import jobs_for, load_results
from gapkit.ablate.signatures import evaluate_check, signatures_table
from gapkit.ablate.spec import load_spec
from gapkit.ablate.tables import TABLES, cell_runs, score_text
from gapkit.cli.main import main
from gapkit.errors import GapkitError
from gapkit.records import CellResult

from .test_ablate import smoke_spec

# Three runs (seeds) scored on the same four items.
X = np.array([[10, 20, 30, 40], [12, 18, 34, 40], [14, 22, 26, 46]], dtype=float)


# --- intervals --------------------------------------------------------------------------------
def test_interval_combines_seed_spread_and_item_bootstrap_by_hand():
    iv = combine(list(X.mean(1)), list(X), ["same"] * 3)
    # by hand: run means 25, 26, 27 -> m = 26, s^2 = 1, V_seed = 1/3; item means over runs
    # a = (12, 20, 30, 42), deviations (-14, -6, 4, 16), V_item = (196 + 36 + 16 + 256) / 4^2 = 31.5
    v_seed, v_item = 1 / 3, 31.5
    df = (v_seed + v_item) ** 2 / (v_seed**2 / 2 + v_item**2 / 3)
    half = student_t.ppf(0.975, df) * math.sqrt(v_seed + v_item)
    assert iv.mean == 26.0 and iv.runs == 3 and iv.items == 4
    assert iv.seed_var == pytest.approx(v_seed) and iv.item_var == pytest.approx(v_item)
    assert iv.df == pytest.approx(df) and df == pytest.approx(3.063, abs=1e-3)
    assert (iv.lo, iv.hi) == (pytest.approx(26 - half), pytest.approx(26 + half))
    assert iv.text() == f"26.0 [{26 - half:.1f}, {26 + half:.1f}]"


def test_item_variance_is_the_bootstrap_variance():
    """The closed form against a brute-force bootstrap of the same statistic (paired items)."""
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, size=(3, 40))
    draws = rng.integers(0, 40, size=(20000, 40))
    boot = np.array([x[:, d].mean() for d in draws])
    iv = combine(list(x.mean(1)), list(x), ["same"] * 3)
    assert iv.item_var == pytest.approx(boot.var(), rel=0.05)


def test_interval_parts_that_cannot_be_estimated():
    unpaired = combine(list(X.mean(1)), list(X), ["a", "b", "c"])  # runs scored on different items
    assert unpaired.item_var == pytest.approx((125 / 4 + 130 / 4 + 139 / 4) / 9)
    one = combine([25.0], [X[0]], ["a"])  # one seed: the item bootstrap alone, nu = n - 1
    assert one.seed_var is None and one.item_var == pytest.approx(125 / 4) and one.df == pytest.approx(3)
    assert one.hi - one.mean == pytest.approx(student_t.ppf(0.975, 3) * math.sqrt(125 / 4))
    seeds_only = combine([25.0, 26.0, 27.0])  # no per-item scores: the t interval of the run means
    assert seeds_only.hi - 26 == pytest.approx(student_t.ppf(0.975, 2) * math.sqrt(1 / 3))
    assert "seeds only" in seeds_only.method
    alone = combine([25.0])
    assert alone.lo is None and alone.text() == "25.0" and "no interval" in alone.method
    assert combine([]).text() == "–"


# --- specs ------------------------------------------------------------------------------------
def _spec(tmp_path, name="s.yaml", tasks=None, rows=None, **top):
    path = smoke_spec("unused-world", tmp_path / name, rows=rows, tasks=tasks)
    raw = yaml.safe_load(path.read_text())
    raw.update(top)
    for key in [k for k, v in top.items() if v is None]:
        raw.pop(key)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_seeds_make_runs_and_repeats_pair_with_seeds(tmp_path):
    rows = [
        {"label": "none", "set": {"adapter": "noise"}},
        {
            "label": "RNG",
            "set": {"adapter": "random-shift"},
            "grid": {"adapter_options.magnitude": [0.5]},
            "repeat": {"adapter_options.direction_seed": [0, 1, 2]},
        },
    ]
    path = _spec(tmp_path, rows=rows, seeds=[0, 1, 2], items=50)
    raw = yaml.safe_load(path.read_text())
    raw["base"].pop("max_eval_examples")
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    cells = spec.cells()
    none = [c for c in cells if c.row == "none"]
    assert [c.config.seed for c in none] == [0, 1, 2] and [c.params["seed"] for c in none] == [0, 1, 2]
    rng = [c for c in cells if c.row == "RNG@0.5"]
    # the RNG rows: each direction is one run with its own seed, not directions x seeds
    assert [(c.params["adapter_options.direction_seed"], c.config.seed) for c in rng] == [
        (0, 0),
        (1, 1),
        (2, 2),
    ]
    assert all(c.config.max_eval_examples == 50 for c in cells)
    assert load_spec(
        _spec(tmp_path, "r.yaml", repeats=3, rows=[{"label": "n", "set": {"adapter": "noise"}}])
    ).seeds == [0, 1, 2]


@pytest.mark.parametrize(
    "top, message",
    [
        (
            {"seeds": [0, 1]},
            "row 'RNG' repeats adapter_options.direction_seed over 3 values but the spec has 2 seeds",
        ),
        ({"seeds": [0, 0, 1]}, "seeds must be distinct"),
        ({"seeds": "0,1,2"}, "seeds must be a non-empty list of integers >= 0"),
        ({"seeds": [0, 1, 2], "repeats": 3}, "give seeds \\(a list\\) or repeats \\(a count\\), not both"),
        ({"repeats": 0}, "repeats must be a positive integer"),
        ({"items": 0}, "items must be a positive integer"),
        ({"items": 1000, "base_max_eval": True}, "give items or base.max_eval_examples, not both"),
        (
            {"figure": "noise-magnitud"},
            "Unknown ablation figure 'noise-magnitud'. Did you mean: noise-magnitude",
        ),
    ],
)
def test_protocol_errors(tmp_path, capsys, top, message):
    rows = [
        {
            "label": "RNG",
            "set": {"adapter": "random-shift"},
            "repeat": {"adapter_options.direction_seed": [0, 1, 2]},
        }
    ]
    base_max_eval = top.pop("base_max_eval", False)
    path = _spec(tmp_path, rows=rows, **top)
    if not base_max_eval:
        raw = yaml.safe_load(path.read_text())
        raw["base"].pop("max_eval_examples")
        path.write_text(yaml.safe_dump(raw))
    with pytest.raises(GapkitError, match=message):
        load_spec(path)
    assert main(["ablate", str(path), "--out", str(tmp_path / "res")]) == 2
    assert str(path) in capsys.readouterr().err and not (tmp_path / "res").exists()


def test_one_images_run_for_both_captioning_columns(tmp_path):
    rows = [{"label": "text", "set": {"adapter": "noise"}}, {"label": "images", "set": {"train_on": "image"}}]
    spec = load_spec(_spec(tmp_path, tasks=["caption-single", "caption-multi"], rows=rows, seeds=[0, 1]))
    img = {(c.task, c.config.seed): c for c in spec.cells() if c.row == "images"}
    for seed in (0, 1):
        assert img[("caption-multi", seed)].key == img[("caption-single", seed)].key
        assert img[("caption-multi", seed)].config.task == "caption-single"
    text = [c for c in spec.cells() if c.row == "text"]
    assert len({c.key for c in text}) == 4  # the text rows stay one run per task and seed
    jobs = jobs_for(spec, tmp_path / "res")
    assert len(jobs) == 4 + 2 and sum(j.label == "images/caption-single" for j in jobs) == 2


# --- tables -----------------------------------------------------------------------------------
def _result(cell, scores, metric="cider", items="same", **extra):
    return CellResult.from_dict(
        {
            "key": cell.key,
            "label": f"{cell.row}/{cell.task}",
            "config": cell.config.to_dict(),
            "metrics": {metric: float(np.mean(scores)), "n": len(scores), "items": items},
            "per_item": {metric: list(map(float, scores))},
            "history": [],
            "noise": cell.config.noise or 0.0,
            "noise_norm": 0.0,
            "dim": 128,
            "n_train": 1,
            "provenance": {},
            **extra,
        }
    )


def test_table_prints_mean_and_interval(tmp_path):
    spec = load_spec(
        _spec(
            tmp_path,
            tasks=["caption-single"],
            rows=[{"label": "n", "set": {"adapter": "noise"}}],
            seeds=[0, 1, 2],
        )
    )
    results = {c.key: _result(c, X[k]) for k, c in enumerate(spec.cells())}
    iv = combine(list(X.mean(1)), list(X), ["same"] * 3)
    table = TABLES.get("noise")(spec, results, {})
    assert table.rows[0][-1] == f"26.0 [{iv.lo:.1f}, {iv.hi:.1f}]"
    partial = {k: v for k, v in list(results.items())[:2]}
    assert score_text(cell_runs(spec, partial)[("n", "caption-single")], "cider").endswith("(2 of 3)")


# --- signatures -------------------------------------------------------------------------------
NOISE_ROWS = [{"label": "none", "set": {"adapter": "none"}}, {"label": "tuned", "set": {"adapter": "noise"}}]


def _sig(**kw):
    """A check; a keyword set to None removes that key."""
    check = {
        "claim": "noise helps",
        "paper": 0.17,
        "kind": "ratio",
        "a": {"row": "none", "task": "caption-single"},
        "b": {"row": "tuned", "task": "caption-single"},
        "op": "<=",
        "threshold": 0.35,
        **kw,
    }
    return {k: v for k, v in check.items() if v is not None}


def _sig_spec(tmp_path, checks):
    return load_spec(
        _spec(tmp_path, tasks=["caption-single", "vqa"], rows=NOISE_ROWS, seeds=[0, 1, 2], signatures=checks)
    )


RNG = np.random.default_rng(0)
TUNED = 100 + RNG.normal(0, 5, (3, 200))  # three seeds x 200 items
NONE = 20 + RNG.normal(0, 5, (3, 200))


def _sig_results(spec, none_scores, tuned_scores):
    out = {}
    for c in spec.cells():
        base = none_scores if c.row == "none" else tuned_scores
        scores = base[c.config.seed]
        out[c.key] = (
            _result(c, scores) if c.task == "caption-single" else _result(c, scores, "vqa_acc_official")
        )
    return out


def test_signature_reproduced_contradicted_inconclusive(tmp_path):
    none_iv = combine(list(NONE.mean(1)), list(NONE), ["same"] * 3)
    tuned_iv = combine(list(TUNED.mean(1)), list(TUNED), ["same"] * 3)
    spec = _sig_spec(
        tmp_path,
        [
            _sig(),
            _sig(kind="difference", op=">", threshold=0.0, claim="none beats tuned"),
            _sig(
                kind="value",
                b=None,
                op=">=",
                threshold=round(none_iv.mean, 1),
                claim="none reaches its own mean",
            ),
        ],
    )
    runs = cell_runs(spec, _sig_results(spec, NONE, TUNED))
    ratio, diff, value = (evaluate_check(c, runs) for c in spec.signatures)
    assert ratio[:2] == ["noise helps", "0.17"] and ratio[3] == "yes"
    q, lo, hi = none_iv.mean / tuned_iv.mean, none_iv.lo / tuned_iv.hi, none_iv.hi / tuned_iv.lo  # by hand
    assert ratio[2] == f"{q:.3g} [{lo:.3g}, {hi:.3g}]" and hi <= 0.35
    assert diff[3] == "no" and "contradicted" in diff[4]  # none is far below tuned, the claim says above
    assert value[3] == "no" and "inconclusive" in value[4] and "straddles" in value[4]


def test_overlapping_intervals_are_not_reproduced(tmp_path):
    spec = _sig_spec(tmp_path, [_sig(kind="difference", op="<", threshold=0.0)])
    runs = cell_runs(spec, _sig_results(spec, X - 1.0, X))  # none is 1 below tuned, intervals overlap
    row = evaluate_check(spec.signatures[0], runs)
    assert row[3] == "no" and "inconclusive" in row[4]


def test_signature_without_results_or_interval(tmp_path):
    spec = _sig_spec(
        tmp_path,
        [_sig(), _sig(a={"row": "none", "task": "vqa", "metric": "vqa_acc_close"}, kind="value", b=None)],
    )
    missing = evaluate_check(spec.signatures[0], cell_runs(spec, {}))
    assert missing[2:] == ["–", "no", "no result for none/caption-single cider"]
    results = _sig_results(spec, X, X)
    row = evaluate_check(spec.signatures[1], cell_runs(spec, results))
    assert row[3] == "no" and row[4] == "none/vqa vqa_acc_close not recorded"
    negative = _sig_results(spec, X, -X)
    assert "undefined" in evaluate_check(spec.signatures[0], cell_runs(spec, negative))[4]
    table = signatures_table(spec, results)
    assert table.header == ["Claim", "Paper", "gapkit [95% interval]", "Reproduced", "Measured reason"]
    assert len(table.rows) == 2 and "overlapping intervals read no" in table.notes[0]


@pytest.mark.parametrize(
    "check, message",
    [
        (
            _sig(a={"row": "nonee", "task": "caption-single"}),
            "signatures\\[0\\].a: no row 'nonee' in the grid",
        ),
        (_sig(a={"row": "none", "task": "ve"}), "task 've' is not a column of the grid"),
        (
            _sig(a={"row": "none", "task": "vqa", "metric": "cider"}),
            "metric 'cider' is not tabulated for vqa",
        ),
        (_sig(kind="ratoi"), "Unknown signature kind 'ratoi'. Did you mean: ratio"),
        (_sig(b=None), "kind ratio needs second cell b"),
        (_sig(kind="value"), "kind value takes no second cell b"),
        (_sig(op="=<"), "op must be one of <, <=, >, >="),
        (_sig(threshold="low"), "threshold must be a finite number"),
        (_sig(claims="x"), "unknown key 'claims'"),
        ({"claim": "x"}, "missing a, kind, op, paper, threshold"),
        (_sig(claim=""), "claim must be a non-empty text"),
        (_sig(a="none"), "a must be a mapping with row and task"),
        ("noise helps", "signatures\\[0\\] must be a mapping with keys a, b, claim"),
    ],
)
def test_signature_errors(tmp_path, capsys, check, message):
    path = _spec(tmp_path, tasks=["caption-single", "vqa"], rows=NOISE_ROWS, signatures=[check])
    with pytest.raises(GapkitError, match=message):
        load_spec(path)
    assert main(["ablate", str(path), "--out", str(tmp_path / "res")]) == 2
    assert str(path) in capsys.readouterr().err
    with pytest.raises(GapkitError, match="signatures must be a list"):
        load_spec(_spec(tmp_path, "b.yaml", signatures={"claim": "x"}))


# --- noise-magnitude figure -------------------------------------------------------------------
def test_noise_magnitude_figure(tmp_path):
    from gapkit.ablate.publish import _figure

    rows = [
        {"label": "none", "set": {"adapter": "none"}},
        {"label": "w", "set": {"adapter": "noise"}, "grid": {"noise": [0.12, 0.04]}},
        {"label": "images", "set": {"train_on": "image"}},
        {"label": "linear", "set": {"adapter": "linear"}},
    ]
    spec = load_spec(
        _spec(tmp_path, tasks=["caption-single", "ve"], rows=rows, seeds=[0, 1, 2], figure="noise-magnitude")
    )
    results = {}
    for c in spec.cells():
        w = c.config.noise or 0.0
        shift = {"none": 0.0, "w@0.04": 5.0, "w@0.12": 8.0, "images": 50.0, "linear": 60.0}[c.row]
        metric = "cider" if c.task == "caption-single" else "accuracy"
        results[c.key] = _result(c, X[c.config.seed] + shift, metric, noise=w)
    paths = _figure(spec, results, {}, tmp_path / "fig")
    assert {p.rsplit(".", 1)[1] for p in paths} == {"png", "pdf"}
    numbers = json.loads((tmp_path / "fig" / "ablation-smoke.json").read_text())
    assert numbers["figure"] == "noise-magnitude" and numbers["tasks"] == ["Cap. CIDEr", "VE acc."]
    from gapkit.plots.ablation import noise_magnitude_points

    pts = noise_magnitude_points(numbers["rows"], numbers["tasks"])["Cap. CIDEr"]
    assert [p["w"] for p in pts] == [0.0, 0.04, 0.12]  # the text noise rows only, sorted by w
    assert [round(p["mean"], 6) for p in pts] == [26.0, 31.0, 34.0]
    assert all(p["lo"] < p["mean"] < p["hi"] for p in pts)


# --- v1 result files --------------------------------------------------------------------------
V1_CONFIG = {
    "task": "caption-single",
    "task_options": {},
    "world": None,
    "data_root": None,
    "data_files": {},
    "data_patterns": {},
    "encoder": "gapkit-shapes",
    "template": "{}",
    "decoder": "shapes-t5",
    "decoder_options": {},
    "prefix_tokens": 4,
    "adapter": "random-shift",
    "adapter_options": {"magnitude": 0.5, "direction_seed": 0},
    "noise": None,
    "noise_norm": None,
    "adapter_fit_split": "restval",
    "train_on": "text",
    "epochs": 3,
    "batch_size": 128,
    "lr": 0.001,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "seed": 0,
    "max_train_examples": 8000,
    "eval_split": "val",
    "max_eval_examples": 300,
    "beams": 5,
    "max_len": None,
    "meteor": False,
    "device": None,
    "eval_each_epoch": False,
}


def test_v1_results_convert_to_what_they_ran():
    from gapkit.close.config import CloseConfig

    v1 = {
        "key": "old",
        "config": V1_CONFIG,
        "metrics": {"cider": 58.1},
        "noise": 0.294,
        "noise_norm": 3.326,
        "history": [{"epoch": 1, "mg": 0.15, "centroid_distance": 0.79, "loss": 2.5}],
    }
    new = upgrade_result(v1)
    conf = CloseConfig.from_dict(new["config"])
    assert conf.tuned_noise == "matched-norm" and conf.early_stopping is True
    assert conf.adapter_options == {"magnitude": 0.5, "direction_seed": 0, "renorm_before_noise": True}
    assert conf.resolved_noise(128) == pytest.approx(v1["noise"], abs=1e-3)  # the w the v1 run used
    assert conf.resolved_training() == {"lr": 0.001, "weight_decay": 0.0, "epochs": 3, "batch_size": 128}
    assert new["history"][0] == {"epoch": 1, "mg_noisy": 0.15, "centroid_distance_noisy": 0.79, "loss": 2.5}
    assert new["converted_from"].startswith("gapkit 0.1") and v1["config"] is V1_CONFIG  # input untouched
    cov = upgrade_result({**v1, "config": {**V1_CONFIG, "adapter": "cov", "adapter_options": {}}})
    assert cov["config"]["adapter_options"] == {"cov_scale": 1.0}
    assert upgrade_result(new) is new  # current results pass through


def test_v1_result_key_is_its_cell_key_with_the_weights_it_records():
    from gapkit.ablate.spec import cell_key, encoder_fingerprint

    v1 = {"key": "old", "config": V1_CONFIG, "metrics": {"cider": 58.1}, "history": []}
    new = upgrade_result(v1)  # no provenance: the weights gapkit-shapes resolves to now
    assert new["key"] == cell_key(new["config"], encoder_fingerprint("gapkit-shapes"))
    other = upgrade_result({**v1, "provenance": {"encoder": {"weights_sha256": "0" * 64}}})
    assert other["key"] == cell_key(new["config"], "0" * 64) != new["key"]  # other weights: another cell


def test_v1_files_load_into_a_spec_that_pins_v1_settings(tmp_path):
    pins = {
        "tuned_noise": "matched-norm",
        "early_stopping": True,
        "lr": 0.001,
        "batch_size": 128,
        "weight_decay": 0.0,
    }
    path = _spec(
        tmp_path,
        tasks=["caption-single", "caption-multi"],
        rows=[
            {
                "label": "RNG",
                "set": {
                    "adapter": "random-shift",
                    "adapter_options": {"magnitude": 0.5, "renorm_before_noise": True},
                },
            },
            {"label": "images", "set": {"train_on": "image"}},
        ],
    )
    raw = yaml.safe_load(path.read_text())
    raw["base"] = {
        **{k: V1_CONFIG[k] for k in ("epochs", "max_train_examples", "max_eval_examples", "eval_split")},
        **pins,
    }
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path)
    out = tmp_path / "res"
    (out / "cells").mkdir(parents=True)
    files = {
        "a": ("caption-single", "random-shift", "text"),
        "b": ("caption-multi", "random-shift", "text"),
        "c": ("caption-single", "noise", "image"),
        "d": ("caption-multi", "noise", "image"),
    }
    for name, (task, adapter, on) in files.items():
        options = V1_CONFIG["adapter_options"] if adapter == "random-shift" else {}
        conf = {
            **V1_CONFIG,
            "task": task,
            "adapter": adapter,
            "train_on": on,
            "adapter_options": {k: v for k, v in options.items() if k != "direction_seed"},
        }
        (out / "cells" / f"{name}.json").write_text(
            json.dumps(
                {
                    "key": name,
                    "label": f"{name}/{task}",
                    "config": conf,
                    "history": [],
                    "metrics": {"cider": 1.0, "n": 3},
                    **{"noise": 0.0, "noise_norm": 0.0, "dim": 512, "n_train": 1},
                }
            )
        )
    results = load_results(spec, out)
    # a, b: text runs; c: the images model; d (v1's multi-caption images run) matches no current cell
    assert len(results) == 3 == len(jobs_for(spec, out))
    got = sorted((r.config["task"], r.config["train_on"]) for r in results.values())
    assert got == [("caption-multi", "text"), ("caption-single", "image"), ("caption-single", "text")]


def test_ls_lists_signature_kinds_and_ablation_figures(capsys):
    assert main(["ls", "signatures"]) == 0 and main(["ls", "ablation-figures"]) == 0
    out = capsys.readouterr().out
    for name in ("value", "difference", "ratio", "bias", "noise", "noise-magnitude"):
        assert f"  {name} " in out
