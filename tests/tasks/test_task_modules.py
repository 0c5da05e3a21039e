"""Each task module against its real env: the termination rule, the body layout (pose and x
velocity) and the reward terms, on real transitions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.datasets.recipes import RECIPES
from dreamenv.datasets.rollout import collect
from dreamenv.envs import ENV_IDS, dream_env_id
from dreamenv.tasks import TASKS, generic_task, get_task, task_for_env

LOCOMOTION = sorted(TASKS)


def _real_transitions(env_id: str, steps: int = 400) -> dict[str, np.ndarray]:
    space = gym.make(env_id).action_space
    # Large random actions make Hopper and Walker2d fall often, so both outcomes are present.
    return collect(RandomPolicy(space.low, space.high), env_id, steps, seed=0, n_envs=4)


@pytest.mark.parametrize("name", LOCOMOTION)
def test_rule_matches_the_real_envs_terminations(name):
    task = get_task(name)
    data = _real_transitions(task.env_id)
    np.testing.assert_array_equal(task.terminated(data["next_observations"]), data["terminals"])
    if name == "halfcheetah":
        assert not data["terminals"].any()
    else:
        assert data["terminals"].any()


@pytest.mark.parametrize("name", ["hopper", "walker2d"])
def test_rule_on_edges_and_tensors_is_gymnasiums_health_check(name):
    """Open ranges, the state bound, NaN and inf, written out as the real envs' ``is_healthy``,
    for NumPy arrays and torch tensors alike."""
    body, rule = get_task(name).body, get_task(name).terminated
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (400, 11 if name == "hopper" else 17))
    obs[:, 0] = rng.choice([*body.healthy_z, 1.2, 0.5], 400)
    obs[:, 1] = rng.choice([*body.healthy_angle, 0.0, 0.9], 400)
    odd = rng.random(obs.shape) < 0.02
    obs[odd] = rng.choice([np.nan, np.inf, -np.inf, 100.0, -100.0, 99.9], odd.sum())
    z, angle = obs[:, 0], obs[:, 1]
    healthy = ((z > body.healthy_z[0]) & (z < body.healthy_z[1]) & (angle > body.healthy_angle[0])
               & (angle < body.healthy_angle[1]) & np.isfinite(obs).all(1))
    if name == "hopper":  # Hopper-v5 also bounds every state entry but the height
        healthy &= (np.abs(obs[:, 1:]) < 100.0).all(1)
    np.testing.assert_array_equal(rule(obs), ~healthy)
    np.testing.assert_array_equal(rule(torch.as_tensor(obs, dtype=torch.float32)).numpy(),
                                  rule(obs.astype(np.float32)))


@pytest.mark.parametrize("name", LOCOMOTION)
def test_a_state_poses_the_real_body_and_reward_terms_match_its_info(name):
    task = get_task(name)
    env = gym.make(task.env_id).unwrapped
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(1)
    forward = []
    for _ in range(30):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        next_obs, _, terminated, _, info = env.step(action)
        terms = task.body.reward_terms(next_obs[None], action[None], np.array([terminated]))
        assert terms.keys() == {k for k in info if k.startswith("reward_")}
        assert terms["reward_ctrl"][0] == pytest.approx(info["reward_ctrl"], rel=1e-5)
        if "reward_survive" in terms:
            assert terms["reward_survive"][0] == info["reward_survive"]
        forward.append((terms["reward_forward"][0], info["reward_forward"]))
        x = float(env.data.qpos[0])
        qpos, qvel = task.body.pose(next_obs, x)
        probe = gym.make(task.env_id).unwrapped
        probe.reset(seed=0)
        probe.set_state(qpos, qvel)
        np.testing.assert_allclose(probe._get_obs(), next_obs, atol=1e-12)
        if terminated:
            break
    # The real forward reward uses the x displacement over the step; the observation's x
    # velocity is the end-of-step one: they follow each other, not equal.
    imagined, real = np.array(forward).T
    assert np.corrcoef(imagined, real)[0, 1] > 0.7


def test_registry_datasets_and_lookups_cover_every_task():
    assert set(ENV_IDS) == {"DyDiff-Hopper", "DyDiff-Walker2d", "DyDiff-HalfCheetah"}
    assert dream_env_id("walker2d") == "DyDiff-Walker2d" and "DyDiff" in gym.registry
    for name, task in TASKS.items():
        assert task_for_env(task.env_id) is task and task.known
        for kind in ("random", "medium", "expert", "medium-replay", "full-replay",
                     "medium-expert"):
            assert RECIPES[f"{name}-{kind}"].task == name
        assert task.normalized_score(task.expert_return) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="unknown env 'Pendulum-v1'"):
        task_for_env("Pendulum-v1")
    pendulum = task_for_env("Pendulum-v1", generic=True)
    assert pendulum == generic_task("Pendulum-v1") and not pendulum.known
    assert pendulum.max_episode_steps == 200 and pendulum.body is None
    with pytest.raises(ValueError, match="no D4RL reference returns"):
        pendulum.normalized_score(0.0)
    with pytest.raises(ValueError, match="unknown task 'ant'"):
        get_task("ant")


def test_a_custom_tasks_rule_text_says_who_decides():
    """A task built with a termination function but no ``rule`` text must not claim that the
    learned head decides."""
    from dreamenv.tasks import Task

    own = Task(name="pend", env_id="InvertedPendulum-v5", terminated=lambda obs: obs[:, 1] > 0.2)
    assert own.rule == "InvertedPendulum-v5's own termination rule"
    assert "learned termination head" in Task(name="p", env_id="Pendulum-v1").rule
    assert get_task("hopper").rule.startswith("Hopper-v5's health check")
    import dataclasses

    replaced = dataclasses.replace(generic_task("Pendulum-v1"), terminated=lambda obs: obs[:, 0] > 2)
    assert replaced.rule == "Pendulum-v1's own termination rule"
    # A registered env id is a task too: a known task's own, or a generic one.
    assert get_task("Walker2d-v5") is TASKS["walker2d"] and not get_task("Pendulum-v1").known
    assert dream_env_id("Pendulum-v1") == "DyDiff"


def test_every_task_recipe_is_made_of_imagine_options():
    from dreamenv.integrations.imagine import ImagineConfig

    for name, task in TASKS.items():  # an unknown option would be a TypeError here
        cfg = ImagineConfig.for_task(name)
        assert cfg.task == name
        assert all(getattr(cfg, key) == value for key, value in task.imagine_options)
        if task.imagine_options:  # a recipe counts imagined steps, not the machine's seconds
            assert cfg.steps > 0 and cfg.iteration_steps > 0
            assert cfg.minutes == 0 and cfg.iteration_seconds == 0
