"""RLlib multi-agent: MaMuJoCo's agents train inside the learned model, evaluated in MaMuJoCo.

Needs the ``rllib`` and ``multiagent`` extras. Training samples the multi-agent DyDiff env on
RLlib's new API stack (a ``MultiAgentEnvRunner`` subclass, below); every iteration also runs
deterministic episodes of the real ``mamujoco_v1.parallel_env`` through
``ParallelPettingZooEnv``. Two ways to map agents to policies:

* ``per-agent``: one RLModule per agent, each on its own observation;
* ``shared``: one RLModule for all agents (parameter sharing). Agents see different numbers of
  values, so each observation is zero-padded to the widest and followed by a one-hot agent id
  (Terry et al. 2020, "Revisiting parameter sharing in multi-agent deep RL"); every agent needs
  the same action space.

RLlib vectorises multi-agent envs by stepping copies one by one, one model call each. Here the
env runners are :class:`BatchedEnvRunner`: their ``num_envs_per_env_runner`` episodes are one
:class:`~dreamenv.multiagent.DreamParallelVecEnv`, one model call per step for all of them
(64 episodes: 27x the env steps/s of 64 copies, 2x the PPO iteration rate). The real MaMuJoCo
evaluation runs as RLlib makes it. (``make_multiagent_dream_env`` is the same env as one
``ParallelPettingZooEnv``, for RLlib's own runner.)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from pettingzoo.utils.env import ParallelEnv
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.columns import Columns
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.vector.vector_multi_agent_env import VectorMultiAgentEnv
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

from dreamenv.integrations.rllib import evaluated_in_real_env, training_config
from dreamenv.multiagent import DreamParallelEnv, DreamParallelVecEnv, Factorisation
from dreamenv.multiagent.parallel import dream_env_id
from dreamenv.tasks import TASKS, Task, get_task

logger = logging.getLogger(__name__)

MA_DREAM_ENV = "dreamenv-DyDiff-multiagent"
MA_REAL_ENV = "dreamenv-mamujoco"
SHARINGS = ("per-agent", "shared")
RUNNERS = ("batched", "pettingzoo")
DREAM_KEYS = {"model", "denoising_steps", "history", "history_noise", "precision",
              "sampling_temperature", "start", "dataset", "max_episode_steps",
              "uncertainty_penalty", "device"}


def shared_input(obs: np.ndarray, agent_index: int, num_agents: int, width: int) -> np.ndarray:
    """An agent's observations ``(..., d)`` as a shared policy's input ``(..., width + n)``:
    zero-padded to ``width``, then the one-hot ``agent_index``."""
    obs = np.asarray(obs, dtype=np.float64)
    out = np.zeros(obs.shape[:-1] + (width + num_agents,))
    out[..., : obs.shape[-1]] = obs
    out[..., width + agent_index] = 1.0
    return out


def check_shareable(action_spaces: dict[str, gym.spaces.Box]) -> None:
    """One policy can act for every agent only if they share one action space."""
    if len({(s.shape, tuple(s.low), tuple(s.high)) for s in action_spaces.values()}) != 1:
        raise ValueError("a shared policy needs every agent to have the same action space; "
                         "use policy sharing 'per-agent'")


class SharedPolicyView(ParallelEnv):
    """The observations a shared policy sees: each agent's padded to the widest, then its
    one-hot id. Everything else passes through."""

    def __init__(self, env: ParallelEnv):
        self.env = env
        self.possible_agents = list(env.possible_agents)
        spaces = {a: env.action_space(a) for a in self.possible_agents}
        check_shareable(spaces)
        self.width = max(env.observation_space(a).shape[0] for a in self.possible_agents)
        size = self.width + len(self.possible_agents)
        self.observation_spaces = {a: gym.spaces.Box(-np.inf, np.inf, (size,), np.float64)
                                   for a in self.possible_agents}
        self.action_spaces = spaces
        self.metadata = env.metadata

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Box:
        return self.action_spaces[agent]

    def view(self, agent: str, obs: np.ndarray) -> np.ndarray:
        return shared_input(obs, self.possible_agents.index(agent), len(self.possible_agents),
                            self.width)

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return {a: self.view(a, o) for a, o in obs.items()}, infos

    def step(self, actions: dict[str, Any]):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        return ({a: self.view(a, o) for a, o in obs.items()}, rewards, terminations, truncations,
                infos)

    def state(self) -> np.ndarray:
        return self.env.state()

    def close(self) -> None:
        self.env.close()


def _checked_sharing(sharing: str) -> str:
    if sharing not in SHARINGS:
        raise ValueError(f"policy sharing must be one of {SHARINGS}, got {sharing!r}")
    return sharing


def _for_rllib(env: ParallelEnv, sharing: str) -> ParallelPettingZooEnv:
    _checked_sharing(sharing)
    return ParallelPettingZooEnv(SharedPolicyView(env) if sharing == "shared" else env)


def make_multiagent_dream_env(config: dict) -> ParallelPettingZooEnv:
    """RLlib env creator: ``config`` holds ``scenario``, ``agent_conf``, ``policy_sharing`` and
    the DyDiff env's keyword arguments."""
    kwargs = {k: v for k, v in config.items() if k in DREAM_KEYS}
    env = DreamParallelEnv(config.get("scenario", "Hopper"), config.get("agent_conf", "3x1"),
                           **kwargs)
    return _for_rllib(env, config.get("policy_sharing", "per-agent"))


def make_multiagent_real_env(config: dict) -> ParallelPettingZooEnv:
    """The real MaMuJoCo env for evaluation (model options in ``config`` are ignored)."""
    from gymnasium_robotics import mamujoco_v1

    scenario = config.get("scenario", "Hopper")
    limit = config.get("max_episode_steps", scenario_task(scenario).max_episode_steps)
    env = mamujoco_v1.parallel_env(scenario, config.get("agent_conf", "3x1"),
                                   max_episode_steps=int(limit))
    return _for_rllib(env, config.get("policy_sharing", "per-agent"))


def register() -> None:
    register_env(MA_DREAM_ENV, make_multiagent_dream_env)
    register_env(MA_REAL_ENV, make_multiagent_real_env)


def scenario_task(scenario: str) -> Task:
    """The task whose body MaMuJoCo's ``scenario`` splits (``"Walker2d"`` -> walker2d)."""
    dream_env_id(scenario)  # a one-line error for a scenario dreamenv has no env for
    return next(task for task in TASKS.values() if task.title == scenario)


def module_id(agent: str, sharing: str) -> str:
    """The RLModule an agent acts with."""
    return "shared" if sharing == "shared" else agent


def map_to_own_module(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    return module_id(agent_id, "per-agent")


def map_to_shared_module(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    return module_id(agent_id, "shared")


def multiagent_algo_config(algo: str, env_config: dict, num_envs: int = 16,
                           num_env_runners: int = 0, eval_episodes: int = 5, seed: int = 0,
                           iteration_seconds: float = 0.0) -> AlgorithmConfig:
    """PPO or SAC over MaMuJoCo's agents in DyDiff (``env_config['policy_sharing']``:
    ``per-agent`` or ``shared``), ``eval_episodes`` real MaMuJoCo episodes per iteration.
    ``env_config['env_runner']``: ``batched`` (:class:`BatchedEnvRunner`, the default) or
    ``pettingzoo`` (RLlib's own runner over ``ParallelPettingZooEnv`` copies)."""
    register()
    sharing = _checked_sharing(env_config.get("policy_sharing", "per-agent"))
    runner = env_config.get("env_runner", "batched")
    if runner not in RUNNERS:
        raise ValueError(f"env runner must be one of {RUNNERS}, got {runner!r}")
    dream_env_id(env_config.get("scenario", "Hopper"))  # refuse an unknown scenario now
    agents = Factorisation.from_mamujoco(env_config.get("scenario", "Hopper"),
                                         env_config.get("agent_conf", "3x1"),
                                         check_steps=0).agents
    if sharing == "shared":
        policies, mapping = {"shared"}, map_to_shared_module
    else:
        policies, mapping = set(agents), map_to_own_module
    real_config = {k: env_config[k] for k in ("scenario", "agent_conf", "policy_sharing")
                   if k in env_config}
    config = (training_config(algo, multi_agent=True)
              .environment(MA_DREAM_ENV, env_config=dict(env_config))
              .multi_agent(policies=policies, policy_mapping_fn=mapping)
              .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs,
                           env_runner_cls=(BatchedEnvRunner if runner == "batched"
                                           else MultiAgentEnvRunner)))
    limit = scenario_task(env_config.get("scenario", "Hopper")).max_episode_steps
    return evaluated_in_real_env(config, MA_REAL_ENV, {**real_config, "max_episode_steps": limit},
                                 eval_episodes, seed, iteration_seconds)


class JointPolicy:
    """Trained multi-agent modules as one dreamenv policy over the whole body: ``act(states,
    rng)`` splits each state into the agents' observations, runs each agent's module
    deterministically, and joins their actions (for ``compare_policies``)."""

    def __init__(self, modules: dict[str, Any], factorisation: Factorisation, sharing: str):
        """``modules``: RLModule by module id (the agent's name, or ``"shared"``)."""
        self.factorisation, self.sharing = factorisation, sharing
        self.modules = {a: modules[module_id(a, sharing)] for a in factorisation.agents}
        self.width = max(s.shape[0] for s in factorisation.observation_spaces.values())

    @classmethod
    def from_algorithm(cls, algorithm: Any, factorisation: Factorisation, sharing: str
                       ) -> JointPolicy:
        ids = {module_id(a, sharing) for a in factorisation.agents}
        return cls({i: algorithm.get_module(i) for i in ids}, factorisation, sharing)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> JointPolicy:
        """The team of a ``dreamenv imagine --agent-conf`` checkpoint (its run directory's
        ``report.json`` says the factorisation and the policy sharing)."""
        from ray.rllib.core.rl_module.rl_module import RLModule

        path = Path(path).resolve()
        report = path.parent / "report.json"
        if not report.is_file():
            raise ValueError(f"{path}: a multi-agent checkpoint needs its run's report.json "
                             f"beside it ({report} is missing)")
        try:
            config = json.loads(report.read_text()).get("config", {})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ValueError(f"{report}: not a readable run report ({exc})") from None
        if not config.get("agent_conf"):
            raise ValueError(f"{report}: not a multi-agent run (no agent_conf)")
        sharing = config.get("policy_sharing", "per-agent")
        # The run's report holds its ImagineConfig: the task names the body MaMuJoCo splits.
        scenario = get_task(config.get("task", "hopper")).title
        factorisation = Factorisation.from_mamujoco(scenario, config["agent_conf"],
                                                    check_steps=0)
        root = path / "learner_group" / "learner" / "rl_module"
        modules = {}
        for module in {module_id(a, sharing) for a in factorisation.agents}:
            if not (root / module).is_dir():
                raise ValueError(f"{path}: no RLModule {module!r} under {root}")
            modules[module] = RLModule.from_checkpoint(str(root / module))
        return cls(modules, factorisation, sharing)

    def _input(self, agent: str, obs: np.ndarray) -> np.ndarray:
        if self.sharing != "shared":
            return obs
        agents = self.factorisation.agents
        return shared_input(obs, agents.index(agent), len(agents), self.width)

    def act(self, states: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        per_agent = self.factorisation.split_state(np.asarray(states, dtype=np.float64))
        actions = {}
        with torch.no_grad():
            for agent, module in self.modules.items():
                obs = torch.as_tensor(self._input(agent, per_agent[agent]), dtype=torch.float32)
                out = module.forward_inference({Columns.OBS: obs})
                dist = module.get_inference_action_dist_cls().from_logits(
                    out[Columns.ACTION_DIST_INPUTS])
                space = self.factorisation.action_spaces[agent]
                actions[agent] = np.clip(dist.to_deterministic().sample().numpy(), space.low,
                                         space.high)
        return self.factorisation.join_actions(actions, list(self.factorisation.agents),
                                               (len(states),)).astype(np.float32)


class _Row(MultiAgentEnv):
    """One episode's agents and spaces, for the parts of RLlib that ask a sub-env about them
    (it is never stepped on its own)."""

    def __init__(self, agents: list[str], observation_spaces: dict, action_spaces: dict):
        super().__init__()
        self.possible_agents, self.agents = list(agents), list(agents)
        self.observation_spaces, self.action_spaces = observation_spaces, action_spaces
        self.observation_space = gym.spaces.Dict(observation_spaces)
        self.action_space = gym.spaces.Dict(action_spaces)


class BatchedDreamMultiAgentEnv(VectorMultiAgentEnv):
    """RLlib's vector multi-agent env over one :class:`DreamParallelVecEnv`: per-row dicts in and
    out (``"__all__"`` added), ``NEXT_STEP`` autoreset as RLlib's ``SyncVectorMultiAgentEnv``; a
    row being reset may send no actions. ``config`` is the training ``env_config``."""

    def __init__(self, num_envs: int, config: dict):
        kwargs = {k: v for k, v in config.items() if k in DREAM_KEYS}
        self.vec = DreamParallelVecEnv(num_envs, config.get("scenario", "Hopper"),
                                       config.get("agent_conf", "3x1"), **kwargs)
        self.num_envs = self.vec.num_envs
        self.agents = list(self.vec.possible_agents)
        self.shared = config.get("policy_sharing", "per-agent") == "shared"
        self.width = max(self.vec.observation_space(a).shape[0] for a in self.agents)
        size = self.width + len(self.agents)
        self.single_observation_spaces = {
            a: (gym.spaces.Box(-np.inf, np.inf, (size,), np.float64) if self.shared
                else self.vec.observation_space(a)) for a in self.agents}
        self.single_action_spaces = {a: self.vec.action_space(a) for a in self.agents}
        if self.shared:
            check_shareable(self.single_action_spaces)
        self.single_observation_space = gym.spaces.Dict(self.single_observation_spaces)
        self.single_action_space = gym.spaces.Dict(self.single_action_spaces)
        self.observation_space, self.action_space = (self.single_observation_space,
                                                     self.single_action_space)
        self.envs = [_Row(self.agents, self.single_observation_spaces,
                          self.single_action_spaces) for _ in range(self.num_envs)]
        self.metadata = {"autoreset_mode": "next_step"}
        self._resetting = np.zeros(self.num_envs, dtype=bool)

    def _rows(self, obs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        if self.shared:
            obs = {a: shared_input(o, i, len(self.agents), self.width)
                   for i, (a, o) in enumerate(obs.items())}
        return [{a: obs[a][i] for a in self.agents} for i in range(self.num_envs)]

    def _info_rows(self, infos: dict[str, dict]) -> list[dict[str, dict]]:
        """The vector env's dict of arrays (``_key`` masks; a wrapper's keys may have none) as one
        info dict per row and agent."""
        info = infos[self.agents[0]]  # the same body info for every agent
        keys = [k for k in info if not k.startswith("_")]
        masks = {k: info.get(f"_{k}", np.ones(self.num_envs, dtype=bool)) for k in keys}
        rows = [{k: info[k][i] for k in keys if masks[k][i]} for i in range(self.num_envs)]
        return [{a: dict(row) for a in self.agents} for row in rows]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.vec.reset(seed=seed, options=options)
        self._resetting[:] = False
        return self._rows(obs), self._info_rows(infos)

    def step(self, actions: list[dict[str, Any]]):
        batch = {}
        for agent in self.agents:
            rows = []
            for i, row in enumerate(actions):
                if agent in row:
                    rows.append(np.asarray(row[agent], dtype=np.float64))
                elif self._resetting[i]:  # ignored by the autoreset
                    rows.append(np.zeros(self.single_action_spaces[agent].shape))
                else:
                    raise ValueError(f"row {i}: no action for live agent {agent}")
            batch[agent] = np.stack(rows)
        obs, rewards, terminations, truncations, infos = self.vec.step(batch)
        first = self.agents[0]
        self._resetting = terminations[first] | truncations[first]
        reward_rows = [{a: float(rewards[a][i]) for a in self.agents}
                       for i in range(self.num_envs)]
        done_rows = [[{**{a: bool(flags[a][i]) for a in self.agents},
                       "__all__": bool(flags[first][i])} for i in range(self.num_envs)]
                     for flags in (terminations, truncations)]
        return self._rows(obs), reward_rows, done_rows[0], done_rows[1], self._info_rows(infos)

    def close_extras(self, **kwargs: Any) -> None:
        if hasattr(self, "vec"):  # construction may have failed before it existed
            self.vec.close()


class BatchedEnvRunner(MultiAgentEnvRunner):
    """RLlib's multi-agent env runner, with its training envs batched into one model call per
    step (:class:`BatchedDreamMultiAgentEnv`); any other env (the real MaMuJoCo evaluation) is
    made as RLlib makes it. For the batched env, ``gym_env_vectorize_mode`` and RLlib's env
    checker do not apply (the env is tested against the single env row for row)."""

    def make_env(self) -> None:
        if self.config.env != MA_DREAM_ENV:
            return super().make_env()
        if self.env is not None:
            try:
                self.env.close()
            except Exception as exc:  # as RLlib's own: a broken old env must not stop a new one
                logger.warning(f"closing the old batched env failed: {exc}")
        context = EnvContext(dict(self.config.env_config), worker_index=self.worker_index,
                             num_workers=self.config.num_env_runners,
                             remote=self.config.remote_worker_envs)
        self.env = BatchedDreamMultiAgentEnv(self.config.num_envs_per_env_runner, context)
        self.num_envs = self.env.num_envs
        self._needs_initial_reset = True
        make_callback("on_environment_created", callbacks_objects=self._callbacks,
                      callbacks_functions=self.config.callbacks_on_environment_created,
                      kwargs=dict(env_runner=self, metrics_logger=self.metrics,
                                  env=self.env.unwrapped, env_context=context))
