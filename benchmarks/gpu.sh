#!/usr/bin/env bash
# The GPU checks of issue 14 section 2, on one machine with an NVIDIA GPU, PyTorch preinstalled and
# no network, in an estimated 6 minutes (not yet run on a GPU; every command has a time limit):
#   0. tests/test_device_paths.py, whose CUDA test skips elsewhere;
#   1. `gapkit measure --device cuda` against --device cpu (JSONs compared, bf16 tolerance stated in
#      benchmarks/gpu_check.py) for the embedded default (shapes world + gapkit-shapes) and for an
#      open_clip ViT-B-32:random-init encoder;
#   2. a Table 1 analogue cell (analyses/table1.yaml: caption-single, text + tuned noise) trained on
#      CUDA (seeds 0-2) against the CPU (seeds 0-2, run alongside): metrics and times;
#   3. extraction throughput in bf16, ViT-B-32 and ViT-L-14, from JPEG files: GPU (nvJPEG) decoding
#      against CPU decoding workers, beside the encoder alone and the FLOP ceiling measured here;
#   4. CLOSE training samples/s with a T5-base-sized decoder, randomly initialised from a local
#      config (shapes-t5 with d_model 768, d_ff 3072, 12 + 12 layers, 12 heads), bf16 autocast.
#
# Nothing is fetched. Python packages the GPU image lacks travel with the working tree in .whl/
# (ignored by git; the device tool's `carry`): the wheels open_clip_torch, ftfy, wcwidth (pure
# Python; open_clip needs ftfy, ftfy needs wcwidth), optionally pycocotools (pycocoevalcap's declared
# dependency, compiled: the cp312 manylinux wheel; nothing run here imports it), and
# pycocoevalcap's bleu/ cider/ rouge/ tokenizer/
# folders copied into .whl/pycocoevalcap/ (the wheel itself is ~100 MB with the METEOR and SPICE
# jars, which gapkit does not need here). torch, torchvision, transformers, tokenizers, numpy,
# scipy, scikit-learn, pillow, pyyaml, filelock, threadpoolctl are in the image.
#
# Usage: bash benchmarks/gpu.sh [OUT_DIR]    (results: OUT_DIR/gpu-*.md and the JSONs compared)
#        GAPKIT_GPU_DRY=1 bash benchmarks/gpu.sh /tmp/dry   (on a CPU at tiny sizes: checks the script only)
set -uo pipefail
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
tmp=$(mktemp -d /tmp/gapkit-gpu.XXXX)
site=$tmp/site
export GAPKIT_NO_PROGRESS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export GAPKIT_CACHE=$tmp/cache  # one cache: CUDA entries are keyed apart from CPU ones (autocast dtype)
py=${PYTHON:-python3}
start=$SECONDS
dev=cuda scale=1 vit=ViT-B-32:random-init mlimit=()
cell_size=(--epochs 5 --max-train-examples 10000 --max-eval-examples 500)
jpeg=(--images 16384)
t5=(--set decoder_options.d_model=768 --set decoder_options.d_ff=3072 --set decoder_options.num_layers=12
    --set decoder_options.num_heads=12 --epochs 2 --max-train-examples 20000)
if [ -n "${GAPKIT_GPU_DRY:-}" ]; then  # a dry run of this script on a CPU at tiny sizes: checks it, measures nothing
    dev=cpu scale=5 vit=gapkit-shapes:random-init mlimit=(--limit 300)
    cell_size=(--epochs 1 --max-train-examples 200 --max-eval-examples 8)
    jpeg=(--images 256 --encoders gapkit-shapes --workers 0 1 --batch 64 --device cpu)
    t5=(--set decoder_options.d_model=64 --set decoder_options.d_ff=128 --set decoder_options.num_layers=2
        --set decoder_options.num_heads=4 --epochs 2 --max-train-examples 256)
fi
if compgen -G ".whl/*.whl" >/dev/null; then
    $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 2
fi
[ -d .whl/pycocoevalcap ] && mkdir -p "$site" && cp -r .whl/pycocoevalcap "$site/"
export PYTHONPATH=$PWD:$site${PYTHONPATH:+:$PYTHONPATH}
$py -c "import gapkit, open_clip, pycocoevalcap.cider.cider, torch; assert '$dev' == 'cpu' or torch.cuda.is_available()" || {
    echo "gpu.sh: gapkit, open_clip, pycocoevalcap or a CUDA device is missing (see the header)" >&2; exit 2; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi (dry run?)"
  $py -c "import torch, torchvision, open_clip, transformers; print('torch', torch.__version__, 'torchvision',
torchvision.__version__, 'open_clip', open_clip.__version__, 'transformers', transformers.__version__)"
  echo "$(nproc --all) CPU cores; $(git rev-parse HEAD 2>/dev/null || echo 'no git')"; } | tee "$out/gpu-device.txt"
gk() { local limit=$1; shift; timeout $((limit * scale)) $py -m gapkit --quiet "$@"; }  # every command has a time limit
fails=0
step() { local name=$1; shift; local t0=$SECONDS
    "$@" || { echo "gpu.sh: $name failed or timed out" >&2; fails=$((fails + 1)); }
    echo "== $name: $((SECONDS - t0)) s (total $((SECONDS - start)) s)" >&2; }

# 0. the tests of the CUDA-only branches, here with a GPU (skipped on machines without one).
device_tests() {
    timeout $((90 * scale)) $py -m pytest -q -rs -p no:cacheprovider tests/test_device_paths.py >"$out/gpu-tests.txt" 2>&1
    local rc=$?; tail -3 "$out/gpu-tests.txt"; return $rc; }
step "tests/test_device_paths.py on CUDA" device_tests

# 1. measure: CPU against CUDA, each computing its own embeddings (--no-cache); the world is made once.
measure_pair() {  # $1: label, rest: encoder flags
    local label=$1; shift
    gk 120 measure "$@" "${mlimit[@]}" --device cpu --no-cache --json "$out/measure-$label-cpu.json" >/dev/null || return 1
    gk 120 measure "$@" "${mlimit[@]}" --device $dev --no-cache --json "$out/measure-$label-cuda.json" >/dev/null || return 1
    $py benchmarks/gpu_check.py measure-compare "$out/measure-$label-cpu.json" "$out/measure-$label-cuda.json" \
        --label "gapkit measure $*" --out "$out/gpu-measure-$label.md"
}
step "measure, embedded default" measure_pair default
step "measure, $vit" measure_pair vit-b-32 --encoder $vit

# 2. a Table 1 cell: CPU seeds in the background (4 threads each), CUDA seeds one after another.
cell=(--task caption-single --encoder gapkit-shapes --adapter noise "${cell_size[@]}" --eval-split test
      --tuned-noise matched-norm --early-stopping --lr 0.001 --batch-size 128 --weight-decay 0)
train_cell() {
    local pids=()
    for s in 0 1 2; do
        OMP_NUM_THREADS=4 MKL_NUM_THREADS=4 gk 200 train "${cell[@]}" --seed $s --device cpu --out "$tmp/cpu-$s" \
            >/dev/null & pids+=($!)
    done
    for s in 0 1 2; do gk 90 train "${cell[@]}" --seed $s --device $dev --out "$tmp/cuda-$s" >/dev/null || return 1; done
    for p in "${pids[@]}"; do wait "$p" || return 1; done
    $py benchmarks/gpu_check.py train-compare --cpu "$tmp"/cpu-{0,1,2} --cuda "$tmp"/cuda-{0,1,2} \
        --cpu-note "3 runs at once, 4 threads each, beside the CUDA runs" \
        --label "Table 1 cell caption-single, text + tuned noise" --out "$out/gpu-train.md"
}
step "Table 1 cell, CPU vs CUDA" train_cell

# 3. extraction from JPEG files.
step "extraction" timeout $((150 * scale)) $py benchmarks/gpu_check.py extraction "${jpeg[@]}" --dir "$tmp/jpegs" \
    --out "$out/gpu-extraction.md"

# 4. CLOSE with a T5-base-sized random-init decoder, bf16.
close_t5() {
    gk 120 train --task caption-single --encoder gapkit-shapes --decoder shapes-t5 "${t5[@]}" --max-eval-examples 32 \
        --batch-size 128 --lr 3e-4 --device $dev --out "$tmp/close-t5" >/dev/null || return 1
    $py benchmarks/gpu_check.py close-summary "$tmp/close-t5" --label "CLOSE, T5-base-sized decoder" \
        --out "$out/gpu-close.md"
}
step "CLOSE T5-base-sized" close_t5

echo "gpu.sh: $fails step(s) failed; $((SECONDS - start)) s in all; results in $out" | tee -a "$out/gpu-device.txt"
rm -rf "$tmp"
exit $((fails > 0))
