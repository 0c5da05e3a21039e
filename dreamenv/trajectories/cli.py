"""``dreamenv rollouts``: DyDiff trajectories for a policy, written as a synthetic D4RL file."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def cmd_rollouts(args: argparse.Namespace) -> None:
    import numpy as np

    from dreamenv.datasets.dataset import OfflineDataset
    from dreamenv.datasets.hdf5 import save_hdf5
    from dreamenv.evaluation.policies import load_policy
    from dreamenv.models import load_checkpoint, pretrained_path, pretrained_trajectory_path
    from dreamenv.models.termination import termination_for
    from dreamenv.training.common import dataset_source, load_training_dataset
    from dreamenv.trajectories.generate import filter_by_return, generate
    from dreamenv.trajectories.starts import draw_starts

    model_dir = args.model or pretrained_trajectory_path(args.task)
    model, _, config = load_checkpoint(model_dir)
    if not callable(getattr(model, "sample_trajectory", None)):
        raise ValueError(f"{model_dir}: a {model.kind} model cannot denoise trajectories; "
                         "train one with `dreamenv train --model trajectory`")
    env_id = config["env_id"]
    start_dir = args.start_model or pretrained_path(config["task"])
    start_model, learned, _ = load_checkpoint(start_dir, env_id)
    if not callable(getattr(start_model, "predict", None)):
        raise ValueError(f"{start_dir}: the start rollout needs a step model")
    label, policy = load_policy(args.policy, config["task"])
    dataset, name = load_training_dataset(args.dataset or config["dataset"]["source"], env_id)
    starts = draw_starts(dataset, args.starts, max(model.history_len, start_model.history_len),
                         args.seed)
    out = generate(model, start_model, policy, starts.history, args.horizon, args.rounds,
                   termination_for(env_id, learned), blend=args.blend, seed=args.seed)
    total = len(out.lengths)
    if args.keep < 1.0:
        out = filter_by_return(out, args.keep, args.temperature, args.seed)
    meta = {"env_id": env_id, "name": Path(args.out).stem, "synthetic": True,
            "generator": {"algorithm": "DyDiff policy injection", "model": str(model_dir),
                          "start_model": str(start_dir), "policy": args.policy,
                          "rounds": args.rounds, "blend": args.blend, "horizon": args.horizon,
                          "filter": {"keep": args.keep, "temperature": args.temperature},
                          "start_dataset": dataset_source(args.dataset or name),
                          "seed": args.seed, "trajectories": total,
                          "action_error_per_round": out.rounds_action_error}}
    synthetic = OfflineDataset(out.transitions(), meta)
    synthetic.metadata["summary"] = synthetic.summary()
    save_hdf5(synthetic, args.out)
    print(f"{label}: {len(out.lengths)} of {total} trajectories kept, {len(synthetic)} "
          f"transitions, predicted return {np.mean(out.returns):.1f}, cut by termination "
          f"{np.mean(out.terminals):.2f}; action error per round "
          f"{[round(e, 4) for e in out.rounds_action_error]}")
    print(f"wrote {args.out} (synthetic; `dreamenv data info {args.out}`)")


def add_rollouts_command(commands: argparse._SubParsersAction,
                         positive_int: Callable[[str], int]) -> None:
    """Add ``rollouts`` to the ``dreamenv`` subcommands."""
    p = commands.add_parser("rollouts", help="DyDiff trajectories with policy injection, as a "
                                             "synthetic D4RL-format HDF5 file")
    p.add_argument("--model", help="trajectory model checkpoint directory (default: the shipped "
                                   "one for --task)")
    p.add_argument("--task", default="hopper", help="task of the shipped models (default: hopper)")
    p.add_argument("--policy", required=True, help="learning policy (any `dreamenv compare` spec)")
    p.add_argument("--out", required=True, help="output .hdf5 file")
    p.add_argument("--start-model", help="step model of the start rollout (default: shipped)")
    p.add_argument("--dataset", help="start states (default: the model's training data)")
    p.add_argument("--starts", type=positive_int, default=1024, help="trajectories")
    p.add_argument("--horizon", type=positive_int, default=100)
    p.add_argument("--rounds", type=int, default=2, help="injection rounds K (0: start rollout)")
    p.add_argument("--blend", type=float, default=0.5, help="weight of each round's new states")
    p.add_argument("--keep", type=float, default=1.0,
                   help="share kept by predicted return (DyDiff: 0.6; default: all)")
    p.add_argument("--temperature", type=float,
                   help="soft filter: softmax temperature of the standardised return "
                        "(DyDiff: 0.05; default: hard top share)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_rollouts)
