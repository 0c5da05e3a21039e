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
    random_return=1.629008, expert_return=4592.3, behaviour_steps=200_000,
    # The main job's recipe (README, "Every task"; every run: docs/main-job-tasks.md). The
    # policy starts from a behaviour clone of walker2d-medium (offline RL's start, as BREMEN's:
    # from scratch most seeds never found a gait in the model), and the budget is 650k
    # imagined steps (8 iterations): past about 2M the agent learns the shipped model's errors
    # (its imagined return climbs, the real one falls), and from the clone the good iterates
    # come early. 1M, read off seeds 2, 5, 7 and 10, beat the medium policy in 13 of 16 other
    # seeds, the other three's last iterates falling at once; 650k in all of ten more.
    # Observations and rewards normalised by running statistics (without normalisation PPO
    # stood still), MOPO's penalty at 2, the example's PPO shape (2048-row minibatches,
    # gradients clipped to 0.5, a free log-std, which the clone starts at its residual
    # spread), and the policy a second model's return would keep saved too
    # (integrations/validation.py). An iteration (one evaluation and one
    # validation) is five PPO batches, so a quiet machine and a loaded one run the same job.
    imagine_options=(
        ("steps", 650_000), ("minutes", 0.0), ("iteration_steps", 81_920),
        ("iteration_seconds", 0.0), ("uncertainty_penalty", 2.0),
        ("running_normalization", True), ("num_envs", 256), ("ppo_batch", 16384),
        ("ppo_minibatch", 2048), ("ppo_epochs", 5), ("ppo_log_std_init", -0.5),
        ("grad_clip", 0.5), ("validation_model", "walker2d-rme"),
        ("bc_dataset", "walker2d-medium")))
