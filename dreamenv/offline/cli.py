"""``dreamenv offline``: offline RL on a dataset (TD3+BC), from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamenv._config_cli import add_dataclass_options, config_from_args
from dreamenv.offline.td3_bc import TD3BCConfig


def cmd_offline_train(args: argparse.Namespace) -> None:
    from dreamenv.offline.td3_bc import train_td3_bc

    cfg = config_from_args(TD3BCConfig, args)
    result = train_td3_bc(cfg, args.out)
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
    p.set_defaults(func=cmd_offline_train)
