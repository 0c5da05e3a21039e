"""Offline RL on generated data: TD3+BC with (a) real data only, (b) real data plus DyDiff
trajectories, (c) real data plus MOPO-style ensemble rollouts (horizon 5), scored in the real
Hopper-v5 (D4RL-normalised) beside the published numbers.

Usage::

    python benchmarks/offline_rl.py run --dataset hopper-medium --source dydiff --seed 0
    python benchmarks/offline_rl.py table

``run`` makes what the cell needs if it is missing, all resumable: the dataset; for ``mopo`` and
``dydiff`` the MBPO/MOPO ensemble trained on that same dataset (at most ``--ensemble-epochs``
epochs; it is MOPO's model and DyDiff's start-rollout model); for ``dydiff`` a trajectory model
trained on that same dataset (the shipped model's recipe: 20k steps of batch 64, one noise level
per window). Then TD3+BC for ``--steps`` steps, and a result file
``benchmarks/results/offline_rl/<dataset>-<source>-seed<k>.json`` with the evaluation curve, the
CPU seconds of the TD3+BC run and of each model's training. Models and runs live under
``--work`` (default ``$DREAMENV_DATA/offline-rl``).

``table`` prints the README's table from every result file present: per dataset and source the
score of the final policy (10 episodes) and the mean of the last 10 evaluations (the TD3+BC
paper's protocol), mean and std over seeds, with the published numbers beside them, and the
wall minutes of one TD3+BC run on one thread (of the last call only if a run was resumed);
``--plot PNG`` draws the score curves.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dreamenv._atomic import atomic_path
from dreamenv.datasets.recipes import dataset_path
from dreamenv.models.ensemble import EnsembleConfig
from dreamenv.models.trajectory import TrajectoryConfig
from dreamenv.offline.sources import DyDiffConfig, MopoConfig, make_source
from dreamenv.offline.td3_bc import TD3BCConfig, train_td3_bc
from dreamenv.paths import data_dir
from dreamenv.training.common import ModelKind, TrainConfig, load_training_dataset
from dreamenv.training.run import train_model

RESULTS = Path(__file__).parent / "results" / "offline_rl"
DATASETS = ("hopper-medium", "hopper-medium-replay", "hopper-medium-expert")
SOURCES = ("none", "dydiff", "mopo")
SOURCE_NAMES = {"none": "(a) real only", "dydiff": "(b) + DyDiff", "mopo": "(c) + MOPO h=5"}
# D4RL v2 Hopper, normalised. TD3+BC as tabled in the IQL paper (Kostrikov et al. 2021);
# the rest from OfflineRL-Kit's README benchmark (4 seeds, yihaosun1124/OfflineRL-Kit @ e3ce697).
PUBLISHED = {
    "TD3+BC (IQL paper)": {"hopper-medium": 59.3, "hopper-medium-replay": 60.9,
                           "hopper-medium-expert": 98.0},
    "TD3+BC (OfflineRL-Kit)": {"hopper-medium": 60.8, "hopper-medium-replay": 67.3,
                               "hopper-medium-expert": 91.4},
    "MOPO (OfflineRL-Kit)": {"hopper-medium": 62.8, "hopper-medium-replay": 92.7,
                             "hopper-medium-expert": 74.6},
    "MOBILE (OfflineRL-Kit)": {"hopper-medium": 103.6, "hopper-medium-replay": 105.1,
                               "hopper-medium-expert": 112.5},
}


def model_dirs(work: Path, dataset: str, source: str, ensemble_epochs: int) -> dict[str, Path]:
    """Train (or find) the models ``source`` needs, on ``dataset``: the ensemble (MOPO's model,
    DyDiff's start rollout) and, for DyDiff, the trajectory model."""
    if source == "none":
        return {}
    root = work / "models" / dataset
    models = {"ensemble": train_model(ModelKind.ENSEMBLE,
                                      TrainConfig(dataset=dataset, threads=1,
                                                  ensemble_max_epochs=ensemble_epochs),
                                      EnsembleConfig(), root / "ensemble")}
    if source == "dydiff":
        models["trajectory"] = train_model(
            ModelKind.TRAJECTORY,
            TrainConfig(dataset=dataset, batch_size=64, diffusion_steps=20_000, eval_every=1000,
                        checkpoint_every=2000, threads=1),
            TrajectoryConfig(per_token_noise=False), root / "trajectory")
    return {k: Path(v) for k, v in models.items()}


def training_seconds(model_dir: Path) -> float:
    """Wall seconds the model's training took (one thread; CPU time is close to it)."""
    config = json.loads((model_dir / "config.json").read_text())
    return float(config["training"].get("elapsed_s") or config["training"]["log"][-1]["wall_s"])


def run_cell(args: argparse.Namespace) -> Path:
    work = Path(args.work)
    dataset, name = load_training_dataset(args.dataset)
    env_id = dataset.metadata["env_id"]
    models = model_dirs(work, name, args.source, args.ensemble_epochs)
    mopo, dydiff = MopoConfig(), DyDiffConfig(starts=args.dydiff_starts)
    source, label = make_source(
        args.source, dataset, env_id,
        model=models.get("trajectory" if args.source == "dydiff" else "ensemble"),
        start_model=models.get("ensemble"), mopo=mopo, dydiff=dydiff)
    cfg = TD3BCConfig(dataset=name, seed=args.seed, total_steps=args.steps, threads=1)
    cpu, wall = time.process_time(), time.time()
    result = train_td3_bc(cfg, work / "runs" / f"{name}-{args.source}-seed{args.seed}", source,
                          label)
    evals = result["evals"]
    record = {
        "dataset": name, "source": args.source, "seed": args.seed, "steps": args.steps,
        "final_score": evals[-1]["score"],
        "last10_score": float(np.mean([e["score"] for e in evals[-10:]])),
        "evals": evals, "td3bc_cpu_s_this_call": round(time.process_time() - cpu, 1),
        "td3bc_wall_s": evals[-1]["wall_s"], "this_call_wall_s": round(time.time() - wall, 1),
        "models": {k: {"dir": str(v), "training_s": training_seconds(v)}
                   for k, v in models.items()},
        "source_config": label, "td3bc_config": asdict(cfg),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, cwd=Path(__file__).parent).stdout.strip(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "data_score": dataset.summary()["normalized_score_mean"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{args.source}-seed{args.seed}.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    print(f"{name} {args.source} seed {args.seed}: final score {record['final_score']:.1f}, "
          f"last-10 mean {record['last10_score']:.1f}; wrote {out}")
    return out


def table(args: argparse.Namespace) -> None:
    records = [r for r in (json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json")))
               if r["steps"] == args.steps]
    if not records:
        print(f"no {args.steps}-step results under {RESULTS}; run "
              "`python benchmarks/offline_rl.py run ...` first")
        return
    print(f"TD3+BC, {args.steps:,} steps; D4RL-normalised score of the final policy / mean of "
          "the last 10 evaluations, mean ± std over seeds (seeds)\n")
    header = ["dataset", *SOURCE_NAMES.values(), "TD3+BC minutes/run", *PUBLISHED]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for dataset in DATASETS:
        cells, minutes = [], []
        for source in SOURCES:
            rows = [r for r in records if r["dataset"] == dataset and r["source"] == source]
            if not rows:
                cells.append("not run")
                continue
            final = np.array([r["final_score"] for r in rows])
            last10 = np.array([r["last10_score"] for r in rows])
            cells.append(f"{final.mean():.1f} ± {final.std():.1f} / {last10.mean():.1f} ± "
                         f"{last10.std():.1f} ({len(rows)})")
            minutes.append(f"{source}: {np.mean([r['td3bc_wall_s'] for r in rows]) / 60:.0f}")
        published = [f"{PUBLISHED[k][dataset]:.1f}" for k in PUBLISHED]
        print(f"| {dataset} | " + " | ".join([*cells, ", ".join(minutes) or "-", *published])
              + " |")
    trained = {}
    for r in records:
        for kind, info in r["models"].items():
            trained[(r["dataset"], kind)] = info["training_s"]
    if trained:
        print("\nmodel training (one thread, minutes): " + "; ".join(
            f"{d} {k} {s / 60:.0f}" for (d, k), s in sorted(trained.items())))
    if args.plot:
        plot(records, Path(args.plot))


def data_score(dataset: str, records: list[dict]) -> float | None:
    """The dataset's own normalised score: from a result file (newer runs record it), else from
    the dataset file if it is already on disk. Never makes the dataset (for medium-replay that
    is the whole behaviour SAC run), so the table stays quick on a fresh machine."""
    for r in records:
        if r["dataset"] == dataset and "data_score" in r:
            return r["data_score"]
    if dataset_path(dataset).is_file():
        return load_training_dataset(dataset)[0].summary()["normalized_score_mean"]
    return None


def plot(records: list[dict], path: Path) -> None:
    """Score against training step per dataset: each source's mean over seeds (band: min to
    max), the published TD3+BC score at 1M steps dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in DATASETS if any(r["dataset"] == d for r in records)]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for i, source in enumerate(SOURCES):
            rows = [r for r in records if r["dataset"] == dataset and r["source"] == source]
            if not rows:
                continue
            steps = [e["step"] for e in rows[0]["evals"]]
            scores = np.array([[e["score"] for e in r["evals"]] for r in rows])
            ax.plot(steps, scores.mean(0), color=f"C{i}",
                    label=f"{SOURCE_NAMES[source]} ({len(rows)} seeds)")
            ax.fill_between(steps, scores.min(0), scores.max(0), color=f"C{i}", alpha=0.15)
        ax.axhline(PUBLISHED["TD3+BC (IQL paper)"][dataset], color="k", ls="--", lw=1,
                   label="TD3+BC published, 1M steps")
        data = data_score(dataset, records)
        if data is not None:
            ax.axhline(data, color="grey", ls=":", lw=1, label="the data's episodes")
        ax.set(title=dataset, xlabel="TD3+BC step", ylabel="D4RL-normalised score (real env)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="one cell: a dataset, a source, a seed")
    run.add_argument("--dataset", choices=DATASETS, required=True)
    run.add_argument("--source", choices=SOURCES, required=True)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--steps", type=int, default=100_000,
                     help="TD3+BC gradient steps (the paper's 1M takes ~3 h per run here)")
    run.add_argument("--ensemble-epochs", type=int, default=20,
                     help="cap on the ensemble's epochs (MBPO's stopping rule would take hours "
                          "on 1M transitions on this CPU)")
    run.add_argument("--dydiff-starts", type=int, default=DyDiffConfig.starts,
                     help="DyDiff trajectories per refresh")
    run.add_argument("--work", default=str(data_dir() / "offline-rl"),
                     help="models and runs (default: $DREAMENV_DATA/offline-rl)")
    run.set_defaults(func=run_cell)
    tab = commands.add_parser("table", help="the README table from the result files")
    tab.add_argument("--steps", type=int, default=100_000, help="runs of this length only")
    tab.add_argument("--plot", help="also write the score curves to this PNG")
    tab.set_defaults(func=table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
