"""Open-loop accuracy of a diffusion checkpoint against denoising steps (and history noise).

Same episodes and metric as ``dreamenv evaluate-model`` (held-out episodes of the training data
and episodes of the unseen ``other`` policy); prints normalised state RMSE per horizon.
Usage: ``python benchmarks/model_accuracy.py [--model DIR] [--steps 1 3 5 10]
[--history-noise 0.02] [--precision float32 bfloat16]``.
"""

from __future__ import annotations

import argparse
import itertools

import torch

from _common import print_table
from dreamenv.evaluation.accuracy import evaluation_episodes
from dreamenv.evaluation.openloop import HORIZONS, choose_starts, open_loop_errors
from dreamenv.models import load_checkpoint, pretrained_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="diffusion checkpoint (default: shipped)")
    parser.add_argument("--dataset", default=None, help="held-out episodes source")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 5, 10])
    parser.add_argument("--history-noise", type=float, nargs="+", default=[None])
    parser.add_argument("--heun", action="store_true", help="also try Heun at each step count")
    parser.add_argument("--precision", nargs="+", default=["float32"],
                        choices=["float32", "bfloat16"])
    parser.add_argument("--starts", type=int, default=512)
    parser.add_argument("--metric", default="state_rmse",
                        choices=["state_rmse", "state_median", "reward_mae"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _, config = load_checkpoint(args.model or pretrained_path("hopper"))
    sets, std, _ = evaluation_episodes(config, args.dataset, None, 20_000, seed=0)
    rows = []
    variants = itertools.product(args.precision, args.history_noise, args.steps,
                                 [False, True] if args.heun else [False])
    for precision, noise, steps, heun in variants:
        row = {"precision": precision, "steps": steps, "heun": heun,
               "history noise": noise if noise is not None else model.cfg.history_noise}
        for set_name, episodes in sets.items():
            starts = choose_starts(episodes, args.starts, 0)
            res = open_loop_errors(model, episodes, starts, std, HORIZONS, 0,
                                   {"steps": steps, "history_noise": noise, "heun": heun,
                                    "precision": precision})
            tag = "unseen" if "not in data" in set_name else "in"
            row.update({f"{tag} h={h}": res[args.metric][h] for h in (1, 10, 100, 200)})
        rows.append(row)
    print_table(rows, f"{args.metric} vs denoising steps ({config['kind']} model, "
                      f"'in' = held-out episodes in data, 'unseen' = other policy)")


if __name__ == "__main__":
    main()
