"""The ``dreamenv`` command line: ``dreamenv --help`` lists the subcommands.

Errors the user can fix (bad file, unknown name, mismatched checkpoint) print one line and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from dreamenv._config_cli import add_dataclass_options, config_from_args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _dataset_file(name_or_path: str) -> Path:
    """A path as given, or the cached file of a dataset name."""
    from dreamenv.datasets.recipes import RECIPES, dataset_path

    if name_or_path in RECIPES:
        return dataset_path(name_or_path)
    return Path(name_or_path)


def _print_summary(path: Path, summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": str(path), **summary}, indent=2))
        return
    print(f"{path}")
    for key, value in summary.items():
        print(f"  {key:24s} {value:.3f}" if isinstance(value, float) else f"  {key:24s} {value}")


def cmd_data_make(args: argparse.Namespace) -> None:
    import torch

    from dreamenv.datasets.hdf5 import load_hdf5
    from dreamenv.datasets.recipes import make_dataset

    # Torch's default of one thread per core makes two jobs on this 2-core machine crawl, and
    # the behaviour SAC run's replay buffer is only bit-identical at the thread count it was made at.
    torch.set_num_threads(args.threads)
    start = time.time()
    path = make_dataset(args.name, steps=args.steps, seed=args.seed, force=args.force,
                        sac_run=args.sac_run)
    dataset = load_hdf5(path)
    summary = dataset.metadata.get("summary") or dataset.summary()
    _print_summary(path, {**summary, "seconds": round(time.time() - start, 1)}, args.json)


def cmd_data_info(args: argparse.Namespace) -> None:
    from dreamenv.datasets.hdf5 import load_hdf5

    path = _dataset_file(args.file)
    dataset = load_hdf5(path)
    summary = dataset.summary()
    if not args.json:
        summary = {"env_id": dataset.metadata.get("env_id", "unknown"), **summary}
    _print_summary(path, summary, args.json)


def cmd_data_list(args: argparse.Namespace) -> None:
    from dreamenv.datasets.recipes import RECIPES, dataset_path

    for name, recipe in RECIPES.items():
        path = dataset_path(name)
        state = "cached" if path.exists() else "not made"
        size = (recipe.source.value if recipe.default_steps is None
                else f"{recipe.default_steps:,}")
        print(f"{name:24s} {size:>10s}  {state:8s}  {recipe.description}")


def _minari_module():
    try:
        from dreamenv.datasets import minari
    except ModuleNotFoundError as e:
        raise ValueError(f"{e.name} is not installed: pip install 'dreamenv[minari]'") from None
    return minari


def cmd_data_export_minari(args: argparse.Namespace) -> None:
    from dreamenv.datasets.hdf5 import load_hdf5

    export_minari = _minari_module().export_minari

    dataset = load_hdf5(_dataset_file(args.file))
    print(export_minari(dataset, args.id, overwrite=args.overwrite))


def cmd_data_import_minari(args: argparse.Namespace) -> None:
    from dreamenv.datasets.hdf5 import save_hdf5

    dataset = _minari_module().import_minari(args.id)
    print(save_hdf5(dataset, args.out))


def cmd_behaviour_train(args: argparse.Namespace) -> None:
    import torch

    from dreamenv.behaviour.sac import SACConfig, train_sac
    from dreamenv.behaviour.td3 import TD3Config, train_td3
    from dreamenv.paths import data_dir

    torch.set_num_threads(args.threads)
    config_cls, train = {"sac": (SACConfig, train_sac), "td3": (TD3Config, train_td3)}[args.algo]
    cfg = config_from_args(config_cls, args)
    default = data_dir() / "runs" / f"{args.algo}-{cfg.env_id}-seed{cfg.seed}"
    out = Path(args.out) if args.out else default
    result = train(cfg, out)
    print(json.dumps(result["evals"][-1:], indent=2))
    print(f"run directory: {out}")


def cmd_behaviour_select(args: argparse.Namespace) -> None:
    from dreamenv.behaviour.select import select_policies

    report = select_policies(args.run, args.out, episodes=args.episodes,
                             best_only_as=args.best_only_as)
    print(json.dumps(report, indent=2))


def cmd_behaviour_evaluate(args: argparse.Namespace) -> None:
    import numpy as np

    from dreamenv.behaviour import behaviour_policy
    from dreamenv.datasets.rollout import evaluate_returns
    from dreamenv.tasks import TASKS

    env_id = TASKS[args.task].env_id
    for level in args.levels:
        policy = behaviour_policy(args.task, level, deterministic=args.deterministic)
        returns = evaluate_returns(policy, env_id, args.episodes, args.seed)
        score = TASKS[args.task].normalized_score(float(np.mean(returns)))
        print(f"{args.task}-{level:8s} return {returns.mean():8.1f} ± {returns.std():6.1f}"
              f"  (normalised {score:5.1f}, {args.episodes} episodes)")


def cmd_train(args: argparse.Namespace) -> None:
    from dreamenv.models.diffusion import DiffusionConfig
    from dreamenv.models.ensemble import EnsembleConfig
    from dreamenv.models.trajectory import TrajectoryConfig
    from dreamenv.training.common import ModelKind, TrainConfig
    from dreamenv.training.run import train_model

    kind = ModelKind(args.model)
    config_cls = {ModelKind.DIFFUSION: DiffusionConfig, ModelKind.ENSEMBLE: EnsembleConfig,
                  ModelKind.TRAJECTORY: TrajectoryConfig}[kind]
    model_cfg = config_from_args(config_cls, args, f"{kind.value}-")
    out = train_model(kind, config_from_args(TrainConfig, args), model_cfg, args.out)
    print(f"model checkpoint: {out}")


def cmd_evaluate_model(args: argparse.Namespace) -> None:
    from dreamenv.evaluation.accuracy import evaluate_models, format_table

    report = evaluate_models(args.checkpoints, args.out, dataset=args.dataset,
                             policy_file=args.policy, n_starts=args.starts,
                             other_steps=args.other_steps, seed=args.seed,
                             mean_samples=args.mean_samples)
    print(format_table(report))
    print(f"wrote {Path(args.out) / 'accuracy.json'} and accuracy.png")


def cmd_compare(args: argparse.Namespace) -> None:
    from dreamenv.evaluation.compare import compare_policies, format_report, write_report
    from dreamenv.evaluation.policies import load_policy
    from dreamenv.tasks import get_task

    policies = dict(load_policy(spec, args.task) for spec in args.policies)
    if len(policies) < len(args.policies):
        raise ValueError("two policy specs have the same label; name them with LABEL=SPEC")
    env_kwargs = {"device": args.device} if args.device else {}
    if args.denoising_steps is not None:
        env_kwargs["denoising_steps"] = args.denoising_steps
    if args.agent_conf:  # the policies play as MaMuJoCo teams, through PettingZoo
        if env_kwargs:
            raise ValueError("--device and --denoising-steps apply to single-agent policies, "
                             "not with --agent-conf")
        try:
            from dreamenv.multiagent.compare import compare_joint_policies
        except ImportError as exc:
            raise ValueError(str(exc)) from None
        report = compare_joint_policies(policies, args.agent_conf, get_task(args.task).title,
                                        episodes=args.episodes, seed=args.seed,
                                        max_steps=args.max_steps, model=args.model)
    else:
        report = compare_policies(policies, episodes=args.episodes, seed=args.seed,
                                  max_steps=args.max_steps, task=args.task, model=args.model,
                                  env_kwargs=env_kwargs)
    report["specs"] = list(args.policies)
    write_report(report, args.out)
    print(format_report(report))
    print(f"wrote {Path(args.out) / 'compare.json'} and compare.png")


def cmd_video(args: argparse.Namespace) -> None:
    from dreamenv.evaluation.video import side_by_side

    result = side_by_side(args.out, policy=args.policy, seed=args.seed, steps=args.steps,
                          model=args.model, size=args.size, task=args.task)
    for name, ret in result["returns"].items():
        print(f"{name:>16}: return {ret:8.1f} over {result['lengths'][name]} steps")
    print(f"wrote {result['video']}")


def cmd_imagine(args: argparse.Namespace) -> None:
    from dreamenv.integrations.imagine import ImagineConfig, format_summary, run_imagine

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(ImagineConfig)
             if hasattr(args, f.name)}  # options left out are absent: the task's recipe fills them
    task = given.pop("task", ImagineConfig.task)
    cfg = (ImagineConfig(task=task, **given) if args.no_recipe
           else ImagineConfig.for_task(task, **given))
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("dreamenv imagine needs RLlib: pip install -e '.[rllib]'") from None
    if cfg.agent_conf:
        try:
            import dreamenv.multiagent  # noqa: F401
        except ImportError as exc:
            raise ValueError(str(exc)) from None
    report = run_imagine(cfg, args.out)
    print(format_summary(report))
    print(f"wrote {Path(args.out) / 'report.json'}, returns.png and compare.png")


def build_parser() -> argparse.ArgumentParser:
    from dreamenv.behaviour.sac import SACConfig
    from dreamenv.behaviour.td3 import TD3Config
    from dreamenv.models.diffusion import DiffusionConfig
    from dreamenv.models.ensemble import EnsembleConfig
    from dreamenv.models.trajectory import TrajectoryConfig
    from dreamenv.tasks import TASKS
    from dreamenv.training.common import ModelKind, TrainConfig

    parser = argparse.ArgumentParser(
        prog="dreamenv", description="Offline data -> diffusion dynamics model -> Gymnasium env.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="make, inspect, export and import offline datasets")
    data_cmds = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = data_cmds.add_parser("make", help="generate a named dataset (cached; instant the 2nd time)")
    p.add_argument("name", help="dataset name, e.g. hopper-medium (see `dreamenv data list`)")
    p.add_argument("--steps", type=_positive_int, help="transitions (default: D4RL's size)")
    p.add_argument("--seed", type=int, help="rollout seed (default: the recipe's)")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--sac-run", help="behaviour SAC run directory (replay datasets)")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="torch CPU threads for policies and the behaviour SAC run (default: 1, "
                        "which the shipped replay datasets were made with)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_data_make)
    p = data_cmds.add_parser("info", help="validate a D4RL-format HDF5 file and summarise it")
    p.add_argument("file", help="an .hdf5 path or a dataset name")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_data_info)
    p = data_cmds.add_parser("list", help="list the named datasets and whether they are cached")
    p.set_defaults(func=cmd_data_list)
    p = data_cmds.add_parser("export-minari", help="write a dataset as a local Minari dataset")
    p.add_argument("file", help="an .hdf5 path or a dataset name")
    p.add_argument("--id", required=True, help="Minari dataset id, e.g. dreamenv/hopper-medium-v0")
    p.add_argument("--overwrite", action="store_true", help="replace an existing Minari dataset")
    p.set_defaults(func=cmd_data_export_minari)
    p = data_cmds.add_parser("import-minari", help="read a local Minari dataset into an HDF5 file")
    p.add_argument("id", help="Minari dataset id (looked up under $MINARI_DATASETS_PATH)")
    p.add_argument("--out", required=True, help="output .hdf5 path")
    p.set_defaults(func=cmd_data_import_minari)

    beh = commands.add_parser("behaviour", help="train, select and evaluate behaviour policies")
    beh_cmds = beh.add_subparsers(dest="behaviour_command", required=True, metavar="SUBCOMMAND")
    for algo, config_cls, what in (("sac", SACConfig, "SAC (the behaviour policies)"),
                                   ("td3", TD3Config, "TD3 (the independent family)")):
        p = beh_cmds.add_parser("train" if algo == "sac" else f"train-{algo}",
                                help=f"train {what} on the real env (resumes if interrupted)")
        add_dataclass_options(p, config_cls)
        p.add_argument("--out",
                       help=f"run directory (default: $DREAMENV_DATA/runs/{algo}-ENV-seedN)")
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
        p.set_defaults(func=cmd_behaviour_train, algo=algo)
    p = beh_cmds.add_parser("select", help="pick expert and medium snapshots from a SAC run")
    p.add_argument("run", help="SAC run directory")
    p.add_argument("--out", default=None, help="weights directory (default: the package's)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--best-only-as", metavar="LEVEL",
                   help="keep only the best snapshot, saved as LEVEL (e.g. other)")
    p.set_defaults(func=cmd_behaviour_select)
    p = beh_cmds.add_parser("evaluate", help="real-env returns of the shipped behaviour policies")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.add_argument("--levels", nargs="+", default=["random", "medium", "expert"])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true", help="act with the mean action")
    p.set_defaults(func=cmd_behaviour_evaluate)

    p = commands.add_parser("train", help="train a dynamics model (resumes if interrupted)")
    p.add_argument("--model", choices=[k.value for k in ModelKind], default="diffusion")
    p.add_argument("--out", required=True, help="checkpoint directory")
    add_dataclass_options(p, TrainConfig)
    add_dataclass_options(p.add_argument_group("diffusion model"), DiffusionConfig, "diffusion-")
    add_dataclass_options(p.add_argument_group("ensemble model"), EnsembleConfig, "ensemble-")
    add_dataclass_options(p.add_argument_group("trajectory model (DyDiff's generation)"),
                          TrajectoryConfig, "trajectory-")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("evaluate-model", help="open-loop error of models vs real episodes")
    p.add_argument("checkpoints", nargs="+", help="model checkpoint directories")
    p.add_argument("--out", required=True, help="directory for accuracy.json / accuracy.png")
    p.add_argument("--dataset", help="dataset for held-out episodes (default: the training one)")
    p.add_argument("--policy", help="policy file for unseen episodes (default: shipped 'other')")
    p.add_argument("--starts", type=int, default=512, help="start states per episode set")
    p.add_argument("--other-steps", type=int, default=20_000,
                   help="real transitions collected from the unseen policy")
    p.add_argument("--mean-samples", type=int, default=16,
                   help="samples a diffusion model's mean propagation averages (0: skip it)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate_model)

    from dreamenv.integrations.imagine import ImagineConfig

    p = commands.add_parser("imagine", help="train an RLlib agent inside a learned env "
                                            "(DyDiff-<Task>, --task), evaluate it in the real "
                                            "env (resumes)")
    p.add_argument("--out", default="runs/imagine", help="run directory")
    p.add_argument("--no-recipe", action="store_true",
                   help="ignore the task's recipe (its module's imagine_options): every option "
                        "left out takes the default shown here")
    add_dataclass_options(p, ImagineConfig, suppress_defaults=True)
    p.set_defaults(func=cmd_imagine)

    p = commands.add_parser("compare", help="seed-matched returns of policies in the learned "
                                            "and the real env; DOPE rank metrics")
    p.add_argument("policies", nargs="+", metavar="POLICY",
                   help="random | medium | expert | other | LEVEL+NOISE | actor.safetensors | "
                        "RLlib checkpoint dir | module:callable; LABEL=SPEC names one")
    p.add_argument("--out", required=True, help="directory for compare.json / compare.png")
    p.add_argument("--episodes", type=_positive_int, default=10, help="episodes per policy")
    p.add_argument("--max-steps", type=_positive_int, default=1000, help="steps per episode")
    p.add_argument("--seed", type=int, default=0, help="episode i starts from seed + i")
    p.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.add_argument("--device", help="where the learned env's model runs (cuda, cuda:1; "
                                    "default the CPU)")
    p.add_argument("--denoising-steps", type=_positive_int,
                   help="the learned env's sampling steps (default: the model's)")
    p.add_argument("--agent-conf", help="play each policy as a MaMuJoCo team (e.g. 3x1: its "
                                        "action split among the agents) in the multi-agent "
                                        "DyDiff env and real MaMuJoCo")
    p.set_defaults(func=cmd_compare)

    from dreamenv.evaluation.cli import add_fidelity_commands

    add_fidelity_commands(commands, _positive_int)

    from dreamenv.offline.cli import add_offline_commands
    from dreamenv.trajectories.cli import add_rollouts_command

    add_offline_commands(commands)
    add_rollouts_command(commands, _positive_int)

    p = commands.add_parser("video", help="one policy in the real env and in the learned env, "
                                          "side by side, same seed")
    p.add_argument("--out", required=True, help="video file, .mp4 or .gif")
    p.add_argument("--policy", default="expert", help="shipped behaviour policy level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=300, help="env steps at most")
    p.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    p.add_argument("--size", type=int, default=320, help="pixels per side of each panel")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.set_defaults(func=cmd_video)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as e:  # DatasetError and every other user-fixable error derive from it
        print(f"dreamenv: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
