"""Where a learned env's step goes: the torch ops and the Python functions of ``N`` rows' steps.

Steps ``gym.make_vec("DyDiff-<Task>", num_envs=N)`` (or ``gym.make`` for ``--rows 1``, what a
single-env agent steps) with random actions, resets included as in ``throughput.py``, and prints

1. the step's time and the share of it inside the model's ``predict``;
2. the torch ops by their own CPU time (``torch.profiler``), per step: at 1024 rows on the CPU,
   whether the matrix products or the elementwise work (activations, residual adds) cost more;
3. the Python functions by their own time (``cProfile``, which slows small calls down, so read
   it for shares, not speeds), per step: what a single env spends outside the network.

Usage: ``python benchmarks/step_profile.py [--rows 1024] [--task hopper] [--model DIR]
[--steps 200] [--threads 2] [--top 12]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import gymnasium as gym
import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from _common import cpu_name, print_table
from dreamenv.envs import dream_env_id
from dreamenv.envs.core import ModelClock


def stepper(env: gym.Env | gym.vector.VectorEnv, actions: np.ndarray):
    """``step(i)``: one step of ``env`` with ``actions[i % len]``, a single env reset as it ends
    (a vector env autoresets)."""
    vector = isinstance(env, gym.vector.VectorEnv)

    def step(i: int) -> None:
        out = env.step(actions[i % len(actions)])
        if not vector and (out[2] or out[3]):
            env.reset()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1024, help="N (1: the single env)")
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=200, help="steps per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--top", type=int, default=12, help="rows per table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env_id, options = dream_env_id(args.task), ({"model": args.model} if args.model else {})
    env = (gym.make(env_id, **options) if args.rows == 1
           else gym.make_vec(env_id, num_envs=args.rows, **options))
    env.reset(seed=0)
    shape = env.action_space.shape
    actions = np.random.default_rng(0).uniform(-1, 1, (64, *shape)).astype(np.float32)
    step = stepper(env, actions)
    for i in range(20):  # warm-up: sampling plans, caches
        step(i)

    ModelClock.take()
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    seconds = (time.perf_counter() - start) / args.steps
    model_share = ModelClock.take() / args.steps / seconds
    print(f"{env_id}, N={args.rows}, {cpu_name()}, torch threads={args.threads}: "
          f"{seconds * 1e6:,.0f} us a step ({args.rows / seconds:,.0f} env steps/s), "
          f"{100 * model_share:.0f}% inside the model's predict")

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            step(i)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    if not total:
        print("\nno torch ops: the model samples in NumPy (a float32 CPU env below 32 rows)")
    else:
        print_table([{"torch op": e.key, "calls a step": e.count / args.steps,
                      "us a step": e.self_cpu_time_total / args.steps,
                      "share of op time %": 100 * e.self_cpu_time_total / total}
                     for e in ops[: args.top]],
                    f"torch ops by own CPU time ({total / args.steps:,.0f} us a step in them)")

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(args.steps):
        step(i)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, ..)}
    functions = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)
    profiled = sum(v[2] for _, v in functions) or 1.0
    print_table([{"function": f"{name} ({file.rsplit('/', 1)[-1]}:{line})",
                  "calls a step": v[1] / args.steps, "us a step (profiled)": 1e6 * v[2] /
                  args.steps, "share %": 100 * v[2] / profiled}
                 for (file, line, name), v in functions[: args.top]],
                "Python functions by own time (cProfile)")


if __name__ == "__main__":
    main()
