"""Offline policy selection, judged: does a second model pick the iterate the real env would?

Every checkpoint a ``dreamenv imagine --keep-iterations`` run kept (``RUN/iterations/NNN``) is
scored by seed-matched deterministic episodes in the real env, in the model the agent trained in
(``trained=``, '' for the task's shipped one) and in each validation model (``LABEL=DIR`` or
the name of a shipped model, e.g. ``rme=walker2d-rme``). Prints per-iteration returns and, per
model, the iterate its return picks with that iterate's real return against the best and the
last iterates'; writes ``selection.json`` and ``selection.png`` into the run directory.

With ``--uncertainty-gate MARGIN`` each learned env also gates by the model's own uncertainty:
an iterate's uncertainty is the median over its episodes of the mean per-step ``uncertainty``
(the env's info), the gate is ``(1 + MARGIN)`` times the larger of the task's medium and expert
policies' in the same env and episodes (the data's own gaits: no real-env step and no iterate
sets it), and ``LABEL gated`` picks the best-returning iterate under the gate (the least
uncertain one if none is). An agent that exploits a model steers into states where the model
is wrong, and there its samples spread more.

Usage: ``python benchmarks/policy_selection.py RUN --task walker2d trained= rme=walker2d-rme``
``[--episodes 10] [--first 1] [--stride 1] [--uncertainty-gate 0.1]``
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
from dreamenv.behaviour import behaviour_policy
from dreamenv.envs import dream_env_id
from dreamenv.evaluation.compare import run_matched
from dreamenv.integrations.rllib import RLlibPolicy
from dreamenv.integrations.validation import resolved_models
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
    p.add_argument("--uncertainty-gate", type=float, default=None, metavar="MARGIN",
                   help="also pick under an uncertainty gate (1 + MARGIN) x the behaviour "
                   "policies' (see above)")
    args = p.parse_args()
    torch.set_num_threads(1)

    task = get_task(args.task)
    steps = task.max_episode_steps or 1000
    envs = {"real": gym.make_vec(task.env_id, num_envs=args.episodes,
                                 vectorization_mode="sync", max_episode_steps=steps)}
    for label, model in (spec.split("=", 1) for spec in args.models):
        envs[label] = gym.make_vec(dream_env_id(task.name), num_envs=args.episodes,
                                   model=resolved_models(model) if model else None,
                                   max_episode_steps=steps)
    kept = sorted((args.run / "iterations").iterdir())
    if not kept:
        raise SystemExit(f"{args.run}: no iterations/ (run dreamenv imagine --keep-iterations)")
    gated = args.uncertainty_gate is not None
    scores: dict[int, dict[str, float]] = {}
    for path in progress(iterable=kept[args.first - 1::args.stride], desc="iterations"):
        policy = RLlibPolicy.from_checkpoint(path, task.name)
        scores[int(path.name)] = score(envs, policy, args.seed, steps, gated)
    gates = {}
    if gated:
        references = [score(envs, behaviour_policy(task.name, level, deterministic=True),
                            args.seed, steps, gated) for level in ("medium", "expert")]
        gates = {label: (1 + args.uncertainty_gate) * max(r[f"{label} uncertainty"]
                                                           for r in references)
                 for label in list(envs)[1:]}

    iterations = sorted(scores)
    real = np.array([scores[i]["real"] for i in iterations])
    columns = list(scores[iterations[0]])
    print(f"{'iteration':>9} " + " ".join(f"{c.replace(' uncertainty', ' unc.'):>13}"
                                          for c in columns))
    for i in iterations:
        print(f"{i:>9} " + " ".join(f"{scores[i][c]:>13.{3 if 'unc' in c else 0}f}"
                                    for c in columns))
    picks = {}
    for label in list(envs)[1:]:
        rules = {label: iterations}
        if gated:
            under = [i for i in iterations if scores[i][f"{label} uncertainty"] <= gates[label]]
            rules[f"{label} gated"] = under or [min(
                iterations, key=lambda i: scores[i][f"{label} uncertainty"])]
            print(f"{label} gate: {gates[label]:.3f} ({len(under)} of {len(iterations)} "
                  f"iterates under it)")
        for rule, candidates in rules.items():
            pick = max(candidates, key=lambda i: scores[i][label])
            picks[rule] = {"iteration": pick, "real_return": scores[pick]["real"]}
            print(f"picked by {rule}: iteration {pick}, real {scores[pick]['real']:.0f} "
                  f"(best iterate {iterations[int(real.argmax())]}: {real.max():.0f}; "
                  f"last {iterations[-1]}: {real[-1]:.0f})")
    report = {"run": str(args.run), "task": task.name, "episodes": args.episodes,
              "seed": args.seed, "scores": scores, "gates": gates, "picks": picks}
    with atomic_path(args.run / "selection.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    rows = [{"iteration": i, **{f"{label} env": v for label, v in scores[i].items()}}
            for i in iterations]
    plot_log(rows, tuple(f"{label} env" for label in envs), args.run / "selection.png",
             "iteration", f"{args.run.name}: every kept iterate's return", yscale="linear")


def score(envs: dict, policy: object, seed: int, steps: int, uncertainty: bool
          ) -> dict[str, float]:
    """Mean return in every env and, with ``uncertainty``, each learned env's median over the
    episodes of the mean per-step uncertainty (``LABEL uncertainty``)."""
    out = {}
    for label, env in envs.items():
        if label == "real" or not uncertainty:
            out[label] = float(run_matched(env, policy, seed, steps)[0].mean())
            continue
        returns, _, _, per_step = run_matched(env, policy, seed, steps, "uncertainty")
        out[label] = float(returns.mean())
        out[f"{label} uncertainty"] = float(np.median(np.nanmean(per_step, axis=1)))
    return out


if __name__ == "__main__":
    main()
