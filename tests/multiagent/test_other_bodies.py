"""MaMuJoCo's factorisations of the other bodies (Walker2d 2x3, HalfCheetah 2x3 and 6x1) over their
learned envs: MaMuJoCo's agents, spaces, first observations and info keys."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from gymnasium_robotics import mamujoco_v1  # noqa: E402

from dreamenv.multiagent import parallel_env  # noqa: E402


@pytest.mark.parametrize("scenario, conf, env_id", [("Walker2d", "2x3", "Walker2d-v5"),
                                                    ("HalfCheetah", "2x3", "HalfCheetah-v5"),
                                                    ("HalfCheetah", "6x1", "HalfCheetah-v5")])
def test_teams_of_other_bodies_are_mamujocos(scenario, conf, env_id, tiny_task_models):
    # Walker2d's agents see velocities beyond the single-agent observation's clip at +-10;
    # the factorisation accepts exactly that difference (checked on 20 real states).
    dream = parallel_env(scenario, conf, model=tiny_task_models[env_id])
    real = mamujoco_v1.parallel_env(scenario, conf)
    assert dream.possible_agents == real.possible_agents
    dream_obs, dream_info = dream.reset(seed=3)
    real_obs, real_info = real.reset(seed=3)
    for agent in real.possible_agents:
        assert dream.observation_space(agent) == real.observation_space(agent)
        assert dream.action_space(agent) == real.action_space(agent)
        np.testing.assert_array_equal(dream_obs[agent], real_obs[agent])
        assert dream_info[agent].keys() == real_info[agent].keys()
    actions = {a: real.action_space(a).sample() for a in real.possible_agents}
    *_, dream_step_info = dream.step(actions)
    *_, real_step_info = real.step(actions)
    agent = real.possible_agents[0]
    assert set(dream_step_info[agent]) == set(real_step_info[agent]) | {"uncertainty",
                                                                         "model_diverged"}
