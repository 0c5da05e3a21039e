"""Sampling latency of one model step: batch 1/64/1024 x denoising steps 1/3/5/10.

Prints ms per call and model steps/s, and the ratio to the real Hopper-v5 single env measured in
the same run. Usage: ``python benchmarks/model_latency.py [--model DIR] [--ensemble DIR]``.
"""

from __future__ import annotations

import argparse

import torch

from _common import print_table, real_hopper_steps_per_second, time_call
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.models.history import History


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="diffusion checkpoint (default: shipped)")
    parser.add_argument("--ensemble", default=None, help="optional ensemble checkpoint")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 5, 10])
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real = real_hopper_steps_per_second()
    model, _, _ = load_checkpoint(args.model or pretrained_path("hopper"))
    rows = []
    gen = torch.Generator().manual_seed(0)
    for batch in args.batches:
        history = History.start(torch.randn(batch, model.state_dim), model.history_len,
                                model.action_dim)
        history.valid[:] = True
        action = torch.rand(batch, model.action_dim)
        for precision in args.precision:
            for steps in args.steps:
                sec = time_call(lambda: model.predict(history, action, gen, steps=steps,
                                                      precision=precision))
                rows.append({"model": "diffusion", "precision": precision, "batch": batch,
                             "denoising steps": steps, "ms/call": sec * 1e3,
                             "steps/s": batch / sec, "x real Hopper": batch / sec / real})
        if args.ensemble:
            ens, _, _ = load_checkpoint(args.ensemble)
            h = History.start(torch.randn(batch, ens.state_dim), ens.history_len,
                              ens.action_dim)
            sec = time_call(lambda: ens.predict(h, action, gen))
            rows.append({"model": "ensemble", "precision": "float32", "batch": batch,
                         "denoising steps": "-", "ms/call": sec * 1e3, "steps/s": batch / sec,
                         "x real Hopper": batch / sec / real})
    print_table(rows, f"one model step, torch threads={args.threads}; real Hopper-v5 single "
                      f"env: {real:,.0f} steps/s")


if __name__ == "__main__":
    main()
