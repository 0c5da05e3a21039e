"""DyDiff's claim on this project's models: state error against horizon, against the real env.

From the same dataset states (the real Hopper-v5 restarted in their recorded simulator state)
the same learning policy runs in the real env, in the step-wise env (the step model closed
loop), in any other step model (e.g. the MLP ensemble), and through DyDiff's generation with
``K`` injection rounds of the trajectory model (``K = 0``: the start rollout in the step model
alone). Prints the table, writes ``injection.json`` and ``injection.png``
(dreamenv/trajectories/truth.py).

Usage: ``python benchmarks/injection.py [--trajectory-model DIR|stepwise] --policy other --out DIR``
``[--step-model DIR] [--start-model DIR] [--model LABEL=DIR ...] [--rounds 0 1 2 5]``
``[--blend 0.5]``. The policy
should differ from the data's (``other`` is a SAC of another seed that no dataset contains).
"""

from __future__ import annotations

import argparse

import torch

from dreamenv.evaluation.policies import load_policy
from dreamenv.models import load_checkpoint, pretrained_path, pretrained_trajectory_path
from dreamenv.models.termination import termination_for
from dreamenv.training.common import load_training_dataset
from dreamenv.trajectories.generate import Stepwise
from dreamenv.trajectories.truth import format_report, measure, write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trajectory-model", default=str(pretrained_trajectory_path("hopper")),
                   help="trajectory model checkpoint (default: the shipped one), or 'stepwise': "
                        "rounds re-simulate the actions open loop in the step model")
    p.add_argument("--step-model", default=str(pretrained_path("hopper")))
    p.add_argument("--start-model", help="step model of DyDiff's start rollout (DyDiff's is the "
                                         "MLP ensemble; default: --step-model)")
    p.add_argument("--model", nargs="*", default=[], help="other step models, LABEL=DIR")
    p.add_argument("--policy", default="other")
    p.add_argument("--dataset", help="start states (default: the trajectory model's data)")
    p.add_argument("--starts", type=int, default=256)
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--rounds", type=int, nargs="+", default=[0, 1, 2, 5])
    p.add_argument("--blend", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)

    if args.trajectory_model == "stepwise":  # injection with the step model re-simulating
        step_model, learned, config = load_checkpoint(args.step_model)
        trajectory_model = Stepwise(step_model)
    else:
        trajectory_model, _, config = load_checkpoint(args.trajectory_model)
        step_model, learned, _ = load_checkpoint(args.step_model, config["env_id"])
    env_id = config["env_id"]
    others = {}
    for spec in args.model:
        label, _, path = spec.partition("=")
        others[label] = load_checkpoint(path, env_id)[0]
    dataset, _ = load_training_dataset(args.dataset or config["dataset"]["source"])
    _, policy = load_policy(args.policy, config["task"])
    start_model = load_checkpoint(args.start_model, env_id)[0] if args.start_model else None
    report = measure(trajectory_model, step_model, policy, dataset, env_id,
                     termination_for(env_id, learned), tuple(args.rounds), args.starts,
                     args.horizon, args.blend, others, args.seed, start_model)
    report.update(policy=args.policy, trajectory_model=args.trajectory_model,
                  step_model=args.step_model, start_model=args.start_model or args.step_model)
    write_report(report, args.out)
    print(format_report(report))
    print(f"wrote {args.out}/injection.json and injection.png")


if __name__ == "__main__":
    main()
