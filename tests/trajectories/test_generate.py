"""DyDiff generation on the shipped step model: shapes, injection, cuts, filters, the real truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.behaviour import behaviour_policy
from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.tasks.hopper import hopper_terminated
from dreamenv.trajectories.generate import (
    Stepwise,
    Trajectories,
    closed_loop,
    cut_at_termination,
    filter_by_return,
    generate,
)
from dreamenv.trajectories.starts import draw_starts, real_trajectories


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(pretrained_path("hopper"))[0]


@pytest.fixture(scope="module")
def expert():
    return behaviour_policy("hopper", "expert", deterministic=True)


@pytest.fixture
def starts(hopper_random, model):
    return draw_starts(hopper_random, 6, model.history_len, seed=0)


def test_shapes_and_plain_generation(model, expert, starts):
    out = generate(Stepwise(model), model, expert, starts.history, horizon=8, rounds=0,
                   terminated=hopper_terminated)
    assert out.states.shape == (6, 9, 11) and out.actions.shape == (6, 8, 3)
    assert out.rewards.shape == (6, 8) and out.rounds_action_error == []
    np.testing.assert_array_equal(out.states[:, 0], starts.history.current.numpy())
    # K = 0 is the start rollout: the policy's own actions on the states it visited.
    np.testing.assert_allclose(out.actions, expert.act(out.states[:, :-1].reshape(-1, 11), None)
                               .reshape(6, 8, 3), atol=1e-6)


def test_injection_keeps_the_start_and_moves_actions_to_the_policy(model, expert, starts):
    """With the start rollout made by *another* policy (the random one), each round re-denoises
    the states under fixed actions, blends and relabels: the start state never moves, and the
    actions end up as the learning policy's on the final states."""

    class Switch:  # random actions for the start rollout, the expert afterwards
        def __init__(self):
            self.calls = 0

        def act(self, obs, rng):
            self.calls += 1
            if self.calls <= 8:
                return np.random.default_rng(self.calls).uniform(-1, 1, (len(obs), 3))
            return expert.act(obs, rng)

    out = generate(Stepwise(model), model, Switch(), starts.history, horizon=8, rounds=3,
                   terminated=hopper_terminated)
    np.testing.assert_array_equal(out.states[:, 0], starts.history.current.numpy())
    first, *rest = out.rounds_action_error
    assert first > 0.2 and rest[-1] < 0.5 * first
    np.testing.assert_allclose(out.actions, expert.act(out.states[:, :-1].reshape(-1, 11), None)
                               .reshape(6, 8, 3), atol=1e-6)


def test_blend_one_is_the_new_sample(model, expert, starts):
    """blend = 1 replaces the states with the round's sample: the states are then the open-loop
    rollout of the previous actions."""
    gen = generate(Stepwise(model), model, expert, starts.history, horizon=5, rounds=1,
                   terminated=hopper_terminated, blend=1.0, seed=3)
    generator = torch.Generator().manual_seed(3)  # the same stream, consumed in the same order
    _, actions, *_ = closed_loop(model, expert, starts.history, 5, np.random.default_rng(3),
                                generator)
    again, _ = Stepwise(model).sample_trajectory(starts.history, torch.as_tensor(actions),
                                                 generator)
    np.testing.assert_allclose(gen.states[:, 1:], again.numpy(), atol=1e-6)


def test_cuts_and_transitions():
    states = np.full((3, 5, 11), 0.0)
    states[..., 0] = 1.25
    states[1, 3, 0] = 0.5  # falls on step 3
    states[2, 1, 1] = 0.5  # falls on step 1
    lengths, terminals = cut_at_termination(states, hopper_terminated)
    assert lengths.tolist() == [4, 3, 1] and terminals.tolist() == [False, True, True]
    rewards = np.ones((3, 4))
    t = Trajectories(states, np.zeros((3, 4, 3)), rewards, lengths, terminals, [])
    assert t.returns.tolist() == [4.0, 3.0, 1.0]
    rows = t.transitions()
    assert len(rows["rewards"]) == 8
    assert rows["terminals"].tolist() == [False] * 4 + [False, False, True] + [True]
    assert rows["timeouts"].tolist() == [False, False, False, True] + [False] * 4
    OfflineDataset({k: v for k, v in rows.items()})  # a valid D4RL layout


def test_return_filters_keep_the_right_share():
    n = 10
    t = Trajectories(np.zeros((n, 3, 11)), np.zeros((n, 2, 3)),
                     np.arange(n, dtype=float)[:, None].repeat(2, 1), np.full(n, 2),
                     np.zeros(n, bool), [])
    hard = filter_by_return(t, 0.6)
    assert sorted(hard.returns.tolist()) == [8.0, 10.0, 12.0, 14.0, 16.0, 18.0]
    soft = filter_by_return(t, 0.6, temperature=0.05, seed=1)
    assert len(soft.returns) == 6 and soft.returns.min() >= 8.0  # 0.05 is nearly hard
    warm = [filter_by_return(t, 0.3, temperature=100.0, seed=s).returns.min() for s in range(20)]
    assert min(warm) < 8.0  # a high temperature keeps low returns too
    with pytest.raises(ValueError, match="keep"):
        filter_by_return(t, 0.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon": 0}, "horizon must be in"), ({"horizon": 1001}, "horizon must be in"),
    ({"rounds": -1}, "rounds must be in"), ({"rounds": 21}, "rounds must be in"),
    ({"blend": 0.0}, "blend must be in"),
])
def test_bad_arguments(model, expert, starts, kwargs, message):
    args = {"horizon": 4, "rounds": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(Stepwise(model), model, expert, starts.history, terminated=hopper_terminated,
                 **args)


@pytest.mark.parametrize("bad, message", [
    (lambda obs: np.zeros((len(obs), 2)), "shape"),
    (lambda obs: np.full((len(obs), 3), np.nan), "NaN"),
])
def test_bad_policy_is_a_one_line_error(model, starts, bad, message):
    with pytest.raises(ValueError, match=message):
        generate(Stepwise(model), model, bad, starts.history, horizon=3, rounds=1,
                 terminated=hopper_terminated)


def test_real_env_restarts_in_the_dataset_states(hopper_random, expert, starts):
    real = real_trajectories(expert, starts, 20, "Hopper-v5")
    np.testing.assert_allclose(real["states"][:, 0], starts.history.current.numpy(), atol=1e-5)
    assert real["states"].shape == (6, 21, 11) and (real["lengths"] <= 20).all()
    # The recorded next state follows from the recorded action: restart and replay one step.
    row = starts.rows[0]
    replay = real_trajectories(lambda obs: hopper_random["actions"][row][None], starts, 1,
                               "Hopper-v5")
    np.testing.assert_allclose(replay["states"][0, 1], hopper_random["next_observations"][row],
                               atol=1e-3)
    no_sim = draw_starts(OfflineDataset({k: v for k, v in hopper_random.arrays.items()
                                         if not k.startswith("infos/")}), 2, 4)
    with pytest.raises(DatasetError, match="infos/qpos"):
        real_trajectories(expert, no_sim, 5, "Hopper-v5")
