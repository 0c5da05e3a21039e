"""The trajectory model on its own: shapes, windows longer horizons are cut into, the loss mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.models.history import History
from dreamenv.models.trajectory import TrajectoryConfig, TrajectoryDiffusion
from dreamenv.training.data import TransitionData

S, A, L, W = 11, 3, 2, 8


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = TrajectoryConfig(history_len=L, window=W, channels=16, blocks=2, context_hidden=32,
                           context_layers=1, denoising_steps=3)
    return TrajectoryDiffusion(cfg, S, A)


def _history(b=5):
    g = torch.Generator().manual_seed(1)
    return History(torch.randn(b, L + 1, S, generator=g), torch.rand(b, L, A, generator=g),
                   torch.ones(b, L + 1, dtype=torch.bool))


@pytest.mark.parametrize("horizon", [1, W, W + 3, 3 * W])
def test_sample_shapes_for_any_horizon(model, horizon):
    h = _history()
    actions = torch.rand(5, horizon, A) * 2 - 1
    states, rewards = model.sample_trajectory(h, actions, torch.Generator().manual_seed(0))
    assert states.shape == (5, horizon, S) and rewards.shape == (5, horizon)
    assert torch.isfinite(states).all()
    again, _ = model.sample_trajectory(h, actions, torch.Generator().manual_seed(0))
    assert torch.equal(states, again)


def test_windows_are_joint_and_chained(model):
    """Changing an action late in the first window changes the states before it (the window is
    denoised jointly, not causally), and a second window depends on the first."""
    torch.nn.init.normal_(model.denoiser.out.weight)  # an untrained net's output is zeroed
    h = _history(2)
    actions = torch.zeros(2, 2 * W, A)
    base, _ = model.sample_trajectory(h, actions, torch.Generator().manual_seed(0))
    late = actions.clone()
    late[:, W - 1] = 1.0
    moved, _ = model.sample_trajectory(h, late, torch.Generator().manual_seed(0))
    assert not torch.allclose(base[:, 0], moved[:, 0])
    assert not torch.allclose(base[:, W:], moved[:, W:])


def test_loss_ignores_steps_past_the_episode(model):
    h = _history()
    actions, states = torch.rand(5, W, A), torch.randn(5, W, S)
    rewards, valid = torch.randn(5, W), torch.ones(5, W)
    valid[:, 4:] = 0
    loss = model.loss(h, actions, states, rewards, valid, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    # The masked steps' targets must not count: with the net's output at zero (its init), the
    # loss is a per-token sum over the targets, so an error placed only there changes nothing.
    model.target_norm.mean[4:] += 100.0
    same = model.loss(h, actions, states, rewards, valid, torch.Generator().manual_seed(0))
    torch.testing.assert_close(same, loss)
    model.target_norm.mean[:4] += 100.0
    moved = model.loss(h, actions, states, rewards, valid, torch.Generator().manual_seed(0))
    assert moved > 10 * loss


def test_windows_stop_at_the_episode_end(hopper_random):
    data = TransitionData(hopper_random, 0.2, 0)
    last = int(data.ends[0])  # the first episode's last row
    rows = np.array([last - 2])
    batch = data.windows(rows, L, W)
    assert batch.valid[0].tolist() == [1.0] * 3 + [0.0] * (W - 3)
    np.testing.assert_allclose(batch.states[0, 0], hopper_random["next_observations"][last - 2])
    np.testing.assert_allclose(batch.states[0, 5], hopper_random["next_observations"][last])
