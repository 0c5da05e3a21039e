"""RealBody: what the DyDiff envs borrow from the real env. Its reset drawn without the
simulator must be the real env's own, start for start."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from dreamenv.envs.real import RealBody
from dreamenv.tasks import TASKS


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_drawn_reset_is_the_real_envs_reset(name):
    task = TASKS[name]
    body, real = RealBody(task), gym.make(task.env_id).unwrapped
    assert body._draws_reset  # the fast draw is in use for every locomotion task
    for seed in range(20):
        rng = np.random.default_rng(seed)
        obs, x = body.reset_state(rng)
        real_obs, _ = real.reset(seed=seed)
        np.testing.assert_array_equal(obs, real_obs)
        assert x == real.data.qpos[0]
        # and the generator moves on as the real env's does (the row's model key comes next)
        assert rng.integers(2**62) == real.np_random.integers(2**62)


def test_a_task_module_that_misdescribes_the_reset_falls_back_to_the_simulator():
    hopper = TASKS["hopper"]
    wrong = dataclasses.replace(hopper, body=dataclasses.replace(hopper.body,
                                                                 normal_reset_velocity=True))
    body, real = RealBody(wrong), gym.make(hopper.env_id).unwrapped
    assert not body._draws_reset
    np.testing.assert_array_equal(body.reset_state(np.random.default_rng(3))[0],
                                  real.reset(seed=3)[0])
