"""Gymnasium envs that step inside a learned dynamics model.

``import dreamenv`` registers them (this module imports only Gymnasium, so that is cheap); the
env classes live in :mod:`dreamenv.envs.dream_env` (single) and :mod:`dreamenv.envs.vector`
(natively batched) and are imported by ``gym.make`` / ``gym.make_vec`` on first use.

======================  ==========================================================
id                      what it is
======================  ==========================================================
``DyDiff-Hopper``       Hopper-v5 simulated by the shipped diffusion model
======================  ==========================================================
"""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = {"DyDiff-Hopper": "hopper"}
MAX_EPISODE_STEPS = 1000


def register_envs() -> None:
    """Register every DyDiff env id (idempotent)."""
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(env_id, entry_point="dreamenv.envs.dream_env:DreamEnv",
                     vector_entry_point="dreamenv.envs.vector:DreamVectorEnv",
                     max_episode_steps=MAX_EPISODE_STEPS, kwargs={"task": task})
