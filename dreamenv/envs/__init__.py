"""Gymnasium envs that step inside a learned dynamics model.

``import dreamenv`` registers them (this module imports only Gymnasium and the task records, so
that is cheap); the env classes live in :mod:`dreamenv.envs.dream_env` (single) and
:mod:`dreamenv.envs.vector` (natively batched; ``tensors=True``:
:mod:`dreamenv.envs.tensor_vector`, torch tensors on the model's device) and are imported by
``gym.make`` / ``gym.make_vec`` on first use.

==========================  ==============================================================
id                          what it is
==========================  ==============================================================
``DyDiff-Hopper``           Hopper-v5 simulated by the shipped diffusion model
``DyDiff-Walker2d``         Walker2d-v5 simulated by the shipped diffusion model
``DyDiff-HalfCheetah``      HalfCheetah-v5 simulated by the shipped diffusion model
``DyDiff``                  ``model=DIR``: the env any checkpoint learned (bring your own data)
==========================  ==============================================================
"""

from __future__ import annotations

import gymnasium as gym

from dreamenv.tasks import TASKS

ENV_IDS = {f"DyDiff-{task.title}": name for name, task in TASKS.items()}
GENERIC_ENV_ID = "DyDiff"


def register_envs() -> None:
    """Register every DyDiff env id (idempotent)."""
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(env_id, entry_point="dreamenv.envs.dream_env:DreamEnv",
                     vector_entry_point="dreamenv.envs.vector:make_vector_env",
                     max_episode_steps=TASKS[task].max_episode_steps, kwargs={"task": task})
    if GENERIC_ENV_ID not in gym.registry:
        gym.register(GENERIC_ENV_ID, entry_point="dreamenv.envs.dream_env:make_learned_env",
                     vector_entry_point="dreamenv.envs.vector:make_vector_env",
                     kwargs={"task": None})


def dream_env_id(task: str) -> str:
    """The registered id of a task's learned env: ``dream_env_id("hopper") == "DyDiff-Hopper"``;
    a task without a module (a registered env id) has the generic ``DyDiff``, which needs
    ``model=DIR``."""
    from dreamenv.tasks import get_task

    found = get_task(task)
    return f"DyDiff-{found.title}" if found.known else GENERIC_ENV_ID
