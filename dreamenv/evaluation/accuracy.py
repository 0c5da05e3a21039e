"""``dreamenv evaluate-model``: open-loop error of one or more models on two kinds of episodes.

* held-out episodes of the training dataset (the same episodes the training run held out), and
* fresh real episodes of a policy that is in no dataset (by default the shipped ``other`` policy,
  a SAC run with another seed).

Every model is evaluated both with sampled propagation (feed back one sample, what the env does)
and with mean propagation (feed back the predicted mean): an ensemble's mean of its elites' means,
a diffusion model's average of ``mean_samples`` samples (:class:`~dreamenv.models.sample_mean.
SampleMean`) at its default denoising steps. Writes ``accuracy.json`` and ``accuracy.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dreamenv._atomic import atomic_path
from dreamenv.behaviour import behaviour_policy
from dreamenv.behaviour.policy import ActorPolicy, load_actor
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.rollout import collect
from dreamenv.evaluation.openloop import HORIZONS, EpisodeSet, choose_starts, open_loop_errors
from dreamenv.models.checkpoint import load_checkpoint
from dreamenv.models.ensemble import Propagation
from dreamenv.models.sample_mean import SampleMean
from dreamenv.tasks import TASKS
from dreamenv.training.common import load_training_dataset
from dreamenv.training.data import TransitionData


def model_variants(path: str | Path, env_id: str | None = None, mean_samples: int = 16
                   ) -> list[tuple[str, object, dict]]:
    """``(label, model, predict kwargs)`` for each way a checkpoint is evaluated."""
    model, _, config = load_checkpoint(path, env_id)
    name = Path(path).name
    if config["kind"] == "diffusion":
        steps = model.cfg.denoising_steps
        out = [(f"diffusion {name} (sampled, {steps} steps)", model, {})]
        if mean_samples:
            out.append((f"diffusion {name} (mean of {mean_samples}, {steps} steps)",
                        SampleMean(model, mean_samples), {}))
        return out
    out = []
    for mode in (Propagation.MEAN, Propagation.SAMPLE):
        variant, _, _ = load_checkpoint(path, env_id)
        variant.propagation = mode
        out.append((f"ensemble {name} ({mode.value})", variant, {}))
    return out


def evaluation_episodes(config: dict, dataset: str | None, policy_file: str | None,
                        other_steps: int, seed: int) -> tuple[dict[str, EpisodeSet], np.ndarray,
                                                              dict]:
    """The two episode sets, the training data's state std, and notes for the report."""
    train_cfg = config["training"]["config"]["train"]
    data_name = dataset or config["dataset"]["source"]
    data, _ = load_training_dataset(data_name, config["env_id"])
    split = TransitionData(data, train_cfg["holdout_fraction"], train_cfg["seed"])
    notes = {"dataset": data_name, "same_data_as_training":
             split.fingerprint == config["dataset"]["sha256"]}
    held = EpisodeSet.from_arrays(data.arrays, split.holdout_episodes)
    state_std = data["observations"][split.train_rows].std(0)
    if policy_file:
        actor, info = load_actor(policy_file, config["env_id"])
        policy = ActorPolicy(actor, metadata=info)
    elif config["task"] not in TASKS:
        raise ValueError(f"{config['env_id']}: no shipped policy outside the data to judge the "
                         "model on; pass --policy FILE (a policy the model never saw)")
    else:
        policy = behaviour_policy(config["task"], "other")
    arrays = collect(policy, config["env_id"], other_steps, seed=seed + 1000, desc="other policy")
    other = OfflineDataset(arrays)
    notes["other_policy"] = {k: v for k, v in policy.metadata.items() if k != "sac_config"}
    # Held-out episodes of another dataset are not the training run's: say whose they are.
    held_label = ("held-out episodes (in data)" if notes["same_data_as_training"]
                  else f"held-out episodes of {Path(str(data_name)).name} (another dataset)")
    sets = {held_label: held,
            "other policy (not in data)": EpisodeSet.from_arrays(arrays, other.episodes)}
    return sets, state_std, notes


def evaluate_models(checkpoints: list[str], out_dir: str | Path, dataset: str | None = None,
                    policy_file: str | None = None, n_starts: int = 512,
                    other_steps: int = 20_000, seed: int = 0,
                    horizons: tuple[int, ...] = HORIZONS, mean_samples: int = 16) -> dict:
    """Evaluate every checkpoint on both episode sets; write JSON and PNG to ``out_dir``."""
    _, _, first = load_checkpoint(checkpoints[0])
    variants = [v for path in checkpoints
                for v in model_variants(path, first["env_id"], mean_samples)]
    sets, state_std, notes = evaluation_episodes(first, dataset, policy_file, other_steps, seed)
    results: dict = {}
    for set_name, episodes in sets.items():
        starts = choose_starts(episodes, n_starts, seed)
        results[set_name] = {label: open_loop_errors(model, episodes, starts, state_std,
                                                     horizons, seed, kwargs)
                             for label, model, kwargs in variants}
    report = {"env_id": first["env_id"], "horizons": list(horizons), "n_starts": n_starts,
              "mean_samples": mean_samples,
              "checkpoints": [str(c) for c in checkpoints], **notes, "results": results}
    report = json.loads(json.dumps(report))  # the same str-keyed form as the file
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "accuracy.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    plot_accuracy(report, out_dir / "accuracy.png")
    return report


def format_table(report: dict) -> str:
    """The horizon table as plain text: one row per (episode set, model variant)."""
    hs = report["horizons"]
    lines = [f"{'episodes':28s} {'model':52s} " + " ".join(f"h={h:<6d}" for h in hs)]
    for set_name, by_model in report["results"].items():
        for label, res in by_model.items():
            cells = " ".join(f"{res['state_rmse'][str(h)]:<8.3f}" for h in hs)
            lines.append(f"{set_name:28s} {label:52s} {cells}")
    return "\n".join(lines)


def plot_accuracy(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(report["results"])
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4), squeeze=False)
    for ax, set_name in zip(axes[0], sets):
        for label, res in report["results"][set_name].items():
            hs = sorted(int(h) for h in res["state_rmse"])
            ax.plot(hs, [res["state_rmse"][str(h)] for h in hs], marker="o", label=label)
        ax.set(xscale="log", yscale="log", xlabel="horizon (steps)",
               ylabel="normalised state RMSE", title=set_name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"open-loop error, {report['env_id']}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
