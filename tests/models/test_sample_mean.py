"""Mean propagation of a stochastic model by averaging samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.models.history import History
from dreamenv.models.interface import Prediction
from dreamenv.models.noise import RowNoise
from dreamenv.models.sample_mean import SampleMean


class GaussianToy:
    """next_state = state + action + N(0, 1): its conditional mean is state + action."""

    kind, history_len, state_dim, action_dim = "toy", 2, 3, 3

    def __init__(self):
        self.rows_seen = []

    def predict(self, history, action, generator=None):
        self.rows_seen.append(action.shape[0])
        noise = torch.randn(action.shape, generator=generator)
        mean = history.current + action
        return Prediction(mean + noise, mean.sum(-1) + noise[:, 0], torch.zeros(len(action)))


def test_average_of_samples_estimates_the_conditional_mean():
    toy = GaussianToy()
    history = History.start(torch.arange(6.0).reshape(2, 3), 2, 3)
    action = torch.ones(2, 3)
    pred = SampleMean(toy, samples=4096).predict(history, action, torch.Generator().manual_seed(0))
    assert toy.rows_seen == [2 * 4096]  # one batched call
    assert pred.next_state == pytest.approx(history.current + 1, abs=0.05)
    assert pred.reward == pytest.approx((history.current + 1).sum(-1), abs=0.05)
    assert pred.uncertainty == pytest.approx(torch.full((2,), 3 ** 0.5), abs=0.05)  # std norm


def test_sample_mean_rejects_per_row_noise_and_bad_counts():
    with pytest.raises(ValueError, match="at least 1"):
        SampleMean(GaussianToy(), samples=0)
    history = History.start(torch.zeros(2, 3), 2, 3)
    with pytest.raises(ValueError, match="torch.Generator"):
        SampleMean(GaussianToy(), 2).predict(history, torch.zeros(2, 3), RowNoise(np.arange(2)))
