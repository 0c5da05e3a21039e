"""MOPO's penalty and MOReL's halt, on the single and the vector env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import dreamenv  # noqa: F401
from dreamenv.wrappers import (UncertaintyHalt, UncertaintyHaltVector, UncertaintyPenalty,
                               UncertaintyPenaltyVector)


def test_penalty_subtracts_lambda_times_uncertainty():
    plain, wrapped = gym.make("DyDiff-Hopper"), UncertaintyPenalty(gym.make("DyDiff-Hopper"), 2.0)
    plain.reset(seed=0)
    wrapped.reset(seed=0)
    for _ in range(5):
        _, r, _, _, info = plain.step(np.zeros(3))
        _, rp, _, _, info_p = wrapped.step(np.zeros(3))
        assert info_p["uncertainty"] > 0
        assert rp == pytest.approx(r - 2.0 * info["uncertainty"])
        assert info_p["reward_model"] == r


def test_vector_penalty_leaves_autoreset_rows_alone():
    venv = UncertaintyPenaltyVector(gym.make_vec("DyDiff-Hopper", num_envs=3,
                                                 max_episode_steps=1), lam=5.0)
    venv.reset(seed=0)
    _, reward, _, truncated, info = venv.step(np.zeros((3, 3)))
    assert truncated.all() and (reward < info["reward_model"]).all()
    _, reward, *_ = venv.step(np.zeros((3, 3)))  # every row resets: reward 0, no penalty
    assert (reward == 0).all()


def test_halt_truncates_or_terminates_with_a_fixed_reward():
    env = UncertaintyHalt(gym.make("DyDiff-Hopper"), threshold=0.0)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(np.zeros(3))
    assert truncated and not terminated and info["halted"]
    env = UncertaintyHalt(gym.make("DyDiff-Hopper"), threshold=0.0, halt_reward=-100.0)
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(np.zeros(3))
    assert terminated and reward == -100.0
    env = UncertaintyHalt(gym.make("DyDiff-Hopper"), threshold=1e9)
    env.reset(seed=0)
    assert not env.step(np.zeros(3))[3]


def test_vector_halt_autoresets_the_halted_rows():
    venv = UncertaintyHaltVector(gym.make_vec("DyDiff-Hopper", num_envs=2), threshold=0.0)
    first, _ = venv.reset(seed=0)
    _, _, _, truncated, _ = venv.step(np.zeros((2, 3)))
    assert truncated.all()
    obs, reward, *_ = venv.step(np.zeros((2, 3)))
    assert (reward == 0).all() and not np.array_equal(obs, first)


def test_wrappers_need_an_env_that_reports_uncertainty():
    env = UncertaintyPenalty(gym.make("Hopper-v5"))
    env.reset(seed=0)
    with pytest.raises(KeyError, match="uncertainty"):
        env.step(np.zeros(3))
