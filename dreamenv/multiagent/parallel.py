"""MaMuJoCo's factorised bodies as PettingZoo ``ParallelEnv``s that step inside the learned model.

``DreamParallelEnv("Hopper", "3x1")`` has exactly the agents, spaces, observations, rewards and
terminations of ``gymnasium_robotics.mamujoco_v1.parallel_env("Hopper", "3x1")`` (infos are the
DyDiff env's, see below), but every step is one call of the single-agent ``DyDiff-Hopper`` env
(one batched model call): the agents' actions are joined into the body's action, and the
predicted observation is split into the agents' observations by MaMuJoCo's own index map
(:mod:`dreamenv.multiagent.factorisation`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo.utils.env import ParallelEnv

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv.envs import ENV_IDS
from dreamenv.multiagent.factorisation import Factorisation
from dreamenv.wrappers import UncertaintyPenalty


def dream_env_id(scenario: str) -> str:
    """The DyDiff env id that simulates MaMuJoCo's ``scenario`` (``"Hopper"`` -> DyDiff-Hopper)."""
    env_id = f"DyDiff-{scenario}"
    if env_id not in ENV_IDS:
        known = sorted(e.removeprefix("DyDiff-") for e in ENV_IDS)
        raise ValueError(f"no DyDiff env for MaMuJoCo scenario {scenario!r}; dreamenv has "
                         f"{known}")
    return env_id


class DreamParallelEnv(ParallelEnv):
    """A MaMuJoCo factorisation of a MuJoCo body (``Hopper``: ``"3x1"``, one agent per joint, or
    ``None``, one agent for the whole body; ``Walker2d``: ``"2x3"``, one per leg; ``HalfCheetah``:
    ``"2x3"`` or ``"6x1"``) simulated by a learned dynamics model. Where Walker2d's velocities
    pass +-10 its agents see them clipped (the single-agent observation the model predicts
    clips them; MaMuJoCo's agents do not).

    * **agents**: ``agent_0 .. agent_{n-1}``, MaMuJoCo's, in its order.
    * **observation_space(agent)**: MaMuJoCo's ``Box(-inf, inf, (d,), float64)``; the agent sees
      its joints' ``qpos, qvel`` and its neighbours' ``qpos`` up to ``agent_obsk`` joints away, then
      the global categories (``qpos, qvel`` of the root), all read from the predicted state.
    * **action_space(agent)**: ``Box(-1, 1, (joints,), float32)``; the joint action is the
      agents' actions placed at their actuators.
    * **rewards**: every agent gets the body's predicted reward (MaMuJoCo's shared reward).
    * **terminations / truncations**: the single-agent env's (the task's health rule on the
      predicted state, none for HalfCheetah; the task's time limit, 1000 steps), the same for
      every agent; then ``agents`` is empty and the
      next ``step`` needs a ``reset``.
    * **infos**: the DyDiff env's info, one copy per agent: at reset MaMuJoCo's keys
      (``x_position``, ``z_distance_from_origin``); at a step also ``x_velocity``, the reward
      terms (the real env's: ``reward_forward``, ``reward_ctrl`` and, for the bodies that can
      fall, ``reward_survive``; recomputed from the predicted state and the joint action),
      ``uncertainty`` and ``model_diverged``.
    * ``agents`` is empty until the first ``reset`` (MaMuJoCo fills it at construction; PettingZoo
      leaves it open).
    * ``state()``: the single-agent observation (``state_space``).

    Args:
        scenario, agent_conf, agent_obsk, agent_factorization, local_categories,
            global_categories: as ``mamujoco_v1.parallel_env``; categories must be ones the
            single-agent observation holds (qpos, qvel).
        render_mode: ``None`` or ``"rgb_array"`` (the real body posed in the predicted state).
        uncertainty_penalty: MOPO's lambda: every agent's reward is ``r - lambda * u`` with
            ``u = info["uncertainty"]`` (0: the model's reward as it is).
        **dream_kwargs: the DyDiff env's arguments (``model``, ``denoising_steps``,
            ``history_noise``, ``start``, ``max_episode_steps``, ...).
    """

    metadata = {"render_modes": ["rgb_array"], "name": "dreamenv_mamujoco_v1",
                "is_parallelizable": True}

    def __init__(self, scenario: str = "Hopper", agent_conf: str | None = "3x1",
                 agent_obsk: int | None = 1, agent_factorization: dict | None = None,
                 local_categories: list[list[str]] | None = None,
                 global_categories: tuple[str, ...] | None = None,
                 render_mode: str | None = None, uncertainty_penalty: float = 0.0,
                 **dream_kwargs: Any):
        env_id = dream_env_id(scenario)
        self.factorisation = Factorisation.from_mamujoco(
            scenario, agent_conf, agent_obsk, agent_factorization, local_categories,
            global_categories)
        self.single_agent_env = gym.make(env_id, render_mode=render_mode, **dream_kwargs)
        if uncertainty_penalty:
            self.single_agent_env = UncertaintyPenalty(self.single_agent_env,
                                                       uncertainty_penalty)
        self.render_mode = render_mode
        self.possible_agents = list(self.factorisation.agents)
        self.agents: list[str] = []
        self.observation_spaces = self.factorisation.observation_spaces
        self.action_spaces = self.factorisation.action_spaces
        self.state_space = self.factorisation.state_space
        self.metadata = {**self.metadata,
                         "render_fps": self.single_agent_env.metadata.get("render_fps")}
        self._state: np.ndarray | None = None

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Box:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start an episode: with the same seed, the first observations are MaMuJoCo's."""
        state, info = self.single_agent_env.reset(seed=seed, options=options)
        self._state = state
        self.agents = list(self.possible_agents)
        return self.factorisation.split_state(state), {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise gym.error.ResetNeeded("DreamParallelEnv: every agent is done (or reset() was "
                                        "never called); call reset() before step()")
        joint = self.factorisation.join_actions(actions, self.agents)
        state, reward, terminated, truncated, info = self.single_agent_env.step(joint)
        self._state = state
        agents = self.agents
        observations = self.factorisation.split_state(state)
        rewards = {a: float(reward) for a in agents}
        terminations = {a: bool(terminated) for a in agents}
        truncations = {a: bool(truncated) for a in agents}
        infos = {a: dict(info) for a in agents}
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        if self._state is None:
            raise gym.error.ResetNeeded("DreamParallelEnv: call reset() before state()")
        return self._state.copy()

    def render(self) -> np.ndarray | None:
        return self.single_agent_env.render()

    def close(self) -> None:
        if hasattr(self, "single_agent_env"):
            self.single_agent_env.close()
