"""HalfCheetah-v5: a planar cat-like body that must run forward; it cannot fall.

Observation ``qpos[1:]`` (8) + ``qvel`` (9, not clipped) = 17; action 6 torques in ``[-1, 1]``;
reward forward velocity - 0.1 * |a|^2; never terminated (every episode runs to the time limit).
"""

from dreamenv.tasks.locomotion import Locomotion, never_terminated
from dreamenv.tasks.task import Task

TASK = Task(
    name="halfcheetah", env_id="HalfCheetah-v5", terminated=never_terminated,
    rule="none: HalfCheetah-v5 never terminates",
    body=Locomotion(nq=9, forward_weight=1.0, ctrl_weight=0.1, healthy_reward=None,
                    height_index=None, velocity_clip=None, normal_reset_velocity=True),
    random_return=-280.178953, expert_return=12135.0, behaviour_steps=200_000)
