"""Training data for dynamics models: held-out episodes and batches of history windows.

Shapes: ``N`` rows, ``B`` batch, ``L`` history length, ``S`` state size, ``A`` action size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.models.history import History, dataset_windows, episode_starts


@dataclass
class Batch:
    history: History
    action: torch.Tensor  # (B, A)
    next_state: torch.Tensor  # (B, S)
    reward: torch.Tensor  # (B,)
    terminal: torch.Tensor  # (B,) float 0/1

    def to(self, device: str | torch.device) -> Batch:
        """The same batch on ``device`` (a no-op on the CPU)."""
        h = self.history
        return Batch(History(h.states.to(device), h.actions.to(device), h.valid.to(device)),
                     self.action.to(device), self.next_state.to(device),
                     self.reward.to(device), self.terminal.to(device))


@dataclass
class WindowBatch:
    """A batch of start windows and the ``W`` steps that follow each (the trajectory model's
    training data): ``actions (B, W, A)``, ``states (B, W, S)`` (the next states),
    ``rewards (B, W)``, ``valid (B, W)`` float 0/1 (0 after the episode's end)."""

    history: History
    actions: torch.Tensor
    states: torch.Tensor
    rewards: torch.Tensor
    valid: torch.Tensor

    def to(self, device: str | torch.device) -> WindowBatch:
        h = self.history
        return WindowBatch(History(h.states.to(device), h.actions.to(device), h.valid.to(device)),
                           *(getattr(self, k).to(device) for k in ("actions", "states", "rewards",
                                                                   "valid")))


class TransitionData:
    """A dataset split by whole episodes into training and held-out rows.

    Args:
        dataset: D4RL-layout data.
        holdout_fraction: share of episodes kept out of training (at least one episode).
        seed: which episodes are held out.
    """

    def __init__(self, dataset: OfflineDataset, holdout_fraction: float = 0.1, seed: int = 0):
        self.obs = dataset["observations"]
        self.next_obs = dataset["next_observations"]
        self.actions = dataset["actions"]
        self.rewards = dataset["rewards"]
        self.terminals = dataset["terminals"]
        self.starts = episode_starts(dataset["terminals"], dataset["timeouts"])
        last = np.flatnonzero(np.r_[self.starts[1:] != self.starts[:-1], True])
        self.ends = last[np.searchsorted(last, np.arange(len(self.starts)))]  # episode's last row
        episodes = dataset.episodes
        n_held = max(1, int(round(holdout_fraction * len(episodes))))
        if n_held >= len(episodes):
            raise ValueError(f"{len(episodes)} episode(s) cannot be split into training and "
                             "held-out episodes; use a larger dataset")
        held = np.random.default_rng(seed).choice(len(episodes), n_held, replace=False)
        is_held = np.zeros(len(dataset), bool)
        for start, stop in episodes[np.sort(held)]:
            is_held[start:stop] = True
        self.train_rows = np.flatnonzero(~is_held)
        self.holdout_rows = np.flatnonzero(is_held)
        self.holdout_episodes = episodes[np.sort(held)]
        self.fingerprint = dataset_fingerprint(dataset)

    def batch(self, rows: np.ndarray, history_len: int) -> Batch:
        return Batch(
            dataset_windows(self.obs, self.actions, self.starts, rows, history_len),
            torch.as_tensor(self.actions[rows]),
            torch.as_tensor(self.next_obs[rows]),
            torch.as_tensor(self.rewards[rows]),
            torch.as_tensor(self.terminals[rows], dtype=torch.float32),
        )


    def windows(self, rows: np.ndarray, history_len: int, window: int) -> WindowBatch:
        """The start window of each row and the ``window`` transitions from it on. Steps past
        the episode's end repeat its last transition (masked out by ``valid``), so the
        network's input stays on the data."""
        idx = rows[:, None] + np.arange(window)  # (B, W) transition rows
        end = self.ends[rows][:, None]
        valid = idx <= end
        idx = np.minimum(idx, end)
        return WindowBatch(
            dataset_windows(self.obs, self.actions, self.starts, rows, history_len),
            torch.as_tensor(self.actions[idx], dtype=torch.float32),
            torch.as_tensor(self.next_obs[idx], dtype=torch.float32),
            torch.as_tensor(self.rewards[idx], dtype=torch.float32),
            torch.as_tensor(valid, dtype=torch.float32))


@torch.no_grad()
def with_own_history(model: object, data: TransitionData, rows: np.ndarray, history_len: int,
                     generator: torch.Generator) -> Batch:
    """The batch of ``rows`` with its history window replaced by ``model``'s own rollout.

    For a row whose current state is ``s_t`` and whose whole window lies inside its episode,
    the model starts from the recorded window ending in ``s_{t-L}`` and replays the recorded
    actions ``a_{t-L} .. a_{t-1}``; the imagined ``s_{t-L+1} .. s_t`` replace the recorded ones.
    The target stays the *recorded* ``s_{t+1}``, so the model learns to pull a drifted state
    back toward the data (Venkatraman et al.'s "data as demonstrator"). Rows too close to their
    episode's start keep their recorded window.
    """
    batch = data.batch(rows, history_len)
    full = batch.history.valid.all(1).numpy()
    if history_len == 0 or not full.any():
        return batch
    r = rows[full]
    window = data.batch(r - history_len, history_len).history
    for k in range(history_len):
        action = torch.as_tensor(data.actions[r - history_len + k])
        window = window.push(action, model.predict(window, action, generator).next_state)
    states = batch.history.states.clone()
    states[torch.as_tensor(full)] = window.states
    history = History(states, batch.history.actions, batch.history.valid)
    return Batch(history, batch.action, batch.next_state, batch.reward, batch.terminal)


def dataset_fingerprint(dataset: OfflineDataset) -> str:
    """SHA-256 of the transition arrays: names the exact data a model was trained on."""
    digest = hashlib.sha256()
    for key in ("observations", "actions", "next_observations", "rewards", "terminals",
                "timeouts"):
        digest.update(np.ascontiguousarray(dataset[key]).tobytes())
    return digest.hexdigest()
