"""Hopper-v5: a one-legged body that must hop forward without falling.

Observation ``qpos[1:]`` (5) + ``clip(qvel, -10, 10)`` (6) = 11; action 3 torques in ``[-1, 1]``;
reward forward velocity + 1 per healthy step - 1e-3 * |a|^2; terminated when unhealthy.
"""

from dreamenv.tasks.locomotion import Locomotion, health_rule
from dreamenv.tasks.task import Task

BODY = Locomotion(nq=6, forward_weight=1.0, ctrl_weight=1e-3, healthy_reward=1.0,
                  healthy_z=(0.7, float("inf")), healthy_angle=(-0.2, 0.2))
hopper_terminated = health_rule(BODY.healthy_z, BODY.healthy_angle, state_bound=100.0)
hopper_terminated.__doc__ = """Hopper-v5's rule on observations ``qpos[1:] (5) + clip(qvel) (6)``:
terminated when not healthy, i.e. ``z <= 0.7``, ``|angle| >= 0.2``, or any of ``obs[1:]`` outside
``(-100, 100)`` (the env checks unclipped velocities, which the observation cannot show).

Examples:
    >>> import numpy as np
    >>> obs = np.zeros((3, 11)); obs[:, 0] = [1.25, 0.6, 1.25]; obs[2, 1] = 0.3
    >>> hopper_terminated(obs).tolist()
    [False, True, True]
"""

TASK = Task(
    name="hopper", env_id="Hopper-v5", terminated=hopper_terminated,
    rule="Hopper-v5's health check: z <= 0.7, |angle| >= 0.2 or |obs[1:]| >= 100",
    body=BODY,
    random_return=-20.272305, expert_return=3234.3, behaviour_steps=300_000,
    # The main job's recipe (README, "Training agents in imagination"): RLlib's default PPO on a
    # budget of 3M imagined steps, what its first 10-minute clock made on an idle machine.
    # On that clock the job ended anywhere between 0.5M and 3.4M steps with the machine's load,
    # and the runs that got past 1.5M beat the medium policy far more often. An iteration (one
    # real evaluation) is 40 of PPO's 4000-step batches. Walker2d's PPO shape with MOPO's
    # penalty did worse here (README).
    imagine_options=(
        ("steps", 3_000_000), ("minutes", 0.0), ("iteration_steps", 160_000),
        ("iteration_seconds", 0.0)))
