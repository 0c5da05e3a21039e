"""A small ensemble of independently trained dynamics models (e.g. diffusion models of other
seeds) behind the one ``DynamicsModel`` interface.

Every member predicts every row; each row then takes the prediction of one member drawn
uniformly at random (MOPO's rollout rule: the ensemble's spread becomes part of the imagined
dynamics), and its ``uncertainty`` is the disagreement between the members: the norm of the
per-dimension standard deviation of their next states, in the first member's normalised units.
All draws come from ``generator``, so a seeded call is reproducible; a row's result does not
depend on its batch when the generator is a per-row ``RowNoise``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from dreamenv.models.history import History
from dreamenv.models.interface import Prediction
from dreamenv.models.noise import Noise, rand


class ModelEnsemble:
    """``members`` (at least two) with equal history length and dimensions."""

    kind = "model-ensemble"

    def __init__(self, members: Sequence[object]):
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        first = members[0]
        for m in members[1:]:
            if (m.history_len, m.state_dim, m.action_dim) != (
                    first.history_len, first.state_dim, first.action_dim):
                raise ValueError("ensemble members differ in history length or dimensions")
        self.members = list(members)
        self.history_len, self.state_dim = first.history_len, first.state_dim
        self.action_dim = first.action_dim
        self.state_norm = getattr(first, "state_norm", None)

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Every member's torch parameters: where the ensemble's weights are (what an env built
        on the ensemble object reads its device from)."""
        for member in self.members:
            parameters = getattr(member, "parameters", None)
            if callable(parameters):
                yield from parameters()

    def predict(self, history: History, action: torch.Tensor, generator: Noise = None,
                **kwargs) -> Prediction:
        preds = [m.predict(history, action, generator, **kwargs) for m in self.members]
        states = torch.stack([p.next_state for p in preds])  # (M, B, S)
        rewards = torch.stack([p.reward for p in preds])  # (M, B)
        pick = (rand((action.shape[0],), generator, action.device) * len(preds)).long()
        pick = pick.clamp_max(len(preds) - 1)
        rows = torch.arange(action.shape[0], device=action.device)
        scale = self.state_norm.std if self.state_norm is not None else 1.0
        spread = (states / scale).std(0).norm(dim=-1)
        return Prediction(states[pick, rows], rewards[pick, rows], spread)
