"""Uncertainty-aware rewards and episode ends (see the package docstring).

Both read ``info["uncertainty"]``, which every DyDiff env reports (the diffusion model's sample
spread, or the ensemble's MOPO score). One transform serves the single and the vector wrapper:
on a vector env it works row-wise, and rows that were autoreset on this step (uncertainty masked
out, reward 0) are left alone. The tensor-native vector env's tensors stay tensors.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamenv.tasks.locomotion import is_tensor


def _where(condition: Any, a: Any, b: Any) -> Any:
    """``np.where``, or ``torch.where`` on the tensor-native env's tensors."""
    if is_tensor(condition):
        import torch

        return torch.where(condition, a, b)
    return np.where(condition, a, b)


def _uncertainty(info: dict) -> Any:
    if "uncertainty" not in info:
        raise KeyError("info has no 'uncertainty': wrap a DyDiff env (dreamenv.envs)")
    mask = info.get("_uncertainty")
    return info["uncertainty"] if mask is None else _where(mask, info["uncertainty"], 0.0)


def penalise(reward: Any, info: dict, lam: float) -> Any:
    """``reward - lam * uncertainty``; records both parts in ``info``."""
    penalty = lam * _uncertainty(info)
    info["reward_model"], info["uncertainty_penalty"] = reward, penalty
    return reward - penalty


def halt(reward: Any, terminated: Any, truncated: Any, info: dict, threshold: float,
         halt_reward: float | None) -> tuple[Any, Any, Any]:
    """End rows whose uncertainty exceeds ``threshold``: truncated (the value beyond is unknown,
    so an agent bootstraps), or terminated with ``halt_reward`` if one is given (MOReL's
    absorbing HALT state)."""
    halted = _uncertainty(info) > threshold
    info["halted"] = halted
    if halt_reward is None:
        return reward, terminated, truncated | halted
    return _where(halted, halt_reward, reward), terminated | halted, truncated


class UncertaintyPenalty(gym.Wrapper):
    """MOPO's penalised reward ``r - lam * info["uncertainty"]`` (``lam`` = MOPO's lambda)."""

    def __init__(self, env: gym.Env, lam: float = 1.0):
        super().__init__(env)
        self.lam = float(lam)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(penalise(reward, info, self.lam)), terminated, truncated, info


class UncertaintyPenaltyVector(gym.vector.VectorWrapper):
    """:class:`UncertaintyPenalty` for a vector env (row-wise)."""

    def __init__(self, env: gym.vector.VectorEnv, lam: float = 1.0):
        super().__init__(env)
        self.lam = float(lam)

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return obs, penalise(reward, info, self.lam), terminated, truncated, info


class UncertaintyHalt(gym.Wrapper):
    """MOReL-style halting: end the episode when ``info["uncertainty"] > threshold``."""

    def __init__(self, env: gym.Env, threshold: float, halt_reward: float | None = None):
        super().__init__(env)
        self.threshold, self.halt_reward = float(threshold), halt_reward

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward, terminated, truncated = halt(reward, terminated, truncated, info,
                                             self.threshold, self.halt_reward)
        info["halted"] = bool(info["halted"])
        return obs, float(reward), bool(terminated), bool(truncated), info


class UncertaintyHaltVector(gym.vector.VectorWrapper):
    """:class:`UncertaintyHalt` for a vector env (row-wise); halted rows are autoreset on the
    next step like any other ended row (``DreamVectorEnv.end_episodes``)."""

    def __init__(self, env: gym.vector.VectorEnv, threshold: float,
                 halt_reward: float | None = None):
        super().__init__(env)
        self.threshold, self.halt_reward = float(threshold), halt_reward

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward, terminated, truncated = halt(reward, terminated, truncated, info,
                                             self.threshold, self.halt_reward)
        self.env.unwrapped.end_episodes(info["halted"])
        return obs, reward, terminated, truncated, info
