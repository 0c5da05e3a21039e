"""Open-loop accuracy of a dynamics model against recorded real episodes.

From a recorded state with its recorded history, replay the recorded actions through the model
(feeding back its own predictions) and compare with the recorded states at each horizon ``h``:

* ``state_rmse[h]``: RMSE over rows and dimensions of the state error, each dimension divided
  by the training data's state std ("normalised state RMSE");
* ``state_median[h]``: median over rows of the per-row normalised RMSE (robust to a few
  diverging rows);
* ``reward_mae[h]``: mean absolute error of the reward at step ``h``.

A start contributes to horizon ``h`` only if its episode lasts at least ``h`` more steps.
Normalised errors are capped at ``ERROR_CAP`` per dimension so a diverging model gives a large
finite number instead of inf/NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamenv.models.history import dataset_windows, episode_starts

HORIZONS = (1, 10, 25, 50, 100, 200)
ERROR_CAP = 1e3


@dataclass
class EpisodeSet:
    """Recorded episodes in D4RL layout (flat arrays and ``(E, 2)`` row ranges)."""

    observations: np.ndarray
    actions: np.ndarray
    next_observations: np.ndarray
    rewards: np.ndarray
    episodes: np.ndarray

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], episodes: np.ndarray) -> EpisodeSet:
        return cls(arrays["observations"], arrays["actions"], arrays["next_observations"],
                   arrays["rewards"], np.asarray(episodes))


def choose_starts(episodes: EpisodeSet, n_starts: int, seed: int) -> np.ndarray:
    """``n_starts`` start rows, uniform over the rows of the episodes (seeded)."""
    rows = np.concatenate([np.arange(a, b) for a, b in episodes.episodes])
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, min(n_starts, len(rows)), replace=False))


def open_loop_errors(model, episodes: EpisodeSet, starts: np.ndarray, state_std: np.ndarray,
                     horizons: tuple[int, ...] = HORIZONS, seed: int = 0,
                     predict_kwargs: dict | None = None) -> dict:
    """Roll ``model`` open-loop from each start row; errors per horizon (see module docs)."""
    predict_kwargs = predict_kwargs or {}
    ends = np.zeros(len(episodes.rewards), dtype=np.int64)
    for a, b in episodes.episodes:
        ends[a:b] = b
    remaining = ends[starts] - starts  # steps recorded from each start to its episode's end
    h_max = max(horizons)
    term = np.zeros(len(episodes.rewards), bool)
    term[episodes.episodes[:, 1] - 1] = True
    starts_of = episode_starts(term, np.zeros_like(term))
    history = dataset_windows(episodes.observations, episodes.actions, starts_of, starts,
                              model.history_len)
    generator = torch.Generator().manual_seed(seed)
    std = torch.as_tensor(state_std, dtype=torch.float32)
    out: dict[str, dict[int, float]] = {"state_rmse": {}, "state_median": {}, "reward_mae": {},
                                        "starts": {}}
    for k in range(h_max):
        alive = remaining > k
        rows = np.where(alive, starts + k, starts)  # finished rows replay a dummy action
        action = torch.as_tensor(episodes.actions[rows])
        pred = model.predict(history, action, generator, **predict_kwargs)
        h = k + 1
        if h in horizons:
            keep = remaining >= h
            truth = torch.as_tensor(episodes.next_observations[rows])
            err = ((pred.next_state - truth) / std).nan_to_num(ERROR_CAP, ERROR_CAP, ERROR_CAP)
            err = err.abs().clamp_max(ERROR_CAP)[torch.as_tensor(keep)]
            r_err = (pred.reward - torch.as_tensor(episodes.rewards[rows])).abs()
            r_err = r_err.nan_to_num(ERROR_CAP, ERROR_CAP).clamp_max(ERROR_CAP)
            out["state_rmse"][h] = float(err.pow(2).mean().sqrt()) if keep.any() else float("nan")
            out["state_median"][h] = (float(err.pow(2).mean(1).sqrt().median())
                                      if keep.any() else float("nan"))
            out["reward_mae"][h] = (float(r_err[torch.as_tensor(keep)].mean())
                                    if keep.any() else float("nan"))
            out["starts"][h] = int(keep.sum())
        # Keep predictions finite so one diverging row cannot poison the batch.
        next_state = pred.next_state.nan_to_num(0.0, ERROR_CAP, -ERROR_CAP)
        history = history.push(action, next_state)
    return out
