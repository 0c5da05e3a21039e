"""The native vector env: one model call per step, NEXT_STEP autoreset, same rows as single envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import dreamenv  # noqa: F401
from dreamenv.envs.vector import DreamVectorEnv


def _singles_step(singles, done, actions):
    """Step N single envs as Gymnasium's NEXT_STEP autoreset would."""
    rows = []
    for env, finished, a in zip(singles, done, actions):
        if finished:
            rows.append((env.reset()[0], 0.0, False, False))
        else:
            rows.append(env.step(a)[:4])
    return [np.array(col) for col in zip(*rows)]


@pytest.mark.parametrize("precision", ["auto", "bfloat16"])
def test_rows_match_single_envs_with_the_same_seeds(precision):
    """N envs with seeds s..s+N-1 give the first 50 steps of N single envs with those seeds,
    through episode ends (max_episode_steps=20 forces autoresets)."""
    n, seed = 4, 10
    venv = gym.make_vec("DyDiff-Hopper", num_envs=n, max_episode_steps=20, precision=precision)
    assert isinstance(venv, DreamVectorEnv)
    singles = [gym.make("DyDiff-Hopper", max_episode_steps=20, precision=precision)
               for _ in range(n)]
    obs = venv.reset(seed=seed)[0]
    assert np.array_equal(obs, np.stack([e.reset(seed=seed + i)[0]
                                         for i, e in enumerate(singles)]))
    actions = np.random.default_rng(0).uniform(-1, 1, (50, n, 3))
    done = np.zeros(n, dtype=bool)
    ended = 0
    for a in actions:
        obs, reward, terminated, truncated, _ = venv.step(a)
        s_obs, s_reward, s_terminated, s_truncated = _singles_step(singles, done, a)
        np.testing.assert_allclose(obs, s_obs, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(reward, s_reward, rtol=1e-4, atol=1e-4)
        assert np.array_equal(terminated, s_terminated) and np.array_equal(truncated,
                                                                           s_truncated)
        done = terminated | truncated
        ended += done.sum()
    assert ended >= n  # every row went through at least one autoreset


def test_one_model_call_per_step_for_all_envs():
    venv = gym.make_vec("DyDiff-Hopper", num_envs=16)
    calls = []
    model = venv.dynamics
    # 16 rows sample in NumPy (predict_arrays); wider batches through predict: count both.
    predict, predict_arrays = model.predict, model.predict_arrays
    model.predict = lambda history, action, *a, **k: calls.append(len(action)) or predict(
        history, action, *a, **k)
    model.predict_arrays = lambda states, *a, **k: calls.append(len(states)) or predict_arrays(
        states, *a, **k)
    try:
        venv.reset(seed=0)
        for _ in range(3):
            venv.step(venv.action_space.sample())
    finally:
        del model.predict, model.predict_arrays
    assert calls == [16, 16, 16]


def test_next_step_autoreset_contract():
    venv = gym.make_vec("DyDiff-Hopper", num_envs=2, max_episode_steps=2)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    venv.reset(seed=0)
    zeros = np.zeros((2, 3))
    venv.step(zeros)
    _, _, _, truncated, _ = venv.step(zeros)
    assert truncated.all()
    obs, reward, terminated, truncated, info = venv.step(zeros)  # the autoreset step
    assert not terminated.any() and not truncated.any() and (reward == 0).all()
    assert not info["_uncertainty"].any() and info["_x_position"].all()
    single = gym.make("DyDiff-Hopper")
    single.reset(seed=0)
    assert np.array_equal(obs[0], single.reset()[0])  # the row's np_random drew the next start


def test_vector_bad_input_and_finite_outputs():
    venv = gym.make_vec("DyDiff-Hopper", num_envs=8)
    with pytest.raises(gym.error.ResetNeeded):
        venv.step(np.zeros((8, 3)))
    venv.reset(seed=0)
    for bad in (np.zeros((7, 3)), np.zeros(3), np.full((8, 3), np.nan)):
        with pytest.raises(ValueError):
            venv.step(bad)
    with pytest.raises(ValueError, match="seeds"):
        venv.reset(seed=[1, 2])
    actions = np.random.default_rng(0).uniform(-1, 1, (1250, 8, 3))  # 10,000 env steps
    for a in actions:
        obs, reward, *_ = venv.step(a)
        assert np.isfinite(obs).all() and np.isfinite(reward).all()


def test_vector_initial_obs_and_render():
    venv = gym.make_vec("DyDiff-Hopper", num_envs=2, render_mode="rgb_array", width=32,
                        height=32)
    start = np.tile(gym.make("Hopper-v5").reset(seed=0)[0], (2, 1))
    obs, _ = venv.reset(seed=0, options={"initial_obs": start})
    assert np.array_equal(obs, start)
    frames = venv.render()
    assert len(frames) == 2 and frames[0].shape == (32, 32, 3)
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec("DyDiff-Hopper", num_envs=0)


def test_reset_without_a_seed_keeps_each_rows_stream():
    """As a Gymnasium env: reset(seed=s) then reset() is reproducible (RLlib resets so)."""
    firsts = []
    for _ in range(2):
        env = gym.make_vec("DyDiff-Hopper", num_envs=2)
        env.reset(seed=3)
        firsts.append(env.reset()[0])
    np.testing.assert_array_equal(firsts[0], firsts[1])
    assert not np.array_equal(firsts[0][0], firsts[0][1])
