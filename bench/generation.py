"""Generation speed of the shipped model on this machine, measured in one run.

Prints: warm latency of one 256x256 image (median of --repeats), throughput at batch 8 vs batch 1
(images/s, same run), FLOPs per image (counted by torch's FlopCounterMode) and the share of this
CPU's matmul peak (measured here, in this run) that sampling reaches.

    .venv/bin/python bench/generation.py [--checkpoint PATH] [--repeats 10] [--threads 2] [--json OUT]
                                         [--prompt TEXT]

The default prompt has no text; a prompt with quoted text (e.g. --prompt 'a sign that says "OPEN 7 DAYS"')
also runs the decoder's full-resolution text head.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from limner.engine.generator import GenerateOptions, Generator


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    """Measured fp32 GFLOP/s of a large square matmul (the CPU's practical peak)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


PROMPT = "a red star above a blue ring"


def timed(gen: Generator, n: int, seed: int, prompt: str = PROMPT) -> float:
    t = time.perf_counter()
    gen.generate(prompt, GenerateOptions(n=n, seed=seed, size=(256, 256)))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--prompt", default=PROMPT, help=f"the prompt drawn (default {PROMPT!r})")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = Generator.from_checkpoint(args.checkpoint)
    timed(gen, 1, 0, args.prompt)  # warm up: first-call allocations and kernels

    lat = [timed(gen, 1, i, args.prompt) for i in range(args.repeats)]
    b1 = 1 / statistics.median(lat)
    t8 = [timed(gen, 8, i, args.prompt) for i in range(max(2, args.repeats // 4))]
    b8 = 8 / statistics.median(t8)

    with FlopCounterMode(display=False) as fc:
        timed(gen, 1, 0, args.prompt)
    flops = fc.get_total_flops()
    peak = matmul_peak()
    achieved_b1 = flops * b1 / 1e9
    achieved_b8 = flops * b8 / 1e9
    res = {
        "prompt": args.prompt,
        "threads": torch.get_num_threads(),
        "latency_256_median_s": statistics.median(lat),
        "latency_256_p90_s": sorted(lat)[int(0.9 * (len(lat) - 1))],
        "images_per_s_batch1": b1,
        "images_per_s_batch8": b8,
        "throughput_ratio_b8_vs_b1": b8 / b1,
        "gflops_per_image": flops / 1e9,
        "matmul_peak_gflops": peak,
        "share_of_peak_batch1": achieved_b1 / peak,
        "share_of_peak_batch8": achieved_b8 / peak,
        "params_m": gen.model.n_params() / 1e6,
    }
    for k, v in res.items():
        print(f"{k:28s} {v:.4g}" if isinstance(v, float) else f"{k:28s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
