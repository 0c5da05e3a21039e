"""How MaMuJoCo splits one body into agents, as index maps over the single-agent env.

A learned model predicts the single-agent observation (for Hopper ``qpos[1:] + clip(qvel)``), so
every agent's local observation must be a selection of it. MaMuJoCo builds its observations from
MuJoCo's ``data`` and can index them the same way (``observation_factorization``); this module
takes that map, each agent's slots in the joint action, and the spaces from a MaMuJoCo env of the
same arguments, and checks the map against MaMuJoCo's own observations on real states. A category
the single-agent observation does not hold (``cvel`` for Hopper) is refused at construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

VELOCITY_CLIP = 10.0
"""Hopper-v5 and Walker2d-v5 observe ``clip(qvel, -10, 10)``; MaMuJoCo's agents see ``qvel``."""


@dataclass(frozen=True)
class Factorisation:
    """Agents of one factorised body and their index maps into the single-agent env.

    Attributes:
        agents: agent names in MaMuJoCo's order (``agent_0``, ...).
        observation_index: per agent, the indices of the single-agent observation it sees.
        action_index: per agent, the indices of the joint action its action fills.
        observation_spaces, action_spaces: MaMuJoCo's per-agent spaces.
        state_space: the single-agent observation space (PettingZoo's ``state()``).
        joint_action_dim: length of the single-agent action.
    """

    agents: tuple[str, ...]
    observation_index: dict[str, np.ndarray]
    action_index: dict[str, np.ndarray]
    observation_spaces: dict[str, gym.spaces.Box]
    action_spaces: dict[str, gym.spaces.Box]
    state_space: gym.spaces.Box
    joint_action_dim: int

    @classmethod
    def from_mamujoco(cls, scenario: str, agent_conf: str | None, agent_obsk: int | None = 1,
                      agent_factorization: dict | None = None,
                      local_categories: list[list[str]] | None = None,
                      global_categories: tuple[str, ...] | None = None,
                      check_steps: int = 20) -> Factorisation:
        """Read the factorisation MaMuJoCo builds for these arguments and check it on
        ``check_steps`` real states (random actions from a seeded reset)."""
        from gymnasium_robotics import mamujoco_v1

        try:
            real = mamujoco_v1.parallel_env(scenario, agent_conf, agent_obsk=agent_obsk,
                                            agent_factorization=agent_factorization,
                                            local_categories=local_categories,
                                            global_categories=global_categories)
        except Exception as exc:  # MaMuJoCo raises bare Exceptions for unknown configs
            raise ValueError(f"MaMuJoCo refused the factorisation {scenario!r} {agent_conf!r} "
                             f"(agent_obsk={agent_obsk}, categories {local_categories}, "
                             f"{global_categories}): {exc!r}") from None
        try:
            mapping = real.observation_factorization
            if mapping is None:
                raise ValueError(f"MaMuJoCo cannot index {scenario}'s observation")
            agents = tuple(real.possible_agents)
            action_index = {agent: np.array([node.act_ids for node in part], dtype=np.int64)
                            for agent, part in zip(agents, real.agent_action_partitions)}
            single = real.single_agent_env
            joint_dim = int(single.action_space.shape[0])
            slots = np.sort(np.concatenate(list(action_index.values())))
            if not np.array_equal(slots, np.arange(joint_dim)):
                raise ValueError(f"the agents' actions fill slots {slots.tolist()} of the "
                                 f"{joint_dim}-dim action: each must be filled exactly once")
            made = cls(agents=agents,
                       observation_index={a: np.asarray(mapping[a], dtype=np.int64)
                                          for a in agents},
                       action_index=action_index,
                       observation_spaces={a: _copy_box(real.observation_space(a))
                                           for a in agents},
                       action_spaces={a: _copy_box(real.action_space(a)) for a in agents},
                       state_space=_copy_box(single.observation_space),
                       joint_action_dim=joint_dim)
            made._check_against(real, check_steps)
        finally:
            real.close()
        return made

    def _check_against(self, real: Any, steps: int) -> None:
        """MaMuJoCo's own observations must equal the index map of the state, or the
        factorisation observes something the model does not predict. One difference is allowed:
        Hopper and Walker2d clip velocities to +-10 in the single-agent observation (what the
        model predicts) while MaMuJoCo's agents read them unclipped."""
        real.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(steps):
            expected = real._get_obs()
            mapped = self.split_state(real.state())
            for agent in self.agents:
                got, want = mapped[agent], expected[agent]
                clipped = (np.abs(got) == VELOCITY_CLIP) & np.isclose(
                    np.clip(want, -VELOCITY_CLIP, VELOCITY_CLIP), got, rtol=0, atol=1e-12)
                if not (np.isclose(got, want, rtol=0, atol=1e-12) | clipped).all():
                    raise ValueError(f"{agent}'s MaMuJoCo observation is not a selection of the "
                                     "single-agent observation (a category the model does not "
                                     "predict?); use qpos/qvel categories")
            actions = {a: rng.uniform(-1, 1, self.action_spaces[a].shape) for a in self.agents}
            _, _, terminated, truncated, _ = real.step(actions)
            if any(terminated.values()) or any(truncated.values()):
                real.reset(seed=int(rng.integers(1 << 31)))

    def split_state(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """Per-agent observations from the single-agent observation(s) ``(..., S)``."""
        state = np.asarray(state)
        return {a: state[..., self.observation_index[a]].copy() for a in self.agents}

    def join_actions(self, actions: Any, agents: list[str], batch: tuple[int, ...] = ()
                     ) -> np.ndarray:
        """The joint action ``batch + (A,)`` from a dict with exactly ``agents``' actions, each
        of shape ``batch + action_space.shape``; anything else is a one-line ``ValueError``."""
        if not isinstance(actions, dict):
            raise ValueError(f"actions must be a dict {{agent: action}}, got "
                             f"{type(actions).__name__}")
        missing = [a for a in agents if a not in actions]
        extra = [a for a in actions if a not in agents]
        if missing or extra:
            raise ValueError(f"the action dict must hold exactly the live agents {agents}: "
                             f"missing {missing}, unexpected {extra}")
        joint = np.full(batch + (self.joint_action_dim,), np.nan)
        for agent in agents:
            shape = batch + self.action_spaces[agent].shape
            try:
                action = np.asarray(actions[agent], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{agent}'s action is not numeric: {actions[agent]!r}") from None
            if action.shape != shape:
                raise ValueError(f"{agent}'s action must have shape {shape}, got {action.shape}")
            if not np.isfinite(action).all():
                raise ValueError(f"{agent}'s action has NaN or inf: {action}")
            joint[..., self.action_index[agent]] = action
        return joint

    def split_action(self, joint: np.ndarray) -> dict[str, np.ndarray]:
        """Per-agent actions (float32) from joint actions ``(..., A)``: a joint policy as agents."""
        joint = np.asarray(joint, dtype=np.float32)
        return {a: joint[..., self.action_index[a]].copy() for a in self.agents}


def _copy_box(space: gym.spaces.Box) -> gym.spaces.Box:
    return gym.spaces.Box(low=space.low.copy(), high=space.high.copy(), shape=space.shape,
                          dtype=space.dtype)
