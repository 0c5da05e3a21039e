"""Termination functions: plain callables over batches of predicted observations.

A task's own rule (in its module under :mod:`dreamenv.tasks`) is used whenever the task has one;
the learned head is the fallback for tasks without a known rule. Both map ``(B, S)`` next
observations to ``(B,)`` bools.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dreamenv.models.normalizer import Normalizer
from dreamenv.tasks import TerminationFn, task_for_env


class LearnedTermination(nn.Module):
    """Logistic MLP on the normalised next observation: the fallback for tasks without a rule."""

    def __init__(self, state_dim: int, hidden: int = 64, norm: Normalizer | None = None):
        super().__init__()
        self.norm = norm or Normalizer.empty(state_dim)
        self.net = nn.Sequential(nn.Linear(state_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def logits(self, next_obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm.normalize(next_obs)).squeeze(-1)

    @torch.no_grad()
    def __call__(self, next_obs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        x = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32)
        return (self.logits(x) > 0).numpy()

    def fit(self, next_obs: np.ndarray, terminals: np.ndarray, steps: int = 2000,
            seed: int = 0) -> float:
        """Train on dataset rows; positives are reweighted since terminals are rare. Returns the
        final balanced accuracy on the training rows."""
        gen = torch.Generator().manual_seed(seed)
        self.norm = Normalizer.fit(next_obs)
        x = torch.as_tensor(next_obs, dtype=torch.float32)
        y = torch.as_tensor(terminals, dtype=torch.float32)
        pos_weight = ((1 - y).sum() / y.sum().clamp_min(1)).clamp(1, 1000)
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        for _ in range(steps):
            idx = torch.randint(len(x), (512,), generator=gen)
            loss = nn.functional.binary_cross_entropy_with_logits(
                self.logits(x[idx]), y[idx], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
        pred = self(next_obs)
        truth = np.asarray(terminals, bool)
        recall = pred[truth].mean() if truth.any() else 1.0
        specificity = (~pred[~truth]).mean() if (~truth).any() else 1.0
        return float(0.5 * (recall + specificity))


def termination_for(env_id: str, learned: LearnedTermination | None = None) -> TerminationFn:
    """The task's rule if the project knows one for ``env_id``, else the learned head."""
    return task_for_env(env_id, generic=True).termination(learned)
