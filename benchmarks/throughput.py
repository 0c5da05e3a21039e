"""Env steps per second: a learned env (DyDiff-Hopper by default) at N = 1, 64, 1024 against its
real env (Hopper-v5), one run.

The real references are measured in the same run: a single ``gym.make("Hopper-v5")`` and a
``SyncVectorEnv`` of 64. Every env takes uniform random actions and resets as it ends (the
vector envs autoreset). The ``model %`` column is the share of the time spent inside the
model's ``predict``: the rest is env bookkeeping, the termination rule and the wrappers.

Usage: ``python benchmarks/throughput.py [--seconds 3] [--precision bfloat16] [--steps 2]
[--threads 1] [--task walker2d --model DIR] [--device cuda]``. Targets (issue 4): N=1 >= 0.2x and N=1024 >= 10x the real single env.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from _common import calls_per_second, print_table
from dreamenv.envs import dream_env_id
from dreamenv.tasks import TASKS


class PredictTimer:
    """Wrap a model's ``predict`` to add up the seconds spent in it."""

    def __init__(self, model):
        self.model, self.inner, self.seconds = model, model.predict, 0.0
        model.predict = self

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def restore(self) -> None:
        del self.model.predict


def single_env_rate(env: gym.Env, seconds: float, seed: int = 0) -> float:
    env.reset(seed=seed)
    space = env.action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high,
                                                  (100_000, *space.shape)).astype(np.float32)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions[steps % 90_000: steps % 90_000 + 500]:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        steps += 500
    return steps / (time.perf_counter() - start)


def vector_env_rate(env: gym.vector.VectorEnv, seconds: float, seed: int = 0) -> float:
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (16, *env.action_space.shape)).astype(np.float32)
    return calls_per_second(env.step, list(actions), seconds) * env.num_envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: "
                        "the model's)")
    parser.add_argument("--precision", default=None, choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--task", default="hopper", choices=sorted(TASKS))
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped one)")
    parser.add_argument("--device", default=None, help="where the learned env's model runs "
                        "(cuda; default the CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {"denoising_steps": args.steps, "precision": args.precision, "model": args.model,
               "device": args.device}
    real_id, learned_id = TASKS[args.task].env_id, dream_env_id(args.task)
    real = single_env_rate(gym.make(real_id), args.seconds)
    rows = [{"env": f"{real_id} (real)", "N": 1, "steps/s": real, "x real": 1.0, "model %": "-"}]
    real_vec = gym.make_vec(real_id, num_envs=64, vectorization_mode="sync")
    rate = vector_env_rate(real_vec, args.seconds)
    rows.append({"env": f"{real_id} SyncVectorEnv (real)", "N": 64, "steps/s": rate,
                 "x real": rate / real, "model %": "-"})

    env = gym.make(learned_id, **options)
    timer = PredictTimer(env.unwrapped.dynamics)
    start = time.perf_counter()
    rate = single_env_rate(env, args.seconds)
    share = timer.seconds / (time.perf_counter() - start)
    timer.restore()
    rows.append({"env": learned_id, "N": 1, "steps/s": rate, "x real": rate / real,
                 "model %": 100 * share})
    for n in args.sizes:
        venv = gym.make_vec(learned_id, num_envs=n, **options)
        timer = PredictTimer(venv.dynamics)
        start = time.perf_counter()
        rate = vector_env_rate(venv, args.seconds)
        share = timer.seconds / (time.perf_counter() - start)
        timer.restore()
        rows.append({"env": f"{learned_id} make_vec", "N": n, "steps/s": rate,
                     "x real": rate / real, "model %": 100 * share})
    model = env.unwrapped.dynamics
    cfg = getattr(model, "cfg", None)
    print_table(rows, f"env steps/s, random actions; torch threads={torch.get_num_threads()}, "
                      f"denoising steps={args.steps or getattr(cfg, 'denoising_steps', '-')}, "
                      f"precision={args.precision or 'auto'}")


if __name__ == "__main__":
    main()
