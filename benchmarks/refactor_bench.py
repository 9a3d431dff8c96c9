"""Issue 13's done-when check: `gapkit measure` and a CLOSE epoch are no slower after the structural
refactor. Both versions run side by side in one process tree, alternating, each from its own
checkout (the older one from a temporary git worktree, imported through PYTHONPATH) with its own
warm embedding cache, so the times compare the code and not the encoders.

Usage: python benchmarks/refactor_bench.py [--before 7d6b417] [--repeats 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import save_report, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The last commit before issue 13's first change (the layering test, a0ce95e).
BEFORE = "7d6b417"
TRAIN = [
    "train",
    "--task",
    "caption-single",
    "--epochs",
    "1",
    "--max-train-examples",
    "3000",
    "--max-eval-examples",
    "100",
    "--eval-split",
    "test",
    "--overwrite",
]
COMMANDS = {
    "gapkit measure (warm cache)": ["measure"],
    "CLOSE: one epoch, 3,000 examples + 100 decoded": TRAIN,
}


# Runs `python -m gapkit ARGS` from the checkout given as the first argument: the editable install's
# import hook would otherwise resolve `gapkit` to this checkout whatever sys.path says.
LAUNCH = (
    "import runpy, sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]; "
    "sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('gapkit', run_name='__main__', alter_sys=True)"
)


def _env(cache: Path) -> dict:
    return {**os.environ, "GAPKIT_CACHE": str(cache), "GAPKIT_NO_PROGRESS": "1"}


def _check_imports_from(src: Path) -> None:
    """Both rows must time their own checkout's code."""
    code = LAUNCH.replace(
        "runpy.run_module('gapkit', run_name='__main__', alter_sys=True)",
        "import gapkit; print(gapkit.__file__)",
    )
    where = subprocess.run(
        [sys.executable, "-c", code, str(src)], env=_env(src), check=True, capture_output=True, text=True
    ).stdout.strip()
    if not Path(where).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"gapkit imported from {where}, not from {src}")


def _run(src: Path, cache: Path, argv: list[str], out: Path) -> float:
    argv = [*argv, "--out", str(out)] if argv[0] == "train" else argv
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", LAUNCH, str(src), *argv],
        env=_env(cache),
        cwd=out.parent,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default=BEFORE, help="commit to compare with (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before], check=True
        )
        try:
            versions = {f"before ({args.before})": old, "now": ROOT}
            times = {(v, c): [] for v in versions for c in COMMANDS}
            for src in versions.values():
                _check_imports_from(src)
            for v, src in versions.items():  # warm each version's cache with each command, untimed
                (tmp / v).mkdir()
                for argv in COMMANDS.values():
                    _run(src, tmp / f"cache-{v}", argv, tmp / v / "run")
            for _ in range(args.repeats):
                for c, argv in COMMANDS.items():
                    for v, src in versions.items():  # alternate, so load drifts hit both alike
                        times[(v, c)].append(_run(src, tmp / f"cache-{v}", argv, tmp / v / "run"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=True)
    rows = []
    for c in COMMANDS:
        med = {v: statistics.median(times[(v, c)]) for v in versions}
        b, n = med[f"before ({args.before})"], med["now"]
        spread = " / ".join(f"{min(times[(v, c)]):.1f}-{max(times[(v, c)]):.1f}" for v in versions)
        rows.append([c, f"{b:.1f}", f"{n:.1f}", f"{n / b:.2f}", spread])
    report = table(
        ["command", "before s (median)", "now s (median)", "now / before", "min-max before / now"], rows
    )
    print(report)
    save_report(args.out, "refactor_bench.py", report)


if __name__ == "__main__":
    main()
