"""Multi-agent env steps per second: MaMuJoCo's Hopper 3x1 against its DyDiff twin, one run.

Every env takes uniform random per-agent actions (dicts, as a PettingZoo learner sends them) and
resets as it ends. The reference is real ``mamujoco_v1.parallel_env("Hopper", "3x1")`` measured in
the same run; ``x MaMuJoCo`` is the ratio to it. One step of N episodes counts N steps.

``--rllib`` adds a second table: PPO iterations in the multi-agent DyDiff env (64 episodes per
env runner, RLlib's batch of 4096 steps, 10 epochs), with dreamenv's batched env runner against
RLlib's own ``MultiAgentEnvRunner`` (which steps 64 env copies one by one); the iteration time
includes the learner's update.

Usage: ``python benchmarks/multiagent_speed.py [--seconds 3] [--sizes 64 1024] [--threads 1]
[--rllib]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import calls_per_second, print_table
from gymnasium_robotics import mamujoco_v1

from dreamenv import multiagent


def parallel_env_rate(env, seconds: float, seed: int = 0) -> float:
    """Steps/s of one PettingZoo ParallelEnv, resetting when every agent is done."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            actions = {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32)
                       for a in env.agents}
            env.step(actions)
            if not env.agents:
                env.reset()
        steps += 200
    return steps / (time.perf_counter() - start)


def vector_env_rate(env: multiagent.DreamParallelVecEnv, seconds: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    batches = [{a: rng.uniform(-1, 1, (env.num_envs, *env.action_space(a).shape))
                .astype(np.float32) for a in env.agents} for _ in range(8)]
    return calls_per_second(env.step, batches, seconds) * env.num_envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--rllib", action="store_true",
                        help="also time PPO iterations with both env runners")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    real = parallel_env_rate(mamujoco_v1.parallel_env("Hopper", "3x1"), args.seconds)
    rows = [{"env": "MaMuJoCo Hopper 3x1 (real)", "N": 1, "steps/s": real, "x MaMuJoCo": 1.0}]
    rate = parallel_env_rate(multiagent.parallel_env("Hopper", "3x1"), args.seconds)
    rows.append({"env": "dreamenv.multiagent.parallel_env", "N": 1, "steps/s": rate,
                 "x MaMuJoCo": rate / real})
    for n in args.sizes:
        rate = vector_env_rate(multiagent.vector_parallel_env(n, "Hopper", "3x1"), args.seconds)
        rows.append({"env": "dreamenv.multiagent.vector_parallel_env", "N": n, "steps/s": rate,
                     "x MaMuJoCo": rate / real})
    print_table(rows, f"multi-agent env steps/s (3 agents), random actions; torch "
                      f"threads={torch.get_num_threads()}")
    if args.rllib:
        print_table(rllib_rows(), "RLlib PPO in the multi-agent DyDiff env, 64 episodes per env "
                                  "runner (second iteration timed)")


def rllib_rows() -> list[dict]:
    import ray

    from dreamenv.integrations.rllib_multiagent import multiagent_algo_config

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    rows = []
    for name, runner in (("RLlib's MultiAgentEnvRunner (64 copies)", "pettingzoo"),
                         ("dreamenv BatchedEnvRunner", "batched")):
        config = multiagent_algo_config("PPO", {"agent_conf": "3x1", "env_runner": runner},
                                        num_envs=64)
        config.evaluation(evaluation_interval=None)
        algorithm = config.build_algo()
        try:
            algorithm.train()  # warm-up
            start = time.perf_counter()
            result = algorithm.train()
            seconds = time.perf_counter() - start
        finally:
            algorithm.stop()
        steps = result["env_runners"]["num_env_steps_sampled"]
        rows.append({"env runner": name, "s/iteration": seconds, "env steps/s": steps / seconds})
    for row in rows:
        row["x RLlib's"] = row["env steps/s"] / rows[0]["env steps/s"]
    return rows


if __name__ == "__main__":
    main()
