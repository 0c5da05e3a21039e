"""What dreamenv knows about each real task: env id and version, D4RL reference returns.

A task is the unit a dataset, a model checkpoint and an env must agree on: a checkpoint for
``Hopper-v5`` is refused by anything built for another task.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """A real Gymnasium task and the constants offline RL reports against.

    Attributes:
        name: short name used in dataset ids (``hopper`` in ``hopper-medium``).
        env_id: the Gymnasium id the data comes from.
        random_return, expert_return: D4RL's reference returns for the normalised score
            ``100 * (R - random) / (expert - random)``. D4RL measured them on Hopper-v2; the v5
            env differs slightly (no healthy bonus on the terminal step), so scores are comparable
            to published ones only approximately.
    """

    name: str
    env_id: str
    random_return: float
    expert_return: float

    def normalized_score(self, episode_return: float) -> float:
        """D4RL-normalised score (0 = random, 100 = D4RL expert).

        Examples:
            >>> round(TASKS["hopper"].normalized_score(3234.3), 6)
            100.0
        """
        return 100.0 * (episode_return - self.random_return) / (
            self.expert_return - self.random_return)


TASKS: dict[str, Task] = {
    "hopper": Task("hopper", "Hopper-v5", random_return=-20.272305, expert_return=3234.3),
}


def task_for_env(env_id: str) -> Task:
    """The task whose real env is ``env_id``; ``ValueError`` if dreamenv does not know it."""
    for task in TASKS.values():
        if task.env_id == env_id:
            return task
    known = ", ".join(t.env_id for t in TASKS.values())
    raise ValueError(f"unknown env {env_id!r}; dreamenv knows {known}")
