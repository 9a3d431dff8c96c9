"""A CLOSE run folder: ``config.yaml`` (feed it back to rerun), ``log.txt``, ``checkpoint.pt``,
``adapter.pt``, ``metrics.json`` and ``predictions.json``."""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

import torch

from ..errors import GapkitError
from ..io import dumps_json, write_files
from ..records import EvalRecord, RunRecord
from ..results import provenance
from .config import CloseConfig
from .decode import evaluate_split, per_item_scores
from .prepare import prepare
from .train import CHECKPOINT, CloseTrainer

log = logging.getLogger("gapkit.close")


@contextlib.contextmanager
def _log_to(path: Path):
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(name)s: %(message)s"))
    root = logging.getLogger("gapkit")
    root.addHandler(handler)
    old = root.level
    root.setLevel(min(old or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()


def _check_run_dir(run: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise GapkitError("Pass --resume or --overwrite, not both.")
    if run.exists() and any(run.iterdir()):
        if overwrite:
            shutil.rmtree(run)
        elif not resume:
            raise GapkitError(
                f"Run folder {run} exists; pass --resume to continue it or --overwrite to replace it."
            )
    elif resume:
        raise GapkitError(f"Nothing to resume: {run} holds no run.")


def train_run(
    cfg: CloseConfig,
    run: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    command: list[str] | None = None,
    verify_images: bool = False,
) -> RunRecord:
    """Train (or resume) and evaluate on ``cfg.eval_split``; returns the run's record."""
    run = Path(run)
    _check_run_dir(run, resume, overwrite)
    if resume:
        saved = CloseConfig.load(run / "config.yaml")
        if saved.to_dict() != cfg.to_dict():
            raise GapkitError(
                f"--resume: the config differs from {run / 'config.yaml'}; rerun with that config."
            )
    run.mkdir(parents=True, exist_ok=True)
    try:
        with _log_to(run / "log.txt"):
            return _train(cfg, run, resume, command, verify_images)
    except BaseException:
        if not resume and not (run / CHECKPOINT).exists():
            shutil.rmtree(run, ignore_errors=True)  # nothing worth keeping: leave no half-written run
        raise


def _train(cfg: CloseConfig, run: Path, resume: bool, command, verify_images: bool) -> RunRecord:
    cfg.save(run / "config.yaml")
    prep = prepare(cfg, verify_images=verify_images)
    trainer = CloseTrainer(prep, run)
    if resume and (run / CHECKPOINT).exists():
        trainer.load()
        log.info("resumed %s after epoch %d", run, trainer.epoch)
    prep.adapter.save(run / "adapter.pt")
    resolved = resolved_settings(prep, trainer)
    log.info(
        "%s: %d training examples (%s), adapter %s, noise w=%.4g (w*sqrt(d)=%.3g, d=%d)",
        cfg.task,
        len(prep.train.examples),
        cfg.train_on,
        cfg.adapter,
        prep.adapter.noise,
        prep.adapter.noise_norm(prep.dim),
        prep.dim,
    )
    log.info("resolved settings: %s", resolved)
    history = trainer.fit()
    metrics, predictions = evaluate_split(prep, cfg.eval_split, trainer.max_len)
    record = RunRecord(
        task=cfg.task,
        split=cfg.eval_split,
        metrics=metrics,
        history=history,
        noise=prep.adapter.noise,
        noise_norm=prep.adapter.noise_norm(prep.dim),
        dim=prep.dim,
        n_train=len(prep.train.examples),
        adapter=prep.adapter.describe(),
        resolved=resolved,
        per_item=per_item_scores(predictions),
        provenance=_run_provenance(prep, command, config=cfg.to_dict()),
    )
    write_files(
        {
            run / "predictions.json": dumps_json(predictions),
            run / "metrics.json": dumps_json(record.to_dict()),
        }
    )
    log.info("%s %s: %s", cfg.task, cfg.eval_split, metrics)
    return record


def resolved_settings(prep, trainer) -> dict:
    """What the config left to defaults, as this run used it: noise, training and decoding settings."""
    cfg = prep.cfg
    return {
        "noise": prep.adapter.noise,
        "noise_norm": prep.adapter.noise_norm(prep.dim),
        "dim": prep.dim,
        "tuned_noise": cfg.tuned_noise,
        **trainer.hp,
        "beams": cfg.beams,
        "early_stopping": cfg.early_stopping,
        "max_len": trainer.max_len,
    }


def _run_provenance(prep, command, **extra) -> dict:
    """How a run's numbers were made: command, encoder, data, image root, seed and the device used."""
    return provenance(
        command,
        encoder=prep.encoder_identity,
        data=prep.source.identity,
        image_root=_image_root(prep),
        seed=prep.cfg.seed,
        device=str(prep.device),
        **extra,
    )


def _image_root(prep) -> str:
    return str(Path(prep.source.root).resolve())


def _epochs_done(run: Path, state: dict, cfg: CloseConfig, allow_partial: bool) -> dict | None:
    """None for a finished run; for an interrupted one (refused unless ``allow_partial``) the
    record that marks its metrics as partial. The run's epochs are the resolved ones (a config
    that leaves epochs unset trains for the decoder's default)."""
    done = int(state.get("epoch", 0))
    epochs = cfg.resolved_training()["epochs"]
    if done >= epochs:
        return None
    if not allow_partial:
        raise GapkitError(
            f"{run} stopped after epoch {done} of {epochs} (interrupted?): finish it with "
            f"`gapkit train --config {run / 'config.yaml'} --out {run} --resume`, or pass "
            "--allow-partial to evaluate it as it is."
        )
    log.warning("%s is partial: evaluating after epoch %d of %d", run, done, epochs)
    return {"epochs_done": done, "epochs": epochs}


def eval_run(
    run: str | Path,
    split: str = "test",
    on: str = "image",
    max_examples: int | None = None,
    command: list[str] | None = None,
    allow_partial: bool = False,
    verify_images: bool = False,
) -> EvalRecord:
    """Evaluate a trained run on ``split``: writes metrics-<split>.json and predictions-<split>.json.
    A run whose training stopped early is refused unless ``allow_partial`` (then marked partial).
    With on="text" the split's text vectors go through the run's adapter without its noise (a shift,
    a linear map; what the model saw during training, minus the noise)."""
    run = Path(run)
    if not (run / "config.yaml").is_file() or not (run / CHECKPOINT).is_file():
        raise GapkitError(f"{run} is not a finished run (needs config.yaml and {CHECKPOINT}).")
    cfg = CloseConfig.load(run / "config.yaml")
    if max_examples is not None:
        cfg.max_eval_examples = max_examples
        cfg.validate(f"--max-examples {max_examples}")
    state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)
    partial = _epochs_done(run, state, cfg, allow_partial)
    saved = run / "adapter.pt"
    prep = prepare(
        cfg,
        eval_splits=(split,),
        with_train=False,
        verify_images=verify_images,
        adapter_state=saved if saved.is_file() else None,
    )
    prep.model.load_state_dict(state["model"])
    metrics, predictions = evaluate_split(prep, split, cfg.max_len or prep.task.max_len, on=on)
    if partial:
        metrics = {**metrics, "partial": True, **partial}
    suffix = split if on == "image" else f"{split}-text"
    record = EvalRecord(
        task=cfg.task,
        split=split,
        inputs=on,
        metrics=metrics,
        per_item=per_item_scores(predictions),
        provenance=_run_provenance(prep, command),
    )
    if on == "text":
        record.text_adapter = {
            **prep.adapter.describe(),
            "applied": "deterministic part (no noise)"
            if cfg.train_on == "text"
            else "none (trained on images)",
        }
    write_files(
        {
            run / f"predictions-{suffix}.json": dumps_json(predictions),
            run / f"metrics-{suffix}.json": dumps_json(record.to_dict()),
        }
    )
    return record
