"""Running normalisation in the RLlib job: observations by their running statistics, rewards by
the running spread of the discounted return, the map saved with the policy and resumed."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray")

from dreamenv.integrations.rllib import (OBSERVATION_NORM_FILE, RLlibPolicy,  # noqa: E402
                                         RunningObservationNorm, make_dream_env)


def test_the_creator_standardizes_by_every_observation_so_far_and_scales_rewards():
    raw = make_dream_env({"num_envs": 3})
    running = make_dream_env({"num_envs": 3, "running_normalization_gamma": 0.9})
    assert isinstance(running, RunningObservationNorm)
    seen, rng = [raw.reset(seed=5)[0]], np.random.default_rng(0)
    obs, _ = running.reset(seed=5)
    raw_rewards, rewards = [], []
    for _ in range(6):
        action = rng.uniform(-1, 1, size=(3, 3)).astype(np.float32)
        raw_obs, raw_reward = raw.step(action)[:2]
        obs, reward = running.step(action)[:2]
        seen.append(raw_obs)
        raw_rewards.append(raw_reward)
        rewards.append(reward)
    everything = np.concatenate(seen)
    norm = running.norm
    np.testing.assert_allclose(norm["mean"], everything.mean(0), rtol=1e-4, atol=1e-6)
    # Gymnasium's running statistics start from a mean of 0 and a variance of 1 weighted 1e-4
    n, prior = len(everything), 1e-4
    var = (prior + n * everything.var(0) + everything.mean(0) ** 2 * prior * n / (n + prior)) / (
        n + prior)
    np.testing.assert_allclose(np.square(norm["std"]), var + 1e-8, rtol=1e-4)
    assert norm["count"] == pytest.approx(len(everything), abs=1e-3)
    expected = np.clip((seen[-1] - norm["mean"]) / norm["std"], -10, 10)
    np.testing.assert_allclose(obs, expected, rtol=1e-4, atol=1e-4)
    assert running.single_observation_space.contains(obs[0])
    # every env's reward is divided by one number, the spread of the discounted returns so far
    stepped = np.abs(raw_rewards[-1]) > 1e-6  # a row's reset step has no reward
    ratios = rewards[-1][stepped] / raw_rewards[-1][stepped]
    assert len(ratios) and not np.allclose(ratios, 1.0)
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-5)
    with pytest.raises(ValueError, match="replaces reward_scale and observation_norm"):
        make_dream_env({"num_envs": 1, "running_normalization_gamma": 0.99,
                        "reward_scale": 0.1})


def test_a_saved_map_loads_back_and_a_mismatched_one_is_refused():
    env = make_dream_env({"num_envs": 2, "running_normalization_gamma": 0.99})
    env.reset(seed=0)
    env.step(np.zeros((2, 3), dtype=np.float32))
    other = make_dream_env({"num_envs": 2, "running_normalization_gamma": 0.99})
    other.load(env.norm)
    for key in ("mean", "std", "count"):
        np.testing.assert_allclose(other.norm[key], env.norm[key], rtol=1e-9)
    with pytest.raises(ValueError, match="observation norm of shape"):
        other.load({"mean": [0.0], "std": [1.0]})


def test_imagine_saves_the_running_map_reports_raw_returns_and_resumes_from_it(local_ray,
                                                                              tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=4, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=0, max_episode_steps=30,
                        ppo_batch=200, ppo_minibatch=100, ppo_epochs=1,
                        running_normalization=True)
    report = run_imagine(cfg, tmp_path)
    # Hopper's reward is about 1 a step (its alive bonus), so a return of episodes of 10-30
    # steps; divided by the spread of such returns it would be a few units
    assert report["log"][0]["imagined_return"] > 7.0
    saved = json.loads((tmp_path / "checkpoint" / OBSERVATION_NORM_FILE).read_text())
    assert saved["count"] >= 200  # every sampled observation, resets included
    policy = RLlibPolicy.from_checkpoint(tmp_path / "checkpoint")
    bare = RLlibPolicy(policy.module, policy.low, policy.high)
    obs = np.random.default_rng(0).normal(size=(3, 11)).astype(np.float32)
    np.testing.assert_allclose(policy.act(obs), bare.act(policy.standardize(obs)))
    cfg.iterations = 2  # resumed: the map carries on from the saved one
    run_imagine(cfg, tmp_path)
    resumed = json.loads((tmp_path / "checkpoint" / OBSERVATION_NORM_FILE).read_text())
    assert resumed["count"] >= saved["count"] + 200
    cfg.running_normalization = False
    with pytest.raises(ValueError, match="running_normalization=True"):
        run_imagine(cfg, tmp_path)


@pytest.mark.parametrize("options, message", [
    ({"reward_scale": 0.05}, "replaces --normalize-observations"),
    ({"normalize_observations": True}, "replaces --normalize-observations"),
    ({"agent_conf": "3x1"}, "single-agent"),
    ({"num_env_runners": 2}, "one env runner"),
])
def test_imagine_refuses_running_normalization_with_what_it_replaces(tmp_path, options,
                                                                     message):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    with pytest.raises(ValueError, match=message):
        run_imagine(ImagineConfig(running_normalization=True, **options), tmp_path / "run")
    assert not (tmp_path / "run").exists()
