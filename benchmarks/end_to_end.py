"""End to end: `gapkit measure` on the embedded default (cold cache and warm cache), and one
ablation cell (the smallest bias-table cell), timed as whole commands.

Usage: python benchmarks/end_to_end.py [--repeats 3] [--out FILE.md]
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


def timed_cmd(cmd: list[str], env: dict, repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    gapkit = [sys.executable, "-m", "gapkit"]
    rows = []
    with tempfile.TemporaryDirectory() as cold:
        env = {**os.environ, "GAPKIT_CACHE": cold, "GAPKIT_NO_PROGRESS": "1"}
        m, lo, hi = timed_cmd(gapkit + ["measure"], env, 1)
        rows.append(["gapkit measure, empty cache (world generated + encoded)", f"{m:.1f}", "-"])
        m, lo, hi = timed_cmd(gapkit + ["measure"], env, args.repeats)
        rows.append(["gapkit measure, warm cache", f"{m:.1f}", f"{lo:.1f}-{hi:.1f}"])
        spec = Path(cold) / "cell.yaml"
        spec.write_text(
            "name: cell\ntable: bias\ntasks: [ve]\nbase: {encoder: gapkit-shapes, epochs: 3, "
            "max_train_examples: 8000, max_eval_examples: 300, eval_split: val}\n"
            "rows: [{label: none, set: {adapter: noise}}]\n"
        )
        m, lo, hi = timed_cmd(gapkit + ["ablate", str(spec), "--out", str(Path(cold) / "res")], env, 1)
        rows.append(["one bias-table cell (ve, 3 epochs, 8000 examples) incl. rendering", f"{m:.1f}", "-"])
    report = table(["command", "median s", "min-max s"], rows)
    print(report)
    save_report(args.out, "end_to_end.py", report)


if __name__ == "__main__":
    main()
