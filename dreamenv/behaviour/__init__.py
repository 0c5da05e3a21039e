"""Behaviour policies for the offline datasets: SAC training on the real env and the shipped actors.

``behaviour_policy("hopper", "medium")`` returns a batch policy (``act(obs, rng) -> action``).
The levels ``random``, ``medium`` and ``expert`` are graded as D4RL grades its datasets; ``other``
is a policy in no dataset, from another run (the best snapshot of a second SAC run, seed 2, 100k
steps; for the other tasks made by ``benchmarks/task_pipeline.py``), for testing models on
behaviour they never saw.
"""

from __future__ import annotations

import gymnasium as gym

from dreamenv.behaviour.policy import (
    WEIGHTS_DIR,
    ActorPolicy,
    RandomPolicy,
    TanhGaussianActor,
    load_actor,
    save_actor,
)
from dreamenv.tasks import TASKS, get_task

LEVELS = ("random", "medium", "expert", "other")


def weights_path(task: str, level: str):
    """Path of the shipped weights for ``level`` (``medium`` or ``expert``) of ``task``."""
    return WEIGHTS_DIR / f"{TASKS[task].env_id}-{level}.safetensors"


def behaviour_policy(task: str, level: str, deterministic: bool = False):
    """The shipped behaviour policy of ``task`` at ``level`` (one of :data:`LEVELS`)."""
    found = get_task(task)  # a known name, or an env id (a known task's, or generic)
    task, env_id = found.name, found.env_id
    if level == "random":  # any env with a Box action space has one
        space = gym.make(env_id).action_space
        return RandomPolicy(space.low, space.high)
    if level not in LEVELS:
        raise ValueError(f"unknown policy level {level!r}; known: {', '.join(LEVELS)}")
    if task not in TASKS:
        raise ValueError(f"no {level} policy for {env_id}: behaviour policies ship for "
                         f"{', '.join(TASKS)} only; pass a policy file instead")
    path = weights_path(task, level)
    if not path.is_file():
        steps = TASKS[task].behaviour_steps
        raise ValueError(f"{path}: no {level} policy ships for {task} yet; train the behaviour "
                         f"run with `dreamenv behaviour train --env-id {env_id} --total-steps "
                         f"{steps}`, then `dreamenv behaviour select RUN_DIR`")
    actor, info = load_actor(path, env_id=env_id)
    return ActorPolicy(actor, deterministic=deterministic, metadata=info)


__all__ = ["LEVELS", "ActorPolicy", "RandomPolicy", "TanhGaussianActor", "behaviour_policy",
           "load_actor", "save_actor", "weights_path"]
