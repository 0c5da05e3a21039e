"""Open-loop error: zero for a model that knows the answer, hand-computable for a biased one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.evaluation.openloop import EpisodeSet, choose_starts, open_loop_errors
from dreamenv.models.interface import Prediction


class ReplayModel:
    """Looks the true next state up by (current state, action): a perfect model, plus ``bias``."""

    history_len = 2

    def __init__(self, episodes: EpisodeSet, bias: float = 0.0):
        self.table = {(o.tobytes(), a.tobytes()): (n, r) for o, a, n, r in zip(
            episodes.observations, episodes.actions, episodes.next_observations,
            episodes.rewards)}
        self.bias = bias

    def predict(self, history, action, generator=None):
        # Rows whose episode has ended replay a dummy action and are not scored: any answer.
        unknown = (np.zeros(11, np.float32), np.float32(0))
        out = [self.table.get((s.numpy().tobytes(), a.numpy().tobytes()), unknown)
               for s, a in zip(history.current, action)]
        next_state = torch.as_tensor(np.stack([n for n, _ in out])) + self.bias
        reward = torch.as_tensor(np.array([r for _, r in out]))
        return Prediction(next_state, reward, torch.zeros(len(out)))


@pytest.fixture
def episodes(hopper_random):
    return EpisodeSet.from_arrays(hopper_random.arrays, hopper_random.episodes)


def test_perfect_model_has_zero_error(episodes):
    starts = choose_starts(episodes, 50, seed=0)
    result = open_loop_errors(ReplayModel(episodes), episodes, starts, np.ones(11),
                              horizons=(1, 5, 10))
    assert all(v == 0 for v in result["state_rmse"].values())
    assert all(v == 0 for v in result["reward_mae"].values())
    # Starts count only where the episode lasts long enough for the horizon.
    assert result["starts"][1] == 50 and result["starts"][10] <= result["starts"][5] <= 50


def test_biased_first_step_error_is_bias_over_std(episodes):
    starts = choose_starts(episodes, 20, seed=1)
    std = np.full(11, 2.0)
    result = open_loop_errors(ReplayModel(episodes, bias=0.5), episodes, starts, std,
                              horizons=(1,))
    assert result["state_rmse"][1] == pytest.approx(0.25, rel=1e-5)
    assert result["state_median"][1] == pytest.approx(0.25, rel=1e-5)
