"""What dreamenv knows about each real task: one small module per task, and a generic task for
any other Gymnasium env (see :mod:`dreamenv.tasks.task`).

==============  ==================  ==============================================
name            env                 termination
==============  ==================  ==============================================
``hopper``      ``Hopper-v5``       health check (height, angle, state bound)
``walker2d``    ``Walker2d-v5``     health check (height range, angle range)
``halfcheetah`` ``HalfCheetah-v5``  never
==============  ==================  ==============================================
"""

from __future__ import annotations

from dreamenv.tasks import halfcheetah, hopper, walker2d
from dreamenv.tasks.locomotion import Locomotion
from dreamenv.tasks.task import Task, TerminationFn, generic_task

TASKS: dict[str, Task] = {m.TASK.name: m.TASK for m in (hopper, walker2d, halfcheetah)}


def get_task(name: str) -> Task:
    """The known task ``name``, or for a registered Gymnasium env id (a bring-your-own-data
    checkpoint's task) its task, generic if the project has no module for it; ``ValueError``
    listing the known ones otherwise."""
    if name in TASKS:
        return TASKS[name]
    import gymnasium as gym

    if name in gym.registry:
        return task_for_env(name, generic=True)
    raise ValueError(f"unknown task {name!r}; dreamenv knows {', '.join(TASKS)} (or any "
                     "registered Gymnasium env id)")


def task_for_env(env_id: str, generic: bool = False) -> Task:
    """The task whose real env is ``env_id``. An env the project has no module for is a
    ``ValueError``, or with ``generic=True`` a :func:`generic_task` (bring-your-own data)."""
    for task in TASKS.values():
        if task.env_id == env_id:
            return task
    if generic:
        return generic_task(env_id)
    known = ", ".join(t.env_id for t in TASKS.values())
    raise ValueError(f"unknown env {env_id!r}; dreamenv knows {known}")


__all__ = ["TASKS", "Locomotion", "Task", "TerminationFn", "generic_task", "get_task",
           "task_for_env"]
