"""Walker2d-v5: a two-legged body that must walk forward without falling.

Observation ``qpos[1:]`` (8) + ``clip(qvel, -10, 10)`` (9) = 17; action 6 torques in ``[-1, 1]``;
reward forward velocity + 1 per healthy step - 1e-3 * |a|^2; terminated when the torso height
leaves ``(0.8, 2.0)`` or its angle leaves ``(-1, 1)``.
"""

from dreamenv.tasks.locomotion import Locomotion, health_rule
from dreamenv.tasks.task import Task

BODY = Locomotion(nq=9, forward_weight=1.0, ctrl_weight=1e-3, healthy_reward=1.0,
                  healthy_z=(0.8, 2.0), healthy_angle=(-1.0, 1.0))
walker2d_terminated = health_rule(BODY.healthy_z, BODY.healthy_angle)

TASK = Task(
    name="walker2d", env_id="Walker2d-v5", terminated=walker2d_terminated,
    rule="Walker2d-v5's health check: z outside (0.8, 2.0) or angle outside (-1, 1)",
    body=BODY,
    random_return=1.629008, expert_return=4592.3, behaviour_steps=200_000)
