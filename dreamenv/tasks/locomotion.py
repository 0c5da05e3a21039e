"""What Gymnasium's MuJoCo locomotion tasks (Hopper, Walker2d, HalfCheetah) share: the layout of
their observation and their reward terms.

Shapes: ``B`` rows, ``S`` observation size, ``A`` action size.

The observation is ``qpos[1:]`` then ``qvel`` (clipped to ``[-10, 10]`` by Hopper and Walker2d):
the current x position is left out, so a learned env integrates it from the predicted x velocity
``obs[nq - 1]``, and a state poses the real body as ``qpos = [x, obs[:nq - 1]]``,
``qvel = obs[nq - 1:]`` (clipped velocities pose the body as well as the env shows it).

The termination rules and reward terms take NumPy arrays or torch tensors (on any device) and
answer in kind: the tensor-native vector env (:mod:`dreamenv.envs.tensor_vector`) runs the same
rules on the GPU that the NumPy envs run on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Locomotion:
    """The body layout and reward terms of a MuJoCo locomotion task.

    Attributes:
        nq: length of ``qpos``; ``obs[nq - 1]`` is the x velocity.
        forward_weight, ctrl_weight: the real env's ``forward_reward_weight`` and
            ``ctrl_cost_weight``.
        healthy_reward: the survive bonus per healthy step, ``None`` for a task without one.
        height_index: where the torso height sits in the observation (for the real env's
            ``z_distance_from_origin`` info), ``None`` for a task that does not report it.
        healthy_z, healthy_angle: the open ranges of torso height ``obs[0]`` and angle
            ``obs[1]`` outside which the body has fallen (``None``: it cannot fall).
        velocity_clip: the observation shows ``clip(qvel, -velocity_clip, velocity_clip)``
            (``None``: unclipped).
        normal_reset_velocity: the reset adds ``scale * N(0, 1)`` to ``qvel`` (HalfCheetah)
            rather than ``U(-scale, scale)`` (Hopper, Walker2d); ``qpos`` always gets the
            uniform noise.
    """

    nq: int
    forward_weight: float
    ctrl_weight: float
    healthy_reward: float | None
    height_index: int | None = 0
    healthy_z: tuple[float, float] | None = None
    healthy_angle: tuple[float, float] | None = None
    velocity_clip: float | None = 10.0
    normal_reset_velocity: bool = False

    def fallen_by(self, next_obs: np.ndarray) -> dict[str, np.ndarray]:
        """Which health range each row ``(B, S)`` has left: ``{"z": (B,), "angle": (B,)}``."""
        if self.healthy_z is None or self.healthy_angle is None:
            raise ValueError("this body cannot fall (no health ranges)")
        next_obs = np.asarray(next_obs)
        z, angle = next_obs[..., 0], next_obs[..., 1]
        return {"z": (z <= self.healthy_z[0]) | (z >= self.healthy_z[1]),
                "angle": (angle <= self.healthy_angle[0]) | (angle >= self.healthy_angle[1])}

    def health_margin(self, next_obs: np.ndarray) -> dict[str, np.ndarray]:
        """How far each row is inside its health ranges (negative: outside)."""
        next_obs = np.asarray(next_obs)
        z, angle = next_obs[..., 0], next_obs[..., 1]
        return {"z": np.minimum(z - self.healthy_z[0], self.healthy_z[1] - z),
                "angle": np.minimum(angle - self.healthy_angle[0], self.healthy_angle[1] - angle)}

    @property
    def x_velocity_index(self) -> int:
        return self.nq - 1

    def pose(self, obs: np.ndarray, x_position: float) -> tuple[np.ndarray, np.ndarray]:
        """``(qpos, qvel)`` of the real body in the state ``obs`` ``(S,)`` at ``x_position``."""
        obs = np.asarray(obs, dtype=np.float64)
        return np.concatenate([[x_position], obs[: self.nq - 1]]), obs[self.nq - 1:]

    def reward_terms(self, next_obs: np.ndarray, action: np.ndarray,
                     terminated: np.ndarray) -> dict[str, np.ndarray]:
        """The real env's reward terms (its info keys) for imagined transitions: the forward
        reward from the predicted x velocity, the control cost of the action the model saw and,
        where the task has one, the survive bonus (Gymnasium v5: none on the terminal step).

        Examples:
            >>> body = Locomotion(nq=6, forward_weight=1.0, ctrl_weight=1e-3, healthy_reward=1.0)
            >>> obs = np.zeros((2, 11)); obs[:, 5] = [2.0, -1.0]
            >>> terms = body.reward_terms(obs, np.ones((2, 3)), np.array([False, True]))
            >>> [terms[k].tolist() for k in ("reward_forward", "reward_ctrl", "reward_survive")]
            [[2.0, -1.0], [-0.003, -0.003], [1.0, 0.0]]
        """
        if not is_tensor(next_obs):
            next_obs, action = np.asarray(next_obs), np.asarray(action, dtype=np.float64)
            terminated = np.asarray(terminated, dtype=bool)
        terms = {"reward_forward": self.forward_weight * next_obs[:, self.x_velocity_index],
                 "reward_ctrl": -self.ctrl_weight * (action * action).sum(1)}
        if self.healthy_reward is not None:
            terms["reward_survive"] = self.healthy_reward * ~terminated
        return terms


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (``import dreamenv`` stays
    cheap): only tensors have ``new_zeros``."""
    return hasattr(x, "new_zeros")


def health_rule(height: tuple[float, float], angle: tuple[float, float],
                state_bound: float | None = None):
    """A termination function ``(B, S) -> (B,)`` for a body whose ``obs[0]`` is the torso height
    and ``obs[1]`` its angle: terminated when either leaves its open range, when any of
    ``obs[1:]`` reaches ``state_bound`` (if given), or when a value is not finite.

    All of it is one open-range check on some columns: ``(obs[:, columns] > low) &
    (obs[:, columns] < high)``, the height and angle ranges first, then ``(-bound, bound)`` or
    ``(-inf, inf)`` (false exactly for NaN and inf) on the rest; a single env's step is
    then six array ops.

    Examples:
        >>> rule = health_rule((0.7, float("inf")), (-0.2, 0.2), state_bound=100.0)
        >>> obs = np.zeros((4, 3)); obs[:, 0] = 1.0
        >>> obs[1, 1], obs[2, 2], obs[3, 2] = 0.3, 100.0, np.nan
        >>> rule(obs).tolist()
        [False, True, True, True]
    """
    ranges: dict[tuple, tuple] = {}

    def columns_and_ranges(width: int, like) -> tuple:
        # The bounds in the observations' dtype: a float32 state is compared in float32, as
        # against a Python float.
        key = (width, like.dtype, like.device if is_tensor(like) else None)
        if key not in ranges:
            rest = np.arange(1 if state_bound is not None else 0, width)
            bound = np.inf if state_bound is None else state_bound
            columns = np.concatenate([[0, 1], rest])
            low = np.concatenate([[height[0], angle[0]], np.full(len(rest), -bound)])
            high = np.concatenate([[height[1], angle[1]], np.full(len(rest), bound)])
            if not is_tensor(like):
                low, high = low.astype(like.dtype), high.astype(like.dtype)
            else:
                import torch  # only here: tensors came in, so torch is loaded
                columns = torch.as_tensor(columns, device=like.device)
                low, high = (torch.as_tensor(v, dtype=like.dtype, device=like.device)
                             for v in (low, high))
            ranges[key] = columns, low, high
        return ranges[key]

    def terminated(next_obs: np.ndarray) -> np.ndarray:
        if not is_tensor(next_obs):
            next_obs = np.asarray(next_obs)
            if next_obs.dtype.kind != "f":  # the bounds are infinite or fractional
                next_obs = next_obs.astype(np.float64)
        elif not next_obs.is_floating_point():
            next_obs = next_obs.double()
        columns, low, high = columns_and_ranges(next_obs.shape[1], next_obs)
        shown = next_obs[:, columns]
        return ~((shown > low) & (shown < high)).all(1)

    return terminated


def never_terminated(next_obs: np.ndarray) -> np.ndarray:
    """The rule of a task that never terminates (HalfCheetah): all False."""
    if is_tensor(next_obs):
        return next_obs.new_zeros(len(next_obs), dtype=bool)
    return np.zeros(len(next_obs), dtype=bool)
