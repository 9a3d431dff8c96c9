#!/usr/bin/env bash
# GPU checks, prepared to run within a few minutes on a one-GPU machine (e.g. the device tool's H200):
#   extraction throughput for ViT-B-32 / ViT-L-14 (random init, bf16 autocast), CLOSE training
#   samples/s on the GPU, and the CPU streaming statistics for comparison.
# Usage: bash benchmarks/gpu.sh OUT_DIR     (results: OUT_DIR/gpu-*.md, with the device named)
set -euo pipefail
out=${1:-benchmarks/results}
mkdir -p "$out"
export GAPKIT_NO_PROGRESS=1 HF_HUB_OFFLINE=1
python -m pip install -q -e . >/dev/null 2>&1 || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu-device.txt"
timeout 240 python benchmarks/extraction_bench.py --device cuda --images 2048 \
    --encoders ViT-B-32:random-init ViT-L-14:random-init --sizes 32 128 256 --out "$out/gpu-extraction.md"
timeout 150 python benchmarks/close_bench.py --device cuda --encoder ViT-B-32:random-init --examples 8192 \
    --repeats 2 --out "$out/gpu-close.md"
timeout 120 python benchmarks/stats_bench.py --n 1000000 --repeats 1 --out "$out/gpu-host-stats.md"
