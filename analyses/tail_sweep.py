"""Where the texts vary: a sweep over synthetic text tails on the shipped organism (issue 23).

    python analyses/tail_sweep.py --jobs 2      # about 70 min on 2 cores; finished runs are reused
    python analyses/tail_sweep.py --render-only # table and figure from results.json's points (no runs)

A decoder trained on clean text transfers to images when the texts vary only where the images also
vary (the shipped tiny CLIP: 0.4% of the text variance beyond the top 50 text principal directions);
real CLIP's texts keep 27% there, in weak directions that carry what a caption says. This sweep adds
such a tail to the shipped organism's embeddings and measures, at the pre-check's protocol
(caption-single, 5 epochs, 10,000 training examples, seed 0, 500 test images), the three pre-check
decoders: text without noise, text + w = 0.08, images.

Encoder ``tail-sweep:S:F`` (analyses/tail_encoder.py; a synthetic organism, not a model):

- text rows: unit(t) + S * unit(B C w), with w the caption's word counts (padding, start and end
  removed), C a fixed (256, vocab) Gaussian code, B a fixed orthonormal (d, 256) basis: the words a
  caption uses, written into 256 weak directions at norm S (the tail strength).
- image rows: unit(x) + S * unit(F * unit(B C u) + sqrt(1 - F^2) * unit(B z)), with u the word
  counts of all the image's reference captions (what can be said of it) and z a Gaussian draw seeded
  by the image's pixels (variation unrelated to the captions). F (fidelity): 0 = none (only
  unrelated variation in the tail directions), 0.5 = partial, 1 = full (the image's own content).

A text decoder reads the same text rows whatever F is (F only changes images), so each text decoder
is trained once per S (with F = 0) and its checkpoint evaluated on the images of every F.

Ratios: mean CIDEr of a text decoder / the images model on the same 500 test items, with a 95%
paired bootstrap interval (2,000 replicates). Above the floor: (text - floor) / (images - floor),
floor = the images model's captions shuffled across the test images (same items, same bootstrap).
Geometry: ``gapkit.stats.textspread`` on the 500 test images with their first caption (as the
real-CLIP fixture: one caption per image, n = 500), grouped-jackknife intervals.

A finished run is reused only when its config and its recorded encoder identity (which holds the
tail's construction settings, tail_encoder.TAIL_IDENTITY) are today's; the committed results were
made before that identity existed, by the same construction (revision 1), so a rerun recomputes them.

Writes results/tail-sweep/results.json, table.md and phase.png / phase.pdf."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import yaml

from gapkit.close.config import CloseConfig
from gapkit.close.run import eval_run, train_run
from gapkit.close.train import CHECKPOINT
from gapkit.encoders import create_encoder
from gapkit.metrics import score_items
from gapkit.records import EvalRecord, RunRecord, read_record
from gapkit.stats.textspread import EXPLAIN, TEXTSPREAD_KEYS, text_spread_intervals
from gapkit.tinyclip.model import preprocess
from gapkit.worlds.shapes.draw import render_array

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from intervals import ratio_interval  # noqa: E402  (a sibling script)
from tail_encoder import TAIL_DIM, WORLD_SEED, world  # noqa: E402  (registers tail-sweep)

OUT = HERE / "results" / "tail-sweep"
RUNS = OUT / "runs"
COMMAND = ["python", "analyses/tail_sweep.py", "--jobs", "2"]
BASE = {
    "task": "caption-single",
    "epochs": 5,
    "max_train_examples": 10000,
    "eval_split": "test",
    "max_eval_examples": 500,
    "seed": 0,
}
TEXT_ROWS = {
    "text, no noise": {"adapter": "none"},
    "text + noise (w = 0.08)": {"adapter": "noise", "noise": 0.08},
}
STRENGTHS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
FIDELITIES = {"none": 0.0, "partial": 0.5, "full": 1.0}
PARTIAL_FROM = 0.3  # partial fidelity only at the stronger tails, where the fidelity can matter
BOOT_REPS, BOOT_SEED, SHUFFLE_SEED = 2000, 0, 0
PREDICTOR_KEYS = (*TEXTSPREAD_KEYS, "tail_agreement")
CONSTANT = "a simple drawing of a triangle"  # the images model's most frequent caption (precheck_baselines)


def points() -> list[tuple[float, str]]:
    """(tail strength, fidelity) of every point; at S = 0 there is no tail, so one point."""
    out = [(0.0, "none")]
    for s in STRENGTHS[1:]:
        out += [(s, f) for f in FIDELITIES if f != "partial" or s >= PARTIAL_FROM]
    return out


def spec(s: float, fidelity: str) -> str:
    return f"tail-sweep:{s:g}:{FIDELITIES[fidelity]:g}"


# --- runs ------------------------------------------------------------------------------------------
def text_run(s: float, row: str) -> Path:
    return RUNS / f"s{s:g}-{list(TEXT_ROWS).index(row)}-text"


def image_run(s: float, fidelity: str) -> Path:
    return RUNS / f"s{s:g}-{fidelity}-images"


def eval_copy(s: float, row: str, fidelity: str) -> Path:
    return RUNS / f"s{s:g}-{list(TEXT_ROWS).index(row)}-text-on-{fidelity}"


def _train(run: str, config: dict) -> None:
    torch.set_num_threads(1)  # one core per job: --jobs 2 fills the machine without oversubscribing
    cfg, run = CloseConfig.from_dict(config), Path(run)
    if (run / "metrics.json").is_file() and CloseConfig.load(run / "config.yaml").to_dict() == cfg.to_dict():
        if _made_by(run / "metrics.json", RunRecord, cfg.encoder):
            return  # finished with this exact config and this encoder
    train_run(cfg, run, overwrite=True, command=COMMAND)


def _made_by(path: Path, kind, encoder: str) -> bool:
    """Whether the record at ``path`` was computed with the encoder ``encoder`` is today (the spec
    names the tail's strength and fidelity; its identity also holds the construction's settings)."""
    return read_record(path, kind).provenance.get("encoder") == create_encoder(encoder).identity()


def _evaluate(trained: str, copy: str, encoder: str) -> None:
    """Evaluate a text decoder's checkpoint on another fidelity's images (its text rows, hence its
    training, are the same for every fidelity)."""
    torch.set_num_threads(1)
    trained, copy = Path(trained), Path(copy)
    cfg = CloseConfig.load(trained / "config.yaml").to_dict()
    cfg["encoder"] = encoder
    if (copy / "metrics-test.json").is_file() and _same_checkpoint(trained, copy):
        same_config = CloseConfig.load(copy / "config.yaml").to_dict() == CloseConfig.from_dict(cfg).to_dict()
        if same_config and _made_by(copy / "metrics-test.json", EvalRecord, encoder):
            return
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for name in (CHECKPOINT, "adapter.pt"):
        if (trained / name).is_file():
            shutil.copy2(trained / name, copy / name)
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    eval_run(copy, split="test", command=COMMAND)


def _same_checkpoint(a: Path, b: Path) -> bool:
    return (b / CHECKPOINT).is_file() and (a / CHECKPOINT).read_bytes() == (b / CHECKPOINT).read_bytes()


def run_all(jobs: int) -> None:
    """Every training, then every cross-fidelity evaluation once its decoder is trained."""
    trainings = {}
    for s in STRENGTHS:  # weakest tails first: a partial sweep is a complete smaller one
        for row, over in TEXT_ROWS.items():
            trainings[str(text_run(s, row))] = {**BASE, "encoder": spec(s, "none"), **over}
        for f in (f for s2, f in points() if s2 == s):
            trainings[str(image_run(s, f))] = {**BASE, "encoder": spec(s, f), "train_on": "image"}
    evals = {
        str(text_run(s, row)): [
            (str(eval_copy(s, row, f)), spec(s, f)) for s2, f in points() if s2 == s and f != "none"
        ]
        for s in STRENGTHS
        for row in TEXT_ROWS
    }
    if jobs == 1:  # in this process, in order
        for run, config in trainings.items():
            _train(run, config)
            for copy, enc in evals.get(run, []):
                _evaluate(run, copy, enc)
        return
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(_train, run, over): run for run, over in trainings.items()}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                run = pending.pop(fut)
                fut.result()
                print(f"done {Path(run).name} ({len(pending)} left)", flush=True)
                for copy, enc in evals.get(run, []):
                    pending[pool.submit(_evaluate, run, copy, enc)] = copy


# --- results ---------------------------------------------------------------------------------------
def _cider(path: Path, kind) -> tuple[np.ndarray, list[str], list[list[str]]]:
    rec = read_record(path, kind)
    preds = json.loads(
        (path.parent / ("predictions.json" if kind is RunRecord else "predictions-test.json")).read_text()
    )
    return np.asarray(rec.per_item["cider"]), [p["prediction"] for p in preds], [p["refs"] for p in preds]


def _text_scores(s: float, row: str, fidelity: str) -> np.ndarray:
    if fidelity == "none":
        return _cider(text_run(s, row) / "metrics.json", RunRecord)[0]
    return _cider(eval_copy(s, row, fidelity) / "metrics-test.json", EvalRecord)[0]


def above_floor_interval(text, images, floor) -> list[float]:
    """(mean text - mean floor) / (mean images - mean floor), paired bootstrap over items."""
    a, b, c = (np.asarray(v, np.float64) for v in (text, images, floor))
    idx = np.random.default_rng(BOOT_SEED).integers(len(a), size=(BOOT_REPS, len(a)))
    boot = (a[idx].mean(1) - c[idx].mean(1)) / (b[idx].mean(1) - c[idx].mean(1))
    value = (a.mean() - c.mean()) / (b.mean() - c.mean())
    return [float(value), *np.percentile(boot, [2.5, 97.5]).tolist()]


def geometry(s: float, fidelity: str, image_ids: list[int]) -> dict:
    """textspread of the 500 test images with their first caption, through the point's encoder."""
    by_id = {r.image_id: r for r in world().split("test")}
    recs = [by_id[i] for i in image_ids]
    enc = create_encoder(spec(s, fidelity))
    image = enc.image_features(preprocess(render_array([r.scene for r in recs])))
    text = enc.text_features([r.captions[0] for r in recs])
    return {**text_spread_intervals(image, text), "tail_agreement": [tail_agreement(image, text), NAN, NAN]}


NAN = float("nan")


def tail_agreement(image: np.ndarray, text: np.ndarray, k: int = 50) -> float:
    """A paired statistic (exploratory, not in gapkit measure): along each text principal
    direction beyond the top ``k``, the correlation over pairs of the image's and its caption's
    coordinates, averaged with the text variance as weights. 1: the images carry, in the texts'
    weak directions, what their captions say there; 0: unrelated variation."""
    x = image / np.linalg.norm(image, axis=1, keepdims=True)
    y = text / np.linalg.norm(text, axis=1, keepdims=True)
    xc, yc = x - x.mean(0), y - y.mean(0)
    ev, vecs = np.linalg.eigh(yc.T @ yc / len(y))
    tail = vecs[:, ::-1][:, k : len(y) - 1]  # (d, m) the weak directions the sample spans
    px, py = xc @ tail, yc @ tail
    r = (px * py).sum(0) / np.sqrt((px**2).sum(0) * (py**2).sum(0))
    w = ev[::-1][k : len(y) - 1]
    return float((w * r).sum() / w.sum())


def point_result(s: float, fidelity: str) -> dict:
    images, preds, refs = _cider(image_run(s, fidelity) / "metrics.json", RunRecord)
    shuffled = preds[:]
    random.Random(SHUFFLE_SEED).shuffle(shuffled)
    floor = np.asarray(score_items("caption", shuffled, refs)[1]["cider"])
    out = {"strength": s, "fidelity": fidelity, "encoder": spec(s, fidelity), "cider": {}, "ratio": {}}
    out["cider"]["images"] = float(images.mean())
    out["cider"]["floor (images model, shuffled)"] = float(floor.mean())
    out["cider"]["constant caption"] = score_items("caption", [CONSTANT] * len(refs), refs)[0]["cider"]
    for row in TEXT_ROWS:
        text = _text_scores(s, row, fidelity)
        out["cider"][row] = float(text.mean())
        out["ratio"][row] = {
            "raw": ratio_interval(text, images, BOOT_REPS, BOOT_SEED),
            "above_floor": above_floor_interval(text, images, floor),
        }
    ids = [int(p["image_id"]) for p in json.loads((image_run(s, fidelity) / "predictions.json").read_text())]
    out["geometry"] = geometry(s, fidelity, ids)
    out["signature_1"] = signature_1(out["ratio"])
    return out


def signature_1(ratio: dict) -> bool:
    """CLOSE's pattern, each interval on the right side: no noise <= 0.5x images (raw and above the
    floor), w = 0.08 >= 0.7x (raw)."""
    clean, noisy = ratio["text, no noise"], ratio["text + noise (w = 0.08)"]
    return clean["raw"][2] <= 0.5 and clean["above_floor"][2] <= 0.5 and noisy["raw"][1] >= 0.7


def predictors(points: list[dict]) -> dict:
    """Spearman rank correlation of each geometry statistic with the clean-text raw ratio, over
    every point and over the points whose images carry no caption content in the tail (F = 0).
    The tail's strength orders the F = 0 points, so any statistic monotone in it correlates there;
    a predictor must also order the points across fidelities."""
    from scipy.stats import spearmanr

    out = {}
    for subset, pts in (
        ("all points", points),
        ("fidelity none", [p for p in points if p["fidelity"] == "none"]),
    ):
        ratio = [p["ratio"]["text, no noise"]["raw"][0] for p in pts]
        out[subset] = {
            key: float(spearmanr([p["geometry"][key][0] for p in pts], ratio).statistic)
            for key in PREDICTOR_KEYS
        }
        out[subset]["n"] = len(pts)
    return out


def collect() -> dict:
    return {
        "command": " ".join(COMMAND),
        "base": BASE,
        "tail_dim": TAIL_DIM,
        "world_seed": WORLD_SEED,
        "bootstrap": {"reps": BOOT_REPS, "seed": BOOT_SEED},
        "geometry_explained": EXPLAIN,
        "points": [point_result(s, f) for s, f in points()],
    }


def with_predictors(result: dict) -> dict:
    """The predictors over the points, and the real-CLIP fixture's tail agreement beside them."""
    return {
        **result,
        "predictors": predictors(result["points"]),
        "real_clip_tail_agreement": fixture_agreement(),
    }


FIXTURE = HERE.parent.parent / "shared" / "fixtures" / "real-clip" / "features_clip.npy"


def fixture_agreement() -> float | None:
    """``tail_agreement`` of the 500 real-CLIP pairs (None where the fixture is absent)."""
    if not FIXTURE.is_file():
        return None
    a = np.load(FIXTURE).astype(np.float64)
    return tail_agreement(a[0], a[1])


def _fmt(v: list[float]) -> str:
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def _cider_cell(c: dict) -> str:
    keys = (*TEXT_ROWS, "images", "floor (images model, shuffled)", "constant caption")
    return " / ".join(f"{c[k]:.1f}" for k in keys)


def render(result: dict) -> str:
    lines = [
        "# Where the texts vary: a synthetic text tail on the shipped organism",
        "",
        f"Regenerate: `{result['command']}` (see its docstring; `--render-only` re-renders this file "
        "from results.json). Single-caption CIDEr on 500 test images, seed 0, the pre-check's budget "
        "(5 epochs, 10,000 examples). Ratios: text decoder / images model, 95% paired bootstrap "
        "intervals; above the floor: (text - floor) / (images - floor), floor = the images model's "
        "captions shuffled across the test images. Signature 1 (CLOSE on real CLIP: 0.15 and 0.71): "
        "no noise <= 0.5 raw and above the floor, w = 0.08 >= 0.7, each interval on its side.",
        "",
        "| tail S | fidelity | text beyond PC 50 | image inside text top 50 | text eff. rank | "
        "CIDEr: no noise / w 0.08 / images / shuffled / constant | "
        "no noise / images | above floor | w 0.08 / images | above floor | signature 1 |",
        "|---" * 11 + "|",
    ]
    for p in result["points"]:
        g, r = p["geometry"], p["ratio"]
        clean, noisy = r["text, no noise"], r["text + noise (w = 0.08)"]
        lines.append(
            f"| {p['strength']:g} | {p['fidelity']} | {_fmt(g['text_beyond_k'])} "
            f"| {_fmt(g['image_inside_k'])} | {g['text_effective_rank'][0]:.0f} "
            f"| {_cider_cell(p['cider'])} | {_fmt(clean['raw'])} "
            f"| {_fmt(clean['above_floor'])} | {_fmt(noisy['raw'])} | {_fmt(noisy['above_floor'])} "
            f"| {'yes' if p['signature_1'] else 'no'} |"
        )
    lines += [
        "",
        "Spearman rank correlation of each geometry statistic with the clean-text ratio (raw):",
        "",
        "| points | n | " + " | ".join(PREDICTOR_KEYS) + " |",
        "|---" * (len(PREDICTOR_KEYS) + 2) + "|",
    ]
    for subset, rho in result["predictors"].items():
        lines.append(
            f"| {subset} | {rho['n']} | " + " | ".join(f"{rho[k]:+.2f}" for k in PREDICTOR_KEYS) + " |"
        )
    if result.get("real_clip_tail_agreement") is not None:
        agreement = result["real_clip_tail_agreement"]
        lines += [
            "",
            f"tail_agreement of the real-CLIP fixture (500 pairs, one caption each): {agreement:.2f}",
        ]
    lines += ["", "Geometry columns (gapkit.stats.textspread, 500 test images x first caption):", ""]
    lines += [f"- {k}: {EXPLAIN[k]}" for k in TEXTSPREAD_KEYS]
    lines.append(
        "- tail_agreement (exploratory, paired; not in gapkit measure): along each text direction beyond "
        "the top 50, the correlation of image and caption coordinates over pairs, text-variance weighted"
    )
    return "\n".join(lines) + "\n"


def figure(result: dict, stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind, title in zip(axes, ("raw", "above_floor"), ("raw ratio", "above the floor")):
        for fid, colour in zip(FIDELITIES, ("C3", "C1", "C0")):
            pts = [p for p in result["points"] if p["fidelity"] == fid or p["strength"] == 0]
            x = [p["geometry"]["text_beyond_k"][0] for p in pts]
            for row, style in zip(TEXT_ROWS, ("-o", "--s")):
                v = np.array([p["ratio"][row][kind] for p in pts])
                ax.errorbar(
                    x,
                    v[:, 0],
                    yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]],
                    fmt=style,
                    color=colour,
                    capsize=2,
                    label=f"{row}, image fidelity {fid}",
                )
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.axhline(0.7, color="grey", lw=0.8, ls="-.")
        ax.set_xlabel("text variance beyond the top 50 text directions")
        ax.set_title(title)
    axes[0].set_ylabel("CIDEr / images model")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(stem.with_suffix(f".{ext}"), dpi=130)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.render_only:  # the points as committed; the predictors recomputed from them (no runs)
        result = with_predictors(json.loads((OUT / "results.json").read_text()))
    else:
        run_all(args.jobs)
        result = with_predictors(collect())
    (OUT / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (OUT / "table.md").write_text(render(result))
    figure(result, OUT / "phase")
    print(render(result))


if __name__ == "__main__":
    main()
