"""Many multi-agent episodes in one model call: the batched form of :class:`DreamParallelEnv`.

PettingZoo has no vector API, so this follows Gymnasium's vector conventions per agent: every
value is a dict ``{agent: array}`` whose first axis is the episode, and an ended episode resets on
the next step (``NEXT_STEP`` autoreset: that step's actions are ignored, its reward is 0 and it is
not done). Row ``i`` reset with seed ``s`` is the episode ``DreamParallelEnv.reset(seed=s + i)``
gives, because both sit on DyDiff's native vector env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamenv.multiagent.factorisation import Factorisation
from dreamenv.multiagent.parallel import dream_env_id
from dreamenv.wrappers import UncertaintyPenaltyVector


class DreamParallelVecEnv:
    """``num_envs`` episodes of a MaMuJoCo factorisation, stepped by one model call.

    Spaces, rewards and terminations are :class:`DreamParallelEnv`'s per row; each agent's info
    is the DyDiff vector env's (a dict of arrays with Gymnasium's ``_key`` masks); agents never
    leave (rows autoreset instead). ``observation_space(agent)`` and ``action_space(agent)`` are
    the single-episode spaces; actions are ``{agent: (num_envs, joints) array}``.

    Args:
        num_envs: episodes stepped together.
        scenario, agent_conf, agent_obsk, agent_factorization, local_categories,
            global_categories: as ``mamujoco_v1.parallel_env``.
        max_episode_steps: truncation length (default 1000, as MaMuJoCo's).
        uncertainty_penalty: MOPO's lambda (rewards ``r - lambda * u``; 0: none).
        **dream_kwargs: the DyDiff vector env's arguments (``model``, ``precision``, ...).
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
                "name": "dreamenv_mamujoco_vec_v1"}

    def __init__(self, num_envs: int, scenario: str = "Hopper", agent_conf: str | None = "3x1",
                 agent_obsk: int | None = 1, agent_factorization: dict | None = None,
                 local_categories: list[list[str]] | None = None,
                 global_categories: tuple[str, ...] | None = None,
                 max_episode_steps: int = 1000, uncertainty_penalty: float = 0.0,
                 **dream_kwargs: Any):
        env_id = dream_env_id(scenario)
        self.factorisation = Factorisation.from_mamujoco(
            scenario, agent_conf, agent_obsk, agent_factorization, local_categories,
            global_categories)
        self.vector_env = gym.make_vec(env_id, num_envs=num_envs,
                                       vectorization_mode="vector_entry_point",
                                       max_episode_steps=max_episode_steps, **dream_kwargs)
        if uncertainty_penalty:
            self.vector_env = UncertaintyPenaltyVector(self.vector_env, uncertainty_penalty)
        self.num_envs = self.vector_env.num_envs
        self.possible_agents = list(self.factorisation.agents)
        self.agents = list(self.possible_agents)
        self.state_space = self.factorisation.state_space
        self._started = False

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self.factorisation.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Box:
        return self.factorisation.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        state, info = self.vector_env.reset(seed=seed, options=options)
        self._state, self._started = state, True
        return self.factorisation.split_state(state), {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self._started:
            raise gym.error.ResetNeeded("DreamParallelVecEnv: call reset() before step()")
        joint = self.factorisation.join_actions(actions, self.agents, (self.num_envs,))
        state, reward, terminated, truncated, info = self.vector_env.step(joint)
        self._state = state
        return (self.factorisation.split_state(state),
                {a: reward.copy() for a in self.agents},
                {a: terminated.copy() for a in self.agents},
                {a: truncated.copy() for a in self.agents},
                {a: dict(info) for a in self.agents})

    def state(self) -> np.ndarray:
        """The single-agent observations ``(num_envs, S)``."""
        if not self._started:
            raise gym.error.ResetNeeded("DreamParallelVecEnv: call reset() before state()")
        return self._state.copy()

    def close(self) -> None:
        if hasattr(self, "vector_env"):
            self.vector_env.close()
