"""DyDiff-Walker2d and DyDiff-HalfCheetah: from a tiny model trained in the tests, the Gymnasium
contract, the real env's spaces, resets and info keys, the task's termination, rendering; from
the shipped models, an expert episode against the real env's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv.models import pretrained_path

TASK_ENVS = {"walker2d": ("Walker2d-v5", "DyDiff-Walker2d"),
             "halfcheetah": ("HalfCheetah-v5", "DyDiff-HalfCheetah")}


@pytest.fixture(params=sorted(TASK_ENVS))
def task_model(request, tiny_task_models):
    real_id, learned_id = TASK_ENVS[request.param]
    return request.param, real_id, learned_id, tiny_task_models[real_id]


def test_the_learned_env_keeps_the_real_envs_contract(task_model):
    name, real_id, learned_id, model = task_model
    env, real = gym.make(learned_id, model=model), gym.make(real_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space == real.observation_space
    assert env.action_space == real.action_space
    assert env.spec.max_episode_steps == 1000
    obs, info = env.reset(seed=4)
    real_obs, real_info = real.reset(seed=4)
    np.testing.assert_array_equal(obs, real_obs)
    assert info.keys() == real_info.keys()
    assert info["x_position"] == pytest.approx(real_info["x_position"])
    action = real.action_space.sample()
    *_, step_info = env.step(action)
    *_, real_step_info = real.step(action)
    assert set(step_info) == set(real_step_info) | {"uncertainty", "model_diverged"}
    assert step_info["reward_ctrl"] == pytest.approx(real_step_info["reward_ctrl"], rel=1e-5)


def test_the_tasks_rule_ends_episodes(task_model):
    name, _, learned_id, model = task_model
    vec = gym.make_vec(learned_id, num_envs=8, model=model)
    vec.reset(seed=0)
    ended = np.zeros(8, dtype=bool)
    for _ in range(30):
        obs, _, terminated, _, _ = vec.step(vec.action_space.sample())
        ended |= terminated
        assert obs.shape == (8, 17)
    rule = vec.unwrapped.task.terminated
    if name == "halfcheetah":
        assert not ended.any() and "never" in vec.metadata["termination"]
    else:  # the rule decides on every predicted state, whatever the (tiny) model predicts
        assert rule is vec.unwrapped.core.termination
        assert "Walker2d-v5's health check" in vec.metadata["termination"]


def test_an_imagined_state_renders_as_the_real_body(task_model):
    _, _, learned_id, model = task_model
    env = gym.make(learned_id, model=model, render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.std() > 0


SHIPPED = [name for name in TASK_ENVS if (pretrained_path(name) / "config.json").is_file()]


@pytest.mark.parametrize("task", SHIPPED)
def test_a_shipped_task_env_needs_no_training_and_runs_the_expert_like_the_real_one(task):
    """``gym.make("DyDiff-<Task>")`` loads the shipped model; the shipped expert runs the whole
    episode in it, as in the real env, for about the same return."""
    from dreamenv.behaviour import behaviour_policy

    real_id, learned_id = TASK_ENVS[task]
    env, real = gym.make(learned_id), gym.make(real_id)
    check_env(env.unwrapped, skip_render_check=True)
    expert = behaviour_policy(task, "expert", deterministic=True)
    returns = []
    for e in (env, real):
        obs, _ = e.reset(seed=0)
        total, rng = 0.0, np.random.default_rng(0)
        for steps in range(1, 1001):
            obs, reward, terminated, truncated, _ = e.step(expert.act(obs[None], rng)[0])
            total += reward
            if terminated or truncated:
                break
        returns.append((steps, total))
    (learned_steps, learned), (real_steps, real_return) = returns
    assert learned_steps == real_steps == 1000
    assert learned == pytest.approx(real_return, rel=0.1)


def test_walker2d_ships_its_model():
    assert "walker2d" in SHIPPED  # so the test above cannot pass by having nothing to check
