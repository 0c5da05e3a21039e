"""The interface every dynamics model in dreamenv implements (diffusion and ensemble alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from dreamenv.models.history import History
from dreamenv.models.noise import Noise


@dataclass
class Prediction:
    """One predicted step for a batch of ``B`` rows.

    Attributes:
        next_state: ``(B, S)`` the next observation.
        reward: ``(B,)`` the reward of the transition.
        uncertainty: ``(B,)`` a non-negative score, larger where the model knows less (used by
            the MOPO-style reward penalty); each model documents what it measures.
    """

    next_state: torch.Tensor
    reward: torch.Tensor
    uncertainty: torch.Tensor


class DynamicsModel(Protocol):
    """``predict(history, action, generator) -> Prediction``; all sampling noise comes from
    ``generator`` (a ``torch.Generator`` or a per-row ``RowNoise``) so a seeded call is
    reproducible."""

    history_len: int
    state_dim: int
    action_dim: int

    def predict(self, history: History, action: torch.Tensor,
                generator: Noise = None) -> Prediction: ...
