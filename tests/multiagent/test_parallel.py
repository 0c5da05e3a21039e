"""The multi-agent DyDiff env: MaMuJoCo's agents, spaces and observations, PettingZoo's API."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("gymnasium_robotics")

from gymnasium_robotics import mamujoco_v1  # noqa: E402
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test  # noqa: E402

from dreamenv import multiagent  # noqa: E402
from dreamenv.behaviour import behaviour_policy  # noqa: E402

CONFIGS = [("3x1", 1), ("3x1", 0), ("3x1", 2), (None, None)]


@pytest.mark.parametrize("agent_conf,obsk", CONFIGS)
def test_agents_spaces_and_first_observations_are_mamujocos(agent_conf, obsk):
    dream = multiagent.parallel_env("Hopper", agent_conf, agent_obsk=obsk)
    real = mamujoco_v1.parallel_env("Hopper", agent_conf, agent_obsk=obsk)
    assert dream.possible_agents == real.possible_agents
    for agent in real.possible_agents:
        assert dream.observation_space(agent) == real.observation_space(agent)
        assert dream.action_space(agent) == real.action_space(agent)
    for seed in (0, 7):
        dream_obs, dream_info = dream.reset(seed=seed)
        real_obs, real_info = real.reset(seed=seed)
        assert dream.agents == real.agents
        for agent in real.agents:
            np.testing.assert_array_equal(dream_obs[agent], real_obs[agent])
            assert dream_obs[agent] in dream.observation_space(agent)
            assert dream_info[agent].keys() == real_info[agent].keys()
        np.testing.assert_array_equal(dream.state(), real.state())


def test_the_module_is_a_drop_in_for_mamujoco_v1():
    from dreamenv.multiagent import mamujoco_v1 as dream_mamujoco_v1

    env = dream_mamujoco_v1.parallel_env("Hopper", "3x1", agent_obsk=0)
    assert isinstance(env, multiagent.DreamParallelEnv)
    assert env.observation_space("agent_1") == mamujoco_v1.parallel_env(
        "Hopper", "3x1", agent_obsk=0).observation_space("agent_1")
    assert dream_mamujoco_v1.env("Hopper", "3x1").possible_agents == env.possible_agents


def test_pettingzoo_api_and_seed_tests_pass():
    parallel_api_test(multiagent.parallel_env("Hopper", "3x1", max_episode_steps=60),
                      num_cycles=100)
    parallel_seed_test(lambda: multiagent.parallel_env("Hopper", "3x1"), num_cycles=30)
    api_test(multiagent.env("Hopper", "3x1", max_episode_steps=30), num_cycles=40)


def test_a_shared_joint_policy_gets_the_single_agent_envs_return():
    """The multi-agent env is the single-agent env seen through MaMuJoCo's maps: a joint policy
    acting on state() earns, seed for seed, what it earns in DyDiff-Hopper."""
    policy = behaviour_policy("hopper", "medium", deterministic=True)
    rng = np.random.default_rng(0)
    single = gym.make("DyDiff-Hopper", max_episode_steps=80)
    multi = multiagent.parallel_env("Hopper", "3x1", max_episode_steps=80)
    for seed in (1, 2):
        obs, _ = single.reset(seed=seed)
        multi.reset(seed=seed)
        single_return = multi_return = 0.0
        done = False
        while not done:
            np.testing.assert_allclose(multi.state(), obs)
            joint = policy.act(obs[None], rng)[0]
            obs, reward, terminated, truncated, _ = single.step(joint)
            _, rewards, terms, truncs, _ = multi.step(multi.factorisation.split_action(joint))
            single_return += reward
            multi_return += rewards["agent_0"]
            assert len(set(rewards.values())) == 1  # MaMuJoCo's shared reward
            assert terms["agent_1"] == terminated and truncs["agent_2"] == truncated
            done = terminated or truncated
        assert multi.agents == []
        assert multi_return == pytest.approx(single_return, rel=1e-9)


def test_the_uncertainty_penalty_lowers_every_agents_reward():
    plain = multiagent.parallel_env("Hopper", "3x1")
    penalised = multiagent.parallel_env("Hopper", "3x1", uncertainty_penalty=1.5)
    actions = {a: np.full(1, 0.3, np.float32) for a in plain.possible_agents}
    plain.reset(seed=2)
    penalised.reset(seed=2)
    _, reward, _, _, info = plain.step(actions)
    _, penalised_reward, _, _, _ = penalised.step(actions)
    expected = reward["agent_1"] - 1.5 * info["agent_1"]["uncertainty"]
    assert all(r == pytest.approx(expected) for r in penalised_reward.values())
    assert expected < reward["agent_1"]


def test_vector_rows_are_the_single_envs_episodes():
    vec = multiagent.vector_parallel_env(3, "Hopper", "3x1", precision="float32")
    single = multiagent.parallel_env("Hopper", "3x1", precision="float32")
    obs, _ = vec.reset(seed=10)
    assert {a: o.shape for a, o in obs.items()} == {"agent_0": (3, 8), "agent_1": (3, 9),
                                                    "agent_2": (3, 8)}
    row_obs, _ = single.reset(seed=12)
    rng = np.random.default_rng(3)
    for _ in range(5):
        actions = {a: rng.uniform(-1, 1, (3, 1)).astype(np.float32) for a in vec.agents}
        obs, rewards, _, _, _ = vec.step(actions)
        row_obs, row_rewards, _, _, _ = single.step({a: actions[a][2] for a in actions})
        for agent in vec.agents:
            np.testing.assert_allclose(obs[agent][2], row_obs[agent], atol=1e-5)
        assert rewards["agent_0"][2] == pytest.approx(row_rewards["agent_0"], abs=1e-5)


@pytest.mark.parametrize("actions,match", [
    ({"agent_0": [0.1], "agent_1": [0.1]}, r"missing \['agent_2'\]"),
    ({"agent_0": [0.1], "agent_1": [0.1], "agent_2": [0.1], "agent_9": [0.0]},
     r"unexpected \['agent_9'\]"),
    ({"agent_0": [0.1, 0.2], "agent_1": [0.1], "agent_2": [0.1]}, r"agent_0's action must have"),
    ({"agent_0": [np.nan], "agent_1": [0.1], "agent_2": [0.1]}, "NaN or inf"),
    ({"agent_0": [0.1], "agent_1": [np.inf], "agent_2": [0.1]}, "NaN or inf"),
    ({"agent_0": ["x"], "agent_1": [0.1], "agent_2": [0.1]}, "not numeric"),
    ([0.1, 0.1, 0.1], "must be a dict"),
])
def test_bad_actions_are_one_line_errors(actions, match):
    env = multiagent.parallel_env("Hopper", "3x1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match) as info:
        env.step(actions)
    assert "\n" not in str(info.value)


def test_stepping_after_every_agent_is_done_needs_a_reset():
    env = multiagent.parallel_env("Hopper", "3x1", max_episode_steps=2)
    with pytest.raises(gym.error.ResetNeeded):
        env.step({})
    env.reset(seed=0)
    act = {a: np.zeros(1, np.float32) for a in env.agents}
    env.step(act)
    _, _, _, truncations, _ = env.step(act)
    assert all(truncations.values()) and env.agents == []
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(act)
    env.reset(seed=1)
    env.step(act)  # a reset revives every agent


def test_unsupported_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="no DyDiff env for MaMuJoCo scenario 'Swimmer'"):
        multiagent.parallel_env("Swimmer", "2x1")
    with pytest.raises(ValueError, match="MaMuJoCo refused the factorisation .Hopper. .2x2."):
        multiagent.parallel_env("Hopper", "2x2")
    with pytest.raises(ValueError, match="not a selection of the single-agent observation"):
        multiagent.parallel_env("Hopper", "3x1", local_categories=[["qpos", "qvel",
                                                                    "qfrc_actuator"], ["qpos"]])


def test_dreamenv_works_without_pettingzoo():
    """The extra is optional: without it, the single-agent envs work and dreamenv.multiagent
    says which extra to install."""
    code = (
        "import sys; sys.modules['pettingzoo'] = None\n"
        "import gymnasium as gym, dreamenv\n"
        "env = gym.make('DyDiff-Hopper'); env.reset(seed=0); env.step(env.action_space.sample())\n"
        "try:\n"
        "    import dreamenv.multiagent\n"
        "except ImportError as e:\n"
        "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install -e '.[multiagent]'" in out


def test_a_factorisation_must_fill_every_actuator_once():
    from gymnasium_robotics.envs.multiagent_mujoco.obsk import get_parts_and_edges

    parts, edges, globals_ = get_parts_and_edges("Hopper", "3x1")
    partial = {"partition": [parts[0], parts[1]], "edges": edges, "globals": globals_}
    with pytest.raises(ValueError, match=r"fill slots \[0, 1\] of the 3-dim action"):
        multiagent.parallel_env("Hopper", agent_factorization=partial)
