"""Mean propagation for a stochastic dynamics model: average ``k`` samples per row.

An ensemble has two ways to roll a trajectory forward: *sampled* (draw one next state from the
predictive distribution, what an env does) and *mean* (feed back the predicted mean, what an
open-loop accuracy test of a point predictor does). A diffusion model only samples; its
conditional mean ``E[s' | history, action]`` is estimated here by Monte Carlo over ``k`` samples,
so that open-loop comparisons are mean against mean and sample against sample.
"""

from __future__ import annotations

import torch

from dreamenv.models.history import History
from dreamenv.models.interface import Prediction
from dreamenv.models.noise import Noise


class SampleMean:
    """A ``DynamicsModel`` whose prediction is the average of ``samples`` draws of ``model``.

    Args:
        model: any dynamics model with a stochastic ``predict``.
        samples: draws per row (each costs one batched ``predict`` row, so a call on ``B`` rows
            runs the model on ``samples * B`` rows at once).

    ``uncertainty`` is the norm of the per-dimension standard deviation of the next state over
    the draws. ``generator`` must be a ``torch.Generator`` (a per-row noise source would give
    every copy of a row the same noise).
    """

    def __init__(self, model, samples: int = 8):
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        self.model = model
        self.samples = samples
        self.kind = getattr(model, "kind", "model")
        self.history_len = model.history_len
        self.state_dim = model.state_dim
        self.action_dim = model.action_dim

    def predict(self, history: History, action: torch.Tensor, generator: Noise = None,
                **kwargs) -> Prediction:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError("SampleMean needs a torch.Generator, not a per-row noise source")
        b, k = action.shape[0], self.samples
        rows = torch.arange(b).repeat(k)  # k blocks of the b rows
        pred = self.model.predict(history[rows], action[rows], generator, **kwargs)
        next_states = pred.next_state.reshape(k, b, -1)
        spread = next_states.std(0) if k > 1 else torch.zeros_like(next_states[0])
        return Prediction(next_states.mean(0), pred.reward.reshape(k, b).mean(0),
                          spread.norm(dim=-1))
