"""``dreamenv offline``: offline RL on a dataset (TD3+BC), from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamenv._config_cli import add_dataclass_options, config_from_args
from dreamenv.offline.sources import SOURCES, DyDiffConfig, MopoConfig
from dreamenv.offline.td3_bc import TD3BCConfig


def cmd_offline_train(args: argparse.Namespace) -> None:
    from dreamenv.offline.sources import make_source
    from dreamenv.offline.td3_bc import train_td3_bc
    from dreamenv.training.common import load_training_dataset

    cfg = config_from_args(TD3BCConfig, args)
    source, label = None, "none"
    if args.synthetic != "none":
        dataset, name = load_training_dataset(cfg.dataset)
        source, label = make_source(
            args.synthetic, dataset, dataset.metadata["env_id"], args.synthetic_model,
            args.start_model, args.synthetic_file, config_from_args(MopoConfig, args, "mopo_"),
            config_from_args(DyDiffConfig, args, "dydiff_"))
        if label.get("model_dataset") not in (None, name):
            print(f"note: the {args.synthetic} model was trained on {label['model_dataset']}, "
                  f"not on {name}: the comparison with real data alone is not like for like")
    result = train_td3_bc(cfg, args.out, source, label)
    print(json.dumps(result["evals"][-1:], indent=2))
    print(f"run directory: {args.out} (policy.safetensors, evals.json)")


def add_offline_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``offline train`` to the ``dreamenv`` subcommands."""
    offline = commands.add_parser("offline", help="offline RL on a dataset (TD3+BC)")
    offline_cmds = offline.add_subparsers(dest="offline_command", required=True,
                                          metavar="SUBCOMMAND")
    p = offline_cmds.add_parser("train", help="train TD3+BC on a dataset, scored in the real env "
                                              "(resumes if interrupted)")
    add_dataclass_options(p, TD3BCConfig)
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--synthetic", choices=SOURCES, default="none",
                   help="generated data mixed into every batch: MOPO rollouts in an ensemble, "
                        "DyDiff trajectories, or a fixed file (default: none, real data only)")
    p.add_argument("--synthetic-model", help="mopo: the ensemble checkpoint; dydiff: the "
                                             "trajectory model checkpoint")
    p.add_argument("--start-model", help="dydiff: the step model of the start rollout "
                                         "(DyDiff uses the ensemble)")
    p.add_argument("--synthetic-file", help="file: a D4RL-format HDF5 file of transitions")
    add_dataclass_options(p, MopoConfig, "mopo-")
    add_dataclass_options(p, DyDiffConfig, "dydiff-")
    p.set_defaults(func=cmd_offline_train)
