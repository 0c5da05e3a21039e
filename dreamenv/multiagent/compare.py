"""Joint policies, seed-matched, in the multi-agent DyDiff env and in real MaMuJoCo.

A joint policy acts on the body's state (PettingZoo's ``state()``, the single-agent observation)
and its action is split among the agents, so the shipped single-agent policies play as teams.
Both envs go through their PettingZoo interfaces: per-agent action dicts in, per-agent rewards
out (the body's reward, read from ``agent_0``). Episode ``i`` starts from seed ``seed + i`` in both,
so both start from the same observations; the report is ``dreamenv compare``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dreamenv.evaluation.compare import compare_in
from dreamenv.multiagent.factorisation import Factorisation
from dreamenv.multiagent.vector import DreamParallelVecEnv


class JointView:
    """Episodes of a multi-agent env seen as a vector env over the body (what
    :func:`~dreamenv.evaluation.compare.run_matched` steps): ``reset`` and ``step`` take and
    give joint actions and states, through the agents' dicts."""

    def __init__(self, envs: list[Any] | DreamParallelVecEnv, factorisation: Factorisation):
        self.envs, self.factorisation = envs, factorisation
        self.batched = isinstance(envs, DreamParallelVecEnv)
        self.num_envs = envs.num_envs if self.batched else len(envs)
        self.first = factorisation.agents[0]

    def reset(self, seed: int) -> tuple[np.ndarray, dict]:
        if self.batched:
            self.envs.reset(seed=seed)
        else:
            for i, env in enumerate(self.envs):
                env.reset(seed=seed + i)
        return self._state(), {}

    def step(self, joint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                               dict]:
        actions = self.factorisation.split_action(joint)
        if self.batched:
            _, rewards, terminations, truncations, _ = self.envs.step(actions)
            return (self._state(), rewards[self.first], terminations[self.first],
                    truncations[self.first], {})
        out = [env.step({a: actions[a][i] for a in actions}) if env.agents else None
               for i, env in enumerate(self.envs)]
        ended = [o is None for o in out]  # masked by run_matched: any values do
        reward = np.array([0.0 if e else o[1][self.first] for e, o in zip(ended, out)])
        terminated = np.array([e or o[2][self.first] for e, o in zip(ended, out)])
        truncated = np.array([e or o[3][self.first] for e, o in zip(ended, out)])
        return self._state(), reward, terminated, truncated, {}

    def _state(self) -> np.ndarray:
        if self.batched:
            return self.envs.state()
        return np.stack([env.state() for env in self.envs])


def compare_joint_policies(policies: dict[str, object], agent_conf: str | None = "3x1",
                           scenario: str = "Hopper", episodes: int = 5, seed: int = 0,
                           max_steps: int = 1000, **dream_kwargs: Any) -> dict:
    """Seed-matched returns of joint policies in the multi-agent DyDiff env and real MaMuJoCo."""
    from gymnasium_robotics import mamujoco_v1

    dream = DreamParallelVecEnv(episodes, scenario, agent_conf, max_episode_steps=max_steps,
                                **dream_kwargs)
    factorisation = dream.factorisation
    real_envs = [mamujoco_v1.parallel_env(scenario, agent_conf, max_episode_steps=max_steps)
                 for _ in range(episodes)]
    state_std = getattr(getattr(dream.vector_env.unwrapped.dynamics, "state_norm", None),
                        "std", None)
    try:
        per_policy, summary = compare_in(policies, JointView(dream, factorisation),
                                         JointView(real_envs, factorisation), seed, max_steps,
                                         scenario.lower(), state_std)
    finally:
        for env in real_envs:
            env.close()
        dream.close()
    return {"env_id": f"MaMuJoCo {scenario} {agent_conf}", "agents": list(factorisation.agents),
            "episodes": episodes, "seed": seed, "max_steps": max_steps, "policies": per_policy,
            "summary": summary}
