"""Training throughput (samples/s) of the diffusion model and the ensemble on a dataset.

Usage: ``python benchmarks/train_speed.py [--dataset NAME_OR_FILE] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _common import print_table
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, fit_normalizers
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble
from dreamenv.training.common import load_training_dataset
from dreamenv.training.data import TransitionData


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="hopper-full-replay")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset, name = load_training_dataset(args.dataset)
    data = TransitionData(dataset)
    rng = np.random.default_rng(0)
    rows = []

    cfg = DiffusionConfig()
    norms = fit_normalizers(data.obs, data.next_obs, data.rewards)
    model = DiffusionDynamics(cfg, data.obs.shape[1], data.actions.shape[1], *norms)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    start = time.perf_counter()
    for _ in range(args.iterations):
        b = data.batch(rng.choice(data.train_rows, args.batch_size), cfg.history_len)
        loss = model.loss(b.history, b.action, b.next_state, b.reward)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sec = time.perf_counter() - start
    rows.append({"model": "diffusion", "batch": args.batch_size,
                 "steps/s": args.iterations / sec,
                 "samples/s": args.iterations * args.batch_size / sec})

    ecfg = EnsembleConfig()
    ens = GaussianEnsemble(ecfg, data.obs.shape[1], data.actions.shape[1])
    opt = torch.optim.Adam(ens.parameters(), lr=1e-3)
    b = data.batch(data.train_rows[:50_000], 0)
    x = ens.inputs(b.history, b.action)
    y = torch.cat([b.next_state - b.history.current, b.reward[:, None]], -1)
    start = time.perf_counter()
    for _ in range(args.iterations):
        idx = torch.as_tensor(rng.integers(0, len(x), (ecfg.members, args.batch_size)))
        loss = ens.loss(x[idx], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sec = time.perf_counter() - start
    rows.append({"model": f"ensemble ({ecfg.members} members)", "batch": args.batch_size,
                 "steps/s": args.iterations / sec,
                 "samples/s": args.iterations * args.batch_size * ecfg.members / sec})
    print_table(rows, f"training throughput on {name}, torch threads={args.threads} "
                      "(ensemble samples counted per member)")


if __name__ == "__main__":
    main()
