"""The ``dreamenv`` commands that judge models on policies they never saw: ``fidelity``, ``falls``
and ``family build`` (registered by :func:`add_fidelity_commands` from ``dreamenv.cli``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from dreamenv.tasks import TASKS


def _labelled(spec: str) -> tuple[str, str]:
    label, named, body = spec.partition("=")
    return (label, body) if named else (Path(spec).name or spec, spec)


def cmd_fidelity(args: argparse.Namespace) -> None:
    from dreamenv.evaluation.family import load_family
    from dreamenv.evaluation.fidelity import format_report, run_fidelity, write_report

    family = load_family(args.family, args.task)
    models = dict(_labelled(spec) for spec in args.models)
    if len(models) < len(args.models):
        raise ValueError("two models have the same label; name them with LABEL=DIR")
    models = {label: None if body == "shipped" else body for label, body in models.items()}
    env_kwargs = {"precision": args.precision}
    if args.denoising_steps is not None:
        env_kwargs["denoising_steps"] = args.denoising_steps
    if args.temperature is not None:
        env_kwargs["sampling_temperature"] = args.temperature
    report = run_fidelity(models, family, env_kwargs, samples=args.bootstrap)
    write_report(report, args.out)
    print(format_report(report))
    print(f"wrote {Path(args.out) / 'fidelity.json'} and fidelity.png")


def cmd_falls(args: argparse.Namespace) -> None:
    from dreamenv.evaluation.falls import diagnose, write_report
    from dreamenv.evaluation.policies import load_policy

    for spec in args.policies:
        label, policy = load_policy(spec, args.task)
        report = diagnose(policy, args.model, episodes=args.episodes, seed=args.seed,
                          draws=args.draws, task=args.task)
        write_report(report, args.out, label)
        closed = report["closed_loop"]
        print(f"{label}: real falls {report['real_falls']}/{args.episodes}, one-step fall "
              f"recall {report['fall_recall']}, false-fall hazard "
              f"{report['false_fall_hazard_per_step']:.2e}/step; open loop "
              f"{json.dumps(report['open_loop'])}; closed-loop lengths real "
              f"{closed['real_lengths']} learned {closed['learned_lengths']}; one-step error "
              f"{report['one_step_error_over_std']['total']:.4f} of the spread, real falls "
              f"under per-step kicks of that size {json.dumps(report['noise_floor'])}, "
              f"learned falls {json.dumps(report['learned_noise_floor'])}")
    print(f"wrote {args.out}/falls-*.json and .png")


def cmd_family_build(args: argparse.Namespace) -> None:
    import numpy as np

    from dreamenv.evaluation.family import build_family

    runs = dict(_labelled(spec) for spec in args.runs)
    spec = build_family(runs, args.out, per_lineage=args.per_lineage, episodes=args.episodes,
                        seed=args.seed, task=args.task)
    for entry in spec["policies"]:
        lengths = np.asarray(entry["real_lengths"])
        print(f"{entry['name']:>22} return {np.mean(entry['real_returns']):7.1f} "
              f"falls {np.mean(lengths < spec['max_steps']):.2f}")
    print(f"wrote {Path(args.out) / 'family.json'}")


def add_fidelity_commands(commands: argparse._SubParsersAction,
                          positive_int: Callable[[str], int]) -> None:
    """Add ``fidelity``, ``falls`` and ``family build`` to the ``dreamenv`` subcommands."""
    _positive_int = positive_int
    p = commands.add_parser("fidelity", help="models judged on the independent policy family: "
                                             "rank metrics per lineage, fall fidelity")
    p.add_argument("models", nargs="*", default=["shipped"], metavar="MODEL",
                   help="checkpoint directories, or 'shipped'; LABEL=DIR names one "
                        "(default: shipped)")
    p.add_argument("--out", required=True, help="directory for fidelity.json / fidelity.png")
    p.add_argument("--family", help="family directory (default: the shipped one)")
    p.add_argument("--precision", default="float32", choices=["auto", "float32", "bfloat16"],
                   help="model precision (default float32: what a single env uses)")
    p.add_argument("--denoising-steps", type=_positive_int, help="default: the model's")
    p.add_argument("--temperature", type=float,
                   help="sampling temperature in [0, 1] (default: the model's)")
    p.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.set_defaults(func=cmd_fidelity)

    p = commands.add_parser("falls", help="why the learned env misjudges falls: one-step, "
                                          "open-loop and closed-loop, along real episodes")
    p.add_argument("policies", nargs="+", metavar="POLICY", help="policy specs, as in compare")
    p.add_argument("--out", required=True, help="directory for falls-LABEL.json / .png")
    p.add_argument("--model", help="checkpoint directory (default: the shipped model)")
    p.add_argument("--episodes", type=_positive_int, default=10)
    p.add_argument("--draws", type=_positive_int, default=8, help="one-step samples per state")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.add_argument("--seed", type=int, default=0, help="episode k starts from seed + k")
    p.set_defaults(func=cmd_falls)

    fam = commands.add_parser("family", help="build the independent evaluation family")
    fam_cmds = fam.add_subparsers(dest="family_command", required=True, metavar="SUBCOMMAND")
    p = fam_cmds.add_parser("build", help="grade finished runs' snapshots into a family")
    p.add_argument("runs", nargs="+", metavar="LINEAGE=RUN_DIR",
                   help="finished TD3/SAC run directories, named by lineage")
    p.add_argument("--out", required=True, help="family directory")
    p.add_argument("--per-lineage", type=_positive_int, default=8,
                   help="graded snapshots per lineage (plus a late collapse if the run has one)")
    p.add_argument("--episodes", type=_positive_int, default=20, help="real episodes each")
    p.add_argument("--seed", type=int, default=0, help="episode k starts from seed + k")
    p.add_argument("--task", default="hopper", choices=sorted(TASKS))
    p.set_defaults(func=cmd_family_build)
