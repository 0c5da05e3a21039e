"""Real-env rollouts: layout, continuity inside episodes, determinism, and a physics replay."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.datasets.rollout import collect, evaluate_returns


def test_layout_and_dtypes(hopper_random):
    a = hopper_random.arrays
    assert set(a) == {"observations", "actions", "next_observations", "rewards", "terminals",
                      "timeouts", "infos/qpos", "infos/qvel"}
    assert a["observations"].shape == a["next_observations"].shape == (600, 11)
    assert a["actions"].shape == (600, 3)
    assert a["rewards"].shape == a["terminals"].shape == a["timeouts"].shape == (600,)
    assert a["infos/qpos"].shape == a["infos/qvel"].shape == (600, 6)
    assert a["observations"].dtype == np.float32 and a["terminals"].dtype == bool
    assert np.all(np.abs(a["actions"]) <= 1.0)


def test_next_observation_is_next_row_inside_episodes(hopper_random):
    a = hopper_random.arrays
    episodes = hopper_random.episodes
    assert len(episodes) > 5, "random Hopper falls within ~20-100 steps"
    for start, stop in episodes:
        np.testing.assert_array_equal(a["next_observations"][start:stop - 1],
                                      a["observations"][start + 1:stop])
    # Episodes end exactly where a terminal or timeout flag is, and the data ends closed.
    assert a["terminals"][-1] or a["timeouts"][-1]


def test_observation_is_qpos_qvel_of_the_stored_state(hopper_random):
    a = hopper_random.arrays
    expected = np.concatenate([a["infos/qpos"][:, 1:], np.clip(a["infos/qvel"], -10, 10)], 1)
    np.testing.assert_allclose(a["observations"], expected.astype(np.float32), atol=1e-6)


def test_rewards_match_real_env_replay(hopper_random):
    """Put the simulator in each stored state, apply the stored action: same reward and next obs."""
    a = hopper_random.arrays
    env = gym.make("Hopper-v5")
    env.reset(seed=0)
    for i in [0, 1, 17, 250, 599]:
        env.unwrapped.set_state(a["infos/qpos"][i], a["infos/qvel"][i])
        next_obs, reward, terminated, _, _ = env.step(a["actions"][i])
        assert abs(reward - a["rewards"][i]) < 1e-4
        np.testing.assert_allclose(next_obs, a["next_observations"][i], atol=1e-4)
        assert terminated == a["terminals"][i]


def test_collect_is_deterministic_per_seed():
    space = gym.make("Hopper-v5").action_space
    policy = RandomPolicy(space.low, space.high)
    first = collect(policy, "Hopper-v5", 200, seed=3, n_envs=2)
    second = collect(policy, "Hopper-v5", 200, seed=3, n_envs=2)
    other = collect(policy, "Hopper-v5", 200, seed=4, n_envs=2)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["actions"], other["actions"])


def test_evaluate_returns_counts_whole_episodes():
    space = gym.make("Hopper-v5").action_space
    returns = evaluate_returns(RandomPolicy(space.low, space.high), "Hopper-v5", 3, seed=0)
    assert returns.shape == (3,)
    # A random hopper falls quickly: healthy reward ~1 per step for tens of steps.
    assert np.all((returns > 0) & (returns < 200))
