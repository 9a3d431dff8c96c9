"""`gapkit ...` with every encoder under bf16 autocast on the CPU: what CUDA's bf16 autocast does
to the numbers, seen without a GPU. Calibrates the tolerance of `gpu_check.py measure-compare`.

Usage: python benchmarks/bf16_cpu_measure.py measure --no-cache --json bf16.json
       (then: python benchmarks/gpu_check.py measure-compare fp32.json bf16.json)
"""

import sys

import torch

from gapkit.encoders.base import Encoder

Encoder._autocast = lambda self: torch.autocast("cpu", dtype=torch.bfloat16)

if __name__ == "__main__":
    from gapkit.cli.main import main

    sys.exit(main(sys.argv[1:]))
