"""The :class:`Task` record: everything dreamenv needs to know about a real env to learn it.

A task is the unit a dataset, a model checkpoint and an env must agree on: a checkpoint for
``Hopper-v5`` is refused by anything built for another task. A task the project knows lives in its
own small module (``hopper.py``, ``walker2d.py``, ``halfcheetah.py``); any other Gymnasium env with
Box spaces becomes a :func:`generic_task`, which has no termination rule (the model's learned
head decides), no body layout (no rendering, no x position) and no reference returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dreamenv.tasks.locomotion import Locomotion

LEARNED_RULE = "none: the model's learned termination head"
TerminationFn = Callable[[np.ndarray], np.ndarray]
"""Maps ``(B, S)`` next observations to ``(B,)`` bools."""


@dataclass(frozen=True)
class Task:
    """A real Gymnasium task.

    Attributes:
        name: short name used in dataset ids (``hopper`` in ``hopper-medium``) and shipped files.
        env_id: the Gymnasium id the data comes from.
        terminated: the real env's termination rule on observations, or ``None`` for a task
            without a known rule (a learned env then uses the model's learned head).
        rule: one line saying what ``terminated`` checks (docstrings, env info); left out, it
            says whether the task's own rule or the model's learned head decides.
        body: the locomotion layout (x position, rendering, reward terms), or ``None``.
        max_episode_steps: the real env's time limit.
        random_return, expert_return: D4RL's reference returns for the normalised score
            ``100 * (R - random) / (expert - random)`` (``None``: no normalised score). D4RL
            measured them on the v2 envs; v5 differs slightly (no healthy bonus on the terminal
            step), so scores are comparable to published ones only approximately.
        behaviour_steps: env steps of the SAC run the behaviour policies and the replay datasets
            come from.
        imagine_options: ``(option, value)`` pairs: the task's recipe for ``dreamenv
            imagine`` (the main job), where it differs from ``ImagineConfig``'s defaults
            (RLlib's PPO on a 10-minute clock); options given on the command line override
            it, as in rl-zoo's per-env hyperparameters. The README measures each recipe.
    """

    name: str
    env_id: str
    terminated: TerminationFn | None = None
    rule: str | None = None
    body: Locomotion | None = None
    max_episode_steps: int | None = 1000
    random_return: float | None = None
    expert_return: float | None = None
    behaviour_steps: int = 300_000
    imagine_options: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        # Also a learned-head text copied over by dataclasses.replace(task, terminated=fn).
        if self.rule is None or (self.terminated is not None and self.rule == LEARNED_RULE):
            rule = (LEARNED_RULE if self.terminated is None
                    else f"{self.env_id}'s own termination rule")
            object.__setattr__(self, "rule", rule)  # frozen: set once, here

    @property
    def title(self) -> str:
        """The env's name without version: ``Hopper`` (registered as ``DyDiff-Hopper``)."""
        return self.env_id.rsplit("-v", 1)[0]

    @property
    def known(self) -> bool:
        """Whether the project has a module for this task (a rule, a body, datasets)."""
        return self.terminated is not None

    def normalized_score(self, episode_return: float) -> float:
        """D4RL-normalised score (0 = random, 100 = D4RL expert).

        Examples:
            >>> from dreamenv.tasks import TASKS
            >>> round(TASKS["hopper"].normalized_score(3234.3), 6)
            100.0
        """
        if self.random_return is None or self.expert_return is None:
            raise ValueError(f"{self.env_id} has no D4RL reference returns")
        return 100.0 * (episode_return - self.random_return) / (
            self.expert_return - self.random_return)

    def termination(self, learned: TerminationFn | None = None) -> TerminationFn:
        """The task's rule if it has one, else ``learned`` (the model's head)."""
        if self.terminated is not None:
            return self.terminated
        if learned is None:
            raise ValueError(f"no termination rule for {self.env_id!r} and no learned "
                             "termination head")
        return learned


def generic_task(env_id: str) -> Task:
    """A task for any Gymnasium env the project has no module for (bring-your-own data)."""
    import gymnasium as gym

    try:
        limit = gym.spec(env_id).max_episode_steps
    except gym.error.Error:
        limit = None  # not installed here; an env needs it, a checkpoint does not
    return Task(name=env_id, env_id=env_id, max_episode_steps=limit)
