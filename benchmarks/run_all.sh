#!/usr/bin/env bash
# The whole performance suite on this machine; each script prints its table and saves it under
# benchmarks/results/ with the command that made it. BENCHMARKS.md collects them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
export GAPKIT_NO_PROGRESS=1
python benchmarks/stats_bench.py --n 1000000 --repeats 3 --out "$out/stats.md"
python benchmarks/stats_bench.py --n 100000 --d 512 --repeats 3 --out "$out/stats-100k-512.md"
python benchmarks/extraction_bench.py --out "$out/extraction.md"
python benchmarks/close_bench.py --out "$out/close.md"
python benchmarks/tsne_bench.py --out "$out/tsne.md"
python benchmarks/end_to_end.py --out "$out/end-to-end.md"
python benchmarks/refactor_bench.py --out "$out/refactor.md"
python benchmarks/measure_bench.py --n 1000000 --repeats 3 --dir .scratch --out "$out/measure.md"
python benchmarks/shards_bench.py --pairs 4000000 --shards 16 --dir .scratch --out "$out/shards.md"  # 12 GB of disk
# GPU machines only: bash benchmarks/gpu.sh "$out/gpu"
