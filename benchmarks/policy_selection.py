"""Offline policy selection, judged: does a second model pick the iterate the real env would?

Every checkpoint a ``dreamenv imagine --keep-iterations`` run kept (``RUN/iterations/NNN``) is
scored by seed-matched deterministic episodes in the real env, in the model the agent trained in
(``trained=``, '' for the task's shipped one) and in each validation model (``LABEL=DIR`` or
the name of a shipped model, e.g. ``rme=walker2d-rme``). Prints per-iteration returns and, per
model, the iterate its return picks with that iterate's real return against the best and the
last iterates'; writes ``selection.json`` and ``selection.png`` into the run directory.

Usage: ``python benchmarks/policy_selection.py RUN --task walker2d trained= rme=walker2d-rme``
``[--episodes 10] [--first 1] [--stride 1]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.envs import dream_env_id
from dreamenv.evaluation.compare import run_matched
from dreamenv.integrations.rllib import RLlibPolicy
from dreamenv.integrations.validation import validation_model_path
from dreamenv.tasks import get_task
from dreamenv.training.common import plot_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="an imagine run directory with iterations/")
    p.add_argument("models", nargs="+", metavar="LABEL=MODEL",
                   help="learned envs to score in (MODEL '' = the task's shipped model)")
    p.add_argument("--task", default="hopper")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--first", type=int, default=1, help="first iteration to score")
    p.add_argument("--stride", type=int, default=1, help="score every k-th iteration")
    p.add_argument("--seed", type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(1)

    task = get_task(args.task)
    steps = task.max_episode_steps or 1000
    envs = {"real": gym.make_vec(task.env_id, num_envs=args.episodes,
                                 vectorization_mode="sync", max_episode_steps=steps)}
    for label, model in (spec.split("=", 1) for spec in args.models):
        envs[label] = gym.make_vec(dream_env_id(task.name), num_envs=args.episodes,
                                   model=str(validation_model_path(model)) if model else None,
                                   max_episode_steps=steps)
    kept = sorted((args.run / "iterations").iterdir())
    if not kept:
        raise SystemExit(f"{args.run}: no iterations/ (run dreamenv imagine --keep-iterations)")
    scores: dict[int, dict[str, float]] = {}
    for path in progress(iterable=kept[args.first - 1::args.stride], desc="iterations"):
        policy = RLlibPolicy.from_checkpoint(path, task.name)
        scores[int(path.name)] = {label: float(run_matched(env, policy, args.seed, steps)[0].mean())
                                  for label, env in envs.items()}

    iterations = sorted(scores)
    real = np.array([scores[i]["real"] for i in iterations])
    print(f"{'iteration':>9} " + " ".join(f"{label:>9}" for label in envs))
    for i in iterations:
        print(f"{i:>9} " + " ".join(f"{scores[i][label]:>9.0f}" for label in envs))
    picks = {}
    for label in list(envs)[1:]:
        pick = iterations[int(np.argmax([scores[i][label] for i in iterations]))]
        picks[label] = {"iteration": pick, "real_return": scores[pick]["real"]}
        print(f"picked by {label}: iteration {pick}, real {scores[pick]['real']:.0f} "
              f"(best iterate {iterations[int(real.argmax())]}: {real.max():.0f}; "
              f"last {iterations[-1]}: {real[-1]:.0f})")
    report = {"run": str(args.run), "task": task.name, "episodes": args.episodes,
              "seed": args.seed, "scores": scores, "picks": picks}
    with atomic_path(args.run / "selection.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    rows = [{"iteration": i, **{f"{label} env": v for label, v in scores[i].items()}}
            for i in iterations]
    plot_log(rows, tuple(f"{label} env" for label in envs), args.run / "selection.png",
             "iteration", f"{args.run.name}: every kept iterate's return", yscale="linear")


if __name__ == "__main__":
    main()
