"""RLlib multi-agent: MaMuJoCo's agents train in DyDiff and are evaluated in real MaMuJoCo."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("pettingzoo")
pytest.importorskip("gymnasium_robotics")

from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv  # noqa: E402

from dreamenv.integrations.rllib_multiagent import (BatchedDreamMultiAgentEnv,  # noqa: E402
                                                    JointPolicy, SharedPolicyView,
                                                    make_multiagent_dream_env,
                                                    make_multiagent_real_env,
                                                    multiagent_algo_config)
from dreamenv.multiagent import DreamParallelEnv, Factorisation  # noqa: E402


def test_creators_wrap_the_dream_env_and_the_real_mamujoco():
    dream = make_multiagent_dream_env({"agent_conf": "3x1", "max_episode_steps": 20})
    assert isinstance(dream.par_env, DreamParallelEnv)
    real = make_multiagent_real_env({"agent_conf": "3x1", "model": "ignored"})
    assert type(real.par_env).__name__ == "MultiAgentMujocoEnv"
    shared = make_multiagent_dream_env({"agent_conf": "3x1", "policy_sharing": "shared"})
    obs, _ = shared.reset(seed=0)
    assert {a: o.shape for a, o in obs.items()} == {a: (12,) for a in obs}  # 9 wide + 3 ids
    np.testing.assert_array_equal(obs["agent_2"][9:], [0, 0, 1])
    assert obs["agent_0"][8] == 0  # agent_0 sees 8 values: padded with a zero


@pytest.mark.parametrize("sharing", ["per-agent", "shared"])
def test_batched_rows_are_the_single_envs_episodes_and_autoreset(sharing):
    """RLlib's env runner sees per-row dicts; each row is the episode one env copy gives, and
    a row that ends resets on the next step (its actions may be missing)."""
    config = {"agent_conf": "3x1", "policy_sharing": sharing, "max_episode_steps": 3,
              "precision": "float32"}
    batched = BatchedDreamMultiAgentEnv(2, config)
    single = make_multiagent_dream_env(config)
    rows, _ = batched.reset(seed=4)
    obs, _ = single.reset(seed=5)
    assert batched.single_observation_space == single.observation_space
    rng = np.random.default_rng(0)
    for t in range(3):
        actions = [{a: rng.uniform(-1, 1, 1).astype(np.float32) for a in obs} for _ in range(2)]
        rows, rewards, terminations, truncations, infos = batched.step(actions)
        obs, reward, terminated, truncated, info = single.step(actions[1])
        assert infos[1]["agent_2"]["x_position"] == pytest.approx(
            info["agent_2"]["x_position"], abs=1e-5)
        for agent in obs:
            np.testing.assert_allclose(rows[1][agent], obs[agent], atol=1e-5)
            assert rewards[1][agent] == pytest.approx(reward[agent], abs=1e-5)
        assert truncations[1]["__all__"] == truncated["__all__"] == (t == 2)
    rows, rewards, terminations, truncations, _ = batched.step([{}, {}])  # both rows reset
    obs, _ = single.reset()
    for agent in obs:
        np.testing.assert_allclose(rows[1][agent], obs[agent], atol=1e-12)
    assert rewards[0]["agent_0"] == 0.0 and not truncations[0]["__all__"]
    with pytest.raises(ValueError, match="row 0: no action for live agent agent_0"):
        batched.step([{}, {}])


def test_a_shared_policy_needs_one_action_space():
    class TwoBodies:
        possible_agents = ["a", "b"]
        metadata: dict = {}

        def action_space(self, agent):
            return gym.spaces.Box(-1, 1, (1 if agent == "a" else 2,))

        def observation_space(self, agent):
            return gym.spaces.Box(-1, 1, (3,))

    with pytest.raises(ValueError, match="same action space"):
        SharedPolicyView(TwoBodies())
    with pytest.raises(ValueError, match="policy sharing must be one of"):
        multiagent_algo_config("PPO", {"agent_conf": "3x1", "policy_sharing": "team"})
    with pytest.raises(ValueError, match="env runner must be one of"):
        multiagent_algo_config("PPO", {"agent_conf": "3x1", "env_runner": "async"})


@pytest.mark.parametrize("sharing,runner", [("per-agent", "batched"), ("shared", "batched"),
                                            ("per-agent", "pettingzoo")])
def test_one_iteration_trains_every_module_and_evaluates_in_mamujoco(local_ray, sharing, runner,
                                                                    tmp_path):
    config = multiagent_algo_config("PPO", {"agent_conf": "3x1", "policy_sharing": sharing,
                                            "max_episode_steps": 40, "env_runner": runner},
                                    num_envs=2, eval_episodes=1)
    config.training(train_batch_size_per_learner=160, minibatch_size=80, num_epochs=1)
    algorithm = config.build_algo()
    try:
        result = algorithm.train()
        env = algorithm.env_runner_group.local_env_runner.env
        assert env.num_envs == 2
        if runner == "batched":
            assert isinstance(env, BatchedDreamMultiAgentEnv)
        else:  # RLlib's own vectorisation of PettingZoo-wrapped copies
            assert isinstance(env.envs[0].unwrapped, ParallelPettingZooEnv)
        per_agent = result["env_runners"]["agent_episode_returns_mean"]
        assert set(per_agent) == {"agent_0", "agent_1", "agent_2"}
        assert len(set(np.round(list(per_agent.values()), 6))) == 1  # the shared body reward
        real = result["evaluation"]["env_runners"]["agent_episode_returns_mean"]
        assert np.isfinite(list(real.values())).all()
        expected = {"shared"} if sharing == "shared" else set(per_agent)
        assert set(result["learners"]) - {"__all_modules__"} == expected
        factorisation = Factorisation.from_mamujoco("Hopper", "3x1", check_steps=0)
        policy = JointPolicy.from_algorithm(algorithm, factorisation, sharing)
        action = policy.act(np.zeros((5, 11)))
        assert action.shape == (5, 3) and np.all(np.abs(action) <= 1)
        algorithm.save_to_path(str(tmp_path / "checkpoint"))
        (tmp_path / "report.json").write_text(json.dumps(
            {"config": {"agent_conf": "3x1", "policy_sharing": sharing}}))
        loaded = JointPolicy.from_checkpoint(tmp_path / "checkpoint")
        np.testing.assert_allclose(loaded.act(np.ones((2, 11))), policy.act(np.ones((2, 11))),
                                   atol=1e-6)
    finally:
        algorithm.stop()


def test_multiagent_imagine_job_writes_its_run_directory_and_resumes(local_ray, tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=2, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=1, max_episode_steps=30,
                        agent_conf="3x1", policy_sharing="shared", ppo_batch=120,
                        ppo_minibatch=60, ppo_epochs=1)
    first = run_imagine(cfg, tmp_path / "run")
    cfg.iterations = 2
    second = run_imagine(cfg, tmp_path / "run")
    assert len(first["log"]) == 1 and len(second["log"]) == 2
    assert second["log"][1]["env_steps"] > first["log"][0]["env_steps"]
    assert {"agent", "random", "medium"} == set(second["comparison"]["policies"])
    assert all(row["model_share"] > 0 and row["evaluation_share"] > 0 for row in second["log"])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["config"]["agent_conf"] == "3x1"
    for name in ("returns.png", "compare.png", "checkpoint"):
        assert (tmp_path / "run" / name).exists()
    from dreamenv.evaluation.policies import load_policy

    label, team = load_policy(f"team={tmp_path / 'run' / 'checkpoint'}")
    assert label == "team" and team.act(np.zeros((2, 11))).shape == (2, 3)
    cfg.policy_sharing = "per-agent"
    with pytest.raises(ValueError, match="policy_sharing='shared'"):
        run_imagine(cfg, tmp_path / "run")


def test_the_uncertainty_penalty_reaches_the_batched_team_env():
    from dreamenv.integrations.imagine import ImagineConfig, env_config

    config = env_config(ImagineConfig(agent_conf="3x1", uncertainty_penalty=2.0))
    assert config["policy_sharing"] == "per-agent"
    plain = BatchedDreamMultiAgentEnv(2, {**config, "uncertainty_penalty": 0.0})
    penalised = BatchedDreamMultiAgentEnv(2, config)
    actions = [{a: np.zeros(1, np.float32) for a in plain.agents} for _ in range(2)]
    for env in (plain, penalised):
        env.reset(seed=0)
    _, reward, _, _, info = plain.step(actions)
    _, penalised_reward, _, _, _ = penalised.step(actions)
    expected = reward[1]["agent_0"] - 2.0 * info[1]["agent_0"]["uncertainty"]
    assert penalised_reward[1]["agent_0"] == pytest.approx(expected, abs=1e-5)
    assert penalised_reward[1]["agent_0"] < reward[1]["agent_0"]


def test_a_checkpoint_is_read_with_its_runs_body_and_time_limit(tmp_path, monkeypatch):
    """A Walker2d run's checkpoint is split as Walker2d 2x3 (not as Hopper), and the real
    evaluation env's time limit is the task's."""
    from dreamenv.integrations.rllib_multiagent import scenario_task

    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "report.json").write_text(json.dumps(
        {"config": {"task": "walker2d", "agent_conf": "2x3", "policy_sharing": "per-agent"}}))
    # Read as Hopper, "2x3" would be refused as an unknown Hopper factorisation; read as
    # Walker2d it gets as far as looking for its two agents' modules.
    with pytest.raises(ValueError, match=r"no RLModule 'agent_[01]'"):
        JointPolicy.from_checkpoint(tmp_path / "checkpoint")
    assert scenario_task("HalfCheetah").env_id == "HalfCheetah-v5"
    with pytest.raises(ValueError, match="no DyDiff env for MaMuJoCo scenario 'Ant'"):
        scenario_task("Ant")
    # Every task's limit is 1000 today: give Walker2d another to see that the task's is used.
    import dataclasses

    from dreamenv.tasks import TASKS
    monkeypatch.setitem(TASKS, "walker2d", dataclasses.replace(TASKS["walker2d"],
                                                               max_episode_steps=321))
    real = make_multiagent_real_env({"scenario": "Walker2d", "agent_conf": "2x3"})
    assert real.par_env.single_agent_env.spec.max_episode_steps == 321
