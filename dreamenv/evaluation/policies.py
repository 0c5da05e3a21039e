"""Policy specs: the strings ``dreamenv compare`` accepts, turned into ``act(obs, rng)`` policies.

=============================  =================================================================
spec                           policy
=============================  =================================================================
``random``                     uniform random actions
``medium``, ``expert``, ...    a shipped behaviour policy (see ``dreamenv.behaviour.LEVELS``),
                               acting with its mean action
``LEVEL+SIGMA``                the same with Gaussian action noise of std ``SIGMA`` (clipped):
                               a graded family from one policy, e.g. ``expert+0.5``
``path/actor.safetensors``     an actor saved by dreamenv (``dreamenv behaviour train``'s
                               snapshots), mean action
``path/checkpoint/``           an RLlib algorithm checkpoint (``dreamenv imagine`` writes one;
                               a multi-agent team acts as one joint policy)
``package.module:name``        a Python callable ``fn(obs) -> actions`` over a batch (``obs``
                               ``(B, S)`` float64, actions ``(B, A)``), or an object with
                               ``act(obs, rng)``; the module must be importable
``label=SPEC``                 any of the above, reported as ``label``
=============================  =================================================================
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from dreamenv.behaviour import LEVELS, behaviour_policy
from dreamenv.behaviour.policy import ActorPolicy, load_actor
from dreamenv.tasks import get_task


class NoisyPolicy:
    """``policy``'s action plus Gaussian noise of std ``sigma``, clipped to the action bounds."""

    def __init__(self, policy: object, sigma: float, low: np.ndarray, high: np.ndarray):
        self.policy, self.sigma, self.low, self.high = policy, sigma, low, high

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        action = self.policy.act(obs, rng)
        noisy = action + self.sigma * rng.standard_normal(action.shape)
        return np.clip(noisy, self.low, self.high).astype(np.float32)


def load_policy(spec: str, task: str = "hopper") -> tuple[str, object]:
    """``(label, policy)`` for one spec (see the module docstring).

    Raises:
        ValueError: one line naming the spec and what is wrong with it.
    """
    label, named, body = spec.partition("=")
    if not named:
        body = spec
        label = Path(spec).stem if spec.endswith(".safetensors") or "/" in spec else spec
    if not body or not label:
        raise ValueError(f"policy spec {spec!r}: expected LABEL=SPEC with both parts")
    return label, _policy_from(body, task)


def _policy_from(spec: str, task: str) -> object:
    env_id = get_task(task).env_id
    level, plus, sigma = spec.partition("+")
    if level in LEVELS:
        policy = behaviour_policy(task, level, deterministic=True)
        if not plus:
            return policy
        try:
            std = float(sigma)
        except ValueError:
            raise ValueError(f"policy spec {spec!r}: noise {sigma!r} is not a number") from None
        if not std >= 0:
            raise ValueError(f"policy spec {spec!r}: noise must be >= 0")
        space = _action_bounds(env_id)
        return NoisyPolicy(policy, std, *space)
    path = Path(spec)
    if spec.endswith(".safetensors"):
        actor, info = load_actor(path, env_id)
        return ActorPolicy(actor, deterministic=True, metadata=info)
    if path.is_dir():
        try:
            from dreamenv.integrations.rllib import RLlibPolicy
        except ImportError:
            raise ValueError(f"{path}: loading RLlib checkpoints needs pip install "
                             "'dreamenv[rllib]'") from None
        modules = path / "learner_group" / "learner" / "rl_module"
        if modules.is_dir() and not (modules / "default_policy").is_dir():
            try:  # a team from dreamenv imagine --agent-conf
                from dreamenv.integrations.rllib_multiagent import JointPolicy
            except ImportError:
                raise ValueError(f"{path}: a multi-agent checkpoint needs pip install "
                                 "'dreamenv[multiagent]'") from None
            return JointPolicy.from_checkpoint(path)
        return RLlibPolicy.from_checkpoint(path, task)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"policy spec {spec!r}: cannot import ({e})") from None
        if callable(getattr(obj, "act", None)) or callable(obj):
            return obj
        raise ValueError(f"policy spec {spec!r}: {attr} is neither callable nor has act()")
    raise ValueError(f"policy spec {spec!r}: not a level ({', '.join(LEVELS)}), an existing "
                     ".safetensors file or checkpoint directory, or module:name")


def _action_bounds(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    import gymnasium as gym

    space = gym.make(env_id).action_space
    return space.low, space.high
