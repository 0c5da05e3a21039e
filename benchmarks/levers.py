"""The lever table: models trained with one change each, judged on the same three benchmarks.

For every model (``LABEL=DIR``, or ``shipped``), in one run:

* fidelity on the independent family (``dreamenv fidelity``): per lineage Spearman, regret@1,
  median relative return error and the largest fall-fraction gap, and whether the issue-10
  targets are met on every lineage;
* the project's own comparison set (``dreamenv compare`` on the behaviour policies and their
  noisy variants): Spearman and median relative error, which must not get worse;
* the horizon table (``dreamenv evaluate-model``'s sampled propagation): normalised state RMSE at
  h = 1, 10, 100 on 20k transitions of the unseen ``other`` policy (the same episodes and
  normalisation as ``evaluate-model``), and with ``--held-out`` on held-out episodes of
  hopper-full-replay (which a model trained on other data may have seen).

Usage: ``python benchmarks/levers.py shipped union=models/hopper-union ... --out runs/levers``;
``LABEL=DIR1+DIR2+DIR3`` is an ensemble of those checkpoints (``ModelEnsemble``).
``--skip-horizons`` skips the third part.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from _common import print_table
from dreamenv.behaviour import behaviour_policy
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.rollout import collect
from dreamenv.evaluation.accuracy import evaluation_episodes
from dreamenv.evaluation.compare import compare_policies
from dreamenv.evaluation.family import load_family
from dreamenv.evaluation.fidelity import run_fidelity
from dreamenv.evaluation.openloop import EpisodeSet, choose_starts, open_loop_errors
from dreamenv.evaluation.policies import load_policy
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.models.model_ensemble import ModelEnsemble

COMPARE_SET = ("random", "medium+1.0", "medium+0.5", "medium", "other+0.5", "other",
               "expert+0.5", "expert")


def unseen_policy_episodes() -> tuple[dict, np.ndarray, dict]:
    """``evaluation_episodes``' unseen-policy set alone, normalised by the shipped model's
    state std (so every model's error is in the same units)."""
    policy = behaviour_policy("hopper", "other")
    arrays = collect(policy, "Hopper-v5", 20_000, seed=1000, desc="other policy")
    episodes = EpisodeSet.from_arrays(arrays, OfflineDataset(arrays).episodes)
    std = load_checkpoint(pretrained_path("hopper"))[0].state_norm.std.numpy()
    return {"other policy (not in data)": episodes}, std, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", help="LABEL=DIR or shipped")
    parser.add_argument("--out", required=True, help="directory for levers.json")
    parser.add_argument("--episodes", type=int, default=10, help="compare-set episodes")
    parser.add_argument("--starts", type=int, default=512, help="open-loop starts per set")
    parser.add_argument("--skip-horizons", action="store_true")
    parser.add_argument("--held-out", action="store_true",
                        help="also the held-out episodes of hopper-full-replay (needs the set)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models: dict[str, object] = {}
    for spec in args.models:
        label, _, path = spec.partition("=")
        path = path or str(pretrained_path("hopper"))
        members = path.split("+")
        models[label] = path if len(members) == 1 else ModelEnsemble(
            [load_checkpoint(m)[0] for m in members])
    family = load_family()
    compare_set = dict(load_policy(spec) for spec in COMPARE_SET)
    horizon_sets = None
    if args.held_out:
        _, _, shipped_config = load_checkpoint(pretrained_path("hopper"))
        horizon_sets = evaluation_episodes(shipped_config, "hopper-full-replay", None, 20_000, 0)
    elif not args.skip_horizons:
        horizon_sets = unseen_policy_episodes()
    rows, results = [], {}
    for label, path in models.items():
        # Float32 as a single env uses; an ensemble's members sample in their own precision
        # (float32), and the env takes sampling options for a diffusion model only.
        env_kwargs = {"precision": "float32"} if isinstance(path, str) else {}
        fidelity = run_fidelity({label: path}, family, env_kwargs)
        groups = fidelity["models"][label]["score"]["groups"]
        row = {"model": label}
        for group, m in groups.items():
            row[f"{group} Spearman"] = m["spearman"]["value"]
            row[f"{group} regret@1"] = m["regret@1"]["value"]
            row[f"{group} med.rel.err"] = m["relative_return_error_median"]["value"]
            row[f"{group} fall gap"] = m["fall_fraction_gap_max"]["value"]
        row["targets met"] = fidelity["models"][label]["score"]["meets_targets"]
        own = compare_policies(compare_set, episodes=args.episodes, model=path,
                               env_kwargs=env_kwargs)
        row["own set Spearman"] = own["summary"]["spearman"]
        row["own set med.rel.err"] = own["summary"]["relative_return_error_median"]
        results[label] = {"fidelity": fidelity, "compare": own}
        if horizon_sets is not None:
            model = load_checkpoint(path)[0] if isinstance(path, str) else path
            sets, std, _ = horizon_sets
            for set_name, episodes in sets.items():
                tag = "unseen" if "not in data" in set_name else "held-out"
                errors = open_loop_errors(model, episodes, choose_starts(episodes, args.starts, 0),
                                          std, (1, 10, 100), 0)
                row.update({f"{tag} h={h}": errors["state_rmse"][h] for h in (1, 10, 100)})
                results[label][f"horizons {tag}"] = errors
        rows.append(row)
        print_table([row], f"lever: {label}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "levers.json").write_text(json.dumps({"rows": rows, "results": results}, indent=1))
    print_table(rows, "levers (fidelity per lineage; own compare set; open-loop RMSE)")


if __name__ == "__main__":
    main()
