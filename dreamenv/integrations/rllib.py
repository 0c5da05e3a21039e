"""RLlib: train in DyDiff-Hopper (the native vector env), evaluate in the real Hopper-v5.

Needs the ``rllib`` extra (``pip install -e ".[rllib]"``). :func:`register` registers two env
names with Ray Tune; :func:`algo_config` builds a PPO or SAC config on the new API stack whose
env runners make ``DreamVectorEnv`` through ``gym_env_vectorize_mode="vector_entry_point"`` (one
batched model call per step for all ``num_envs_per_env_runner`` envs) and whose evaluation env
runners step the real env, so every iteration reports both returns.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.tune.registry import register_env

from dreamenv.envs.vector import DreamVectorEnv
from dreamenv.integrations.timing import evaluation_ended, evaluation_started
from dreamenv.tasks import get_task
from dreamenv.wrappers import UncertaintyPenaltyVector

DREAM_ENV = "dreamenv-DyDiff"
REAL_ENV = "dreamenv-real"
ENV_KEYS = {"task", "model", "denoising_steps", "history", "history_noise", "precision",
            "sampling_temperature", "start",
            "dataset", "max_episode_steps", "device"}


def make_dream_env(config: dict) -> gym.vector.VectorEnv:
    """RLlib env creator: ``config`` holds ``num_envs`` (from RLlib), :class:`DreamVectorEnv`'s
    keyword arguments, and ``uncertainty_penalty`` (MOPO's lambda, 0 for none)."""
    kwargs = {k: v for k, v in config.items() if k in ENV_KEYS}
    env = DreamVectorEnv(num_envs=int(config.get("num_envs", 1)), **kwargs)
    penalty = float(config.get("uncertainty_penalty", 0.0))
    return UncertaintyPenaltyVector(env, penalty) if penalty else env


def make_real_env(config: dict) -> gym.vector.VectorEnv:
    """The real env for evaluation. RLlib deep-merges the training ``env_config`` into the
    evaluation config, so every model option in it is ignored here on purpose."""
    task = get_task(config.get("task", "hopper"))
    limit = config.get("max_episode_steps", task.max_episode_steps)
    return gym.make_vec(task.env_id, num_envs=int(config.get("num_envs", 1)),
                        vectorization_mode="sync",
                        max_episode_steps=None if limit is None else int(limit))


def register() -> None:
    """Register both env names with Ray Tune (every Ray worker process does this itself when it
    unpickles the creators)."""
    register_env(DREAM_ENV, make_dream_env)
    register_env(REAL_ENV, make_real_env)


def algo_config(algo: str, env_config: dict, num_envs: int = 16, num_env_runners: int = 0,
                eval_episodes: int = 5, seed: int = 0,
                iteration_seconds: float = 0.0) -> AlgorithmConfig:
    """A PPO or SAC config: train in DyDiff, evaluate ``eval_episodes`` real episodes at every
    iteration. Hyperparameters follow RLlib's MuJoCo examples, scaled to a 2-core machine.
    ``iteration_seconds`` makes each iteration train at least that long, so that the real-env
    evaluation (seconds per episode) does not dominate short SAC iterations."""
    register()
    task = get_task(env_config.get("task", "hopper"))
    # The real env's own time limit, whatever the training env's episodes are cut at.
    real_config = {"task": task.name, "max_episode_steps": task.max_episode_steps}
    config = (training_config(algo)
              .environment(DREAM_ENV, env_config=dict(env_config))
              .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs,
                           gym_env_vectorize_mode="vector_entry_point"))
    return evaluated_in_real_env(config, REAL_ENV, real_config, eval_episodes, seed,
                                 iteration_seconds)


def evaluated_in_real_env(config: AlgorithmConfig, real_env: str, real_config: dict,
                          eval_episodes: int, seed: int, iteration_seconds: float
                          ) -> AlgorithmConfig:
    """``eval_episodes`` deterministic episodes of ``real_env`` after every iteration."""
    return (config
            .evaluation(evaluation_interval=1, evaluation_duration=eval_episodes,
                        evaluation_duration_unit="episodes", evaluation_num_env_runners=0,
                        evaluation_config=AlgorithmConfig.overrides(
                            env=real_env, env_config=real_config,
                            num_envs_per_env_runner=1, explore=False))
            .reporting(min_time_s_per_iteration=iteration_seconds or None)
            .callbacks(on_evaluate_start=evaluation_started, on_evaluate_end=evaluation_ended)
            .debugging(seed=seed))


def training_config(algo: str, multi_agent: bool = False) -> AlgorithmConfig:
    """PPO or SAC with the hyperparameters of RLlib's MuJoCo examples, scaled to a 2-core
    machine; ``multi_agent`` picks SAC's multi-agent replay buffer."""
    if algo.upper() == "PPO":
        return (PPOConfig()
                .training(lr=3e-4, gamma=0.99, lambda_=0.95, clip_param=0.2, num_epochs=10,
                          minibatch_size=256, train_batch_size_per_learner=4096,
                          vf_clip_param=10_000.0, entropy_coeff=0.0)
                .rl_module(model_config={"fcnet_hiddens": [64, 64],
                                         "fcnet_activation": "tanh", "vf_share_layers": False}))
    if algo.upper() == "SAC":
        buffer = ("MultiAgentPrioritizedEpisodeReplayBuffer" if multi_agent
                  else "PrioritizedEpisodeReplayBuffer")
        return (SACConfig()
                .training(actor_lr=3e-4, critic_lr=1e-3, alpha_lr=3e-4, gamma=0.99, tau=0.005,
                          train_batch_size_per_learner=256,
                          num_steps_sampled_before_learning_starts=5000,
                          replay_buffer_config={"type": buffer, "capacity": 1_000_000,
                                                "alpha": 0.0, "beta": 0.0})
                .rl_module(model_config={"fcnet_hiddens": [256, 256]}))
    raise ValueError(f"algo must be PPO or SAC, got {algo!r}")


class RLlibPolicy:
    """An RLlib module as a dreamenv policy: ``act(obs, rng)`` gives its deterministic action."""

    def __init__(self, module: RLModule, low: np.ndarray, high: np.ndarray):
        self.module, self.low, self.high = module, low, high
        self.dist_cls = module.get_inference_action_dist_cls()

    @classmethod
    def from_checkpoint(cls, path: str | Path, task: str = "hopper") -> RLlibPolicy:
        """Load the policy of an RLlib checkpoint (an algorithm checkpoint directory)."""
        path = Path(path).resolve()  # RLlib reads a relative path as a URI without a scheme
        module_dir = path / "learner_group" / "learner" / "rl_module" / "default_policy"
        if not module_dir.is_dir():
            raise ValueError(f"{path}: not an RLlib algorithm checkpoint (no {module_dir.name} "
                             "module under learner_group/learner/rl_module)")
        space = gym.make(get_task(task).env_id).action_space
        return cls(RLModule.from_checkpoint(str(module_dir)), space.low, space.high)

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        with torch.no_grad():
            out = self.module.forward_inference(
                {Columns.OBS: torch.as_tensor(np.asarray(obs), dtype=torch.float32)})
            dist = self.dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
            action = dist.to_deterministic().sample().numpy()
        return np.clip(action, self.low, self.high).astype(np.float32)
