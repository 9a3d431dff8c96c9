"""Provenance carried by every result file: versions, git hash, command, time, machine."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_hash() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "scikit-learn": _version("scikit-learn"),
    }
    if "torch" in sys.modules:  # do not import torch just to record it
        import torch

        env.update(
            torch=torch.__version__,
            open_clip=_version("open_clip_torch"),
            transformers=_version("transformers"),
            # what the machine has, not what a run used (a run records its own ``device``)
            gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        )
    return env


def provenance(command: list[str] | None = None, **extra) -> dict:
    return {
        "gapkit_version": _version("gapkit"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_hash(),
        "command": " ".join(command if command is not None else ["gapkit", *sys.argv[1:]]),
        "environment": environment(),
        **extra,
    }


# Metric keys renamed since results were first written: old name -> current name. "vqa_accuracy"
# was CLOSE's simplified min(n/3, 1) accuracy, now reported as vqa_acc_close beside the official one.
RENAMED_METRICS = {"vqa_accuracy": "vqa_acc_close"}


def upgrade_metrics(metrics: dict) -> dict:
    """A result's flat metrics under current names (older result files stay readable)."""
    return {RENAMED_METRICS.get(k, k): v for k, v in metrics.items()}
