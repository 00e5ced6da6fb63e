#!/usr/bin/env python3
"""PyTorch's fastest in-place averaging update, as a reference beside the listener's (docs/PERFORMANCE.md).

BenchmarkMain starts this script once and drives it over stdin/stdout, so that its updates run in the same rounds
as the Java variants (interleaved, one core each: OMP_NUM_THREADS=1 and torch.set_num_threads(1)). Each command is
one line; each answer is one line:

    setup FLOAT 25600000   -> "ready <parameters>": the 62 tensors of Workloads.squareMlp (31 square dense layers
                              with biases) and an average of each, in float32 or float64
    shadow                 -> "<ms>": for each tensor a.mul_(decay).add_(p, alpha=1 - decay)
    writeback              -> "<ms>": the same, then p.copy_(a) in the same loop
    quit

The per-tensor mul_/add_ form with the copy in the same loop was the fastest of the in-place forms measured for the
issue (torch._foreach_mul_/_foreach_add_, lerp_, one flat buffer and torch.optim.swa_utils.AveragedModel were all
slower). It has no NaN guard. Without PyTorch the script answers the first command with "unavailable: <reason>".
"""
import math
import os
import sys
import time

LAYERS = 31  # Workloads.LAYERS
DECAY = 0.999  # UpdateBenchmark.DECAY


def main():
    try:
        import torch
    except ImportError as e:
        for _ in sys.stdin:
            print(f"unavailable: {e}", flush=True)
            return
        return
    torch.set_num_threads(1)
    tensors = {}
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            return
        if words[0] == "setup":
            dtype = {"FLOAT": torch.float32, "DOUBLE": torch.float64}[words[1]]
            n = int(words[2])
            width = max(2, int(math.floor(math.sqrt(n / LAYERS) + 0.5)))
            generator = torch.Generator().manual_seed(1)
            tensors = {}
            for mode in ("shadow", "writeback"):  # one network and average per mode, as the Java variants have
                params = []
                for _ in range(LAYERS):
                    params.append(torch.randn(width, width, generator=generator, dtype=dtype) / math.sqrt(width))
                    params.append(torch.zeros(width, dtype=dtype))
                tensors[mode] = (params, [p.clone() for p in params])
            print(f"ready {sum(p.numel() for p in tensors['shadow'][0])} torch {torch.__version__} threads "
                  f"{torch.get_num_threads()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}", flush=True)
        elif words[0] in ("shadow", "writeback"):
            write_back = words[0] == "writeback"
            params, averages = tensors[words[0]]
            with torch.no_grad():
                start = time.perf_counter()
                for a, p in zip(averages, params):
                    a.mul_(DECAY).add_(p, alpha=1 - DECAY)
                    if write_back:
                        p.copy_(a)
                elapsed = time.perf_counter() - start
            print(f"{elapsed * 1e3:.4f}", flush=True)
        else:
            print(f"error: unknown command {words[0]}", flush=True)


if __name__ == "__main__":
    main()
