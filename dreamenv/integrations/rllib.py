"""RLlib: train in DyDiff-Hopper (the native vector env), evaluate in the real Hopper-v5.

Needs the ``rllib`` extra (``pip install -e ".[rllib]"``). :func:`register` registers two env
names with Ray Tune; :func:`algo_config` builds a PPO or SAC config on the new API stack whose
env runners make ``DreamVectorEnv`` through ``gym_env_vectorize_mode="vector_entry_point"`` (one
batched model call per step for all ``num_envs_per_env_runner`` envs) and whose evaluation env
runners step the real env, so every iteration reports both returns.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers.utils import RunningMeanStd
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.tune.registry import register_env

from dreamenv.envs.vector import DreamVectorEnv
from dreamenv.tasks import get_task
from dreamenv.wrappers import UncertaintyPenaltyVector

if TYPE_CHECKING:
    from dreamenv.integrations.imagine_config import ImagineConfig

DREAM_ENV = "dreamenv-DyDiff"
REAL_ENV = "dreamenv-real"
OBSERVATION_NORM_FILE = "dreamenv_observation_norm.json"
ENV_KEYS = {"task", "model", "denoising_steps", "history", "history_noise", "precision",
            "sampling_temperature", "start",
            "dataset", "max_episode_steps", "device"}


def make_dream_env(config: dict) -> gym.vector.VectorEnv:
    """RLlib env creator: ``config`` holds ``num_envs`` (from RLlib), :class:`DreamVectorEnv`'s
    keyword arguments, ``uncertainty_penalty`` (MOPO's lambda, 0 for none), ``reward_scale``
    (the agent trains on reward times it) and ``observation_norm`` (see
    :func:`observation_norm`; absent: raw observations), or instead of the last two
    ``running_normalization_gamma``: rewards scaled by the running spread of the return
    discounted by it (Gymnasium's ``NormalizeReward``) and observations standardised by their
    running statistics (:class:`RunningObservationNorm`)."""
    kwargs = {k: v for k, v in config.items() if k in ENV_KEYS}
    env: gym.vector.VectorEnv = DreamVectorEnv(num_envs=int(config.get("num_envs", 1)),
                                               **kwargs)
    penalty = float(config.get("uncertainty_penalty", 0.0))
    if penalty:
        env = UncertaintyPenaltyVector(env, penalty)
    gamma = config.get("running_normalization_gamma")
    if gamma is not None:
        if "reward_scale" in config or "observation_norm" in config:
            raise ValueError("running_normalization_gamma replaces reward_scale and "
                             "observation_norm; give one or the other")
        # RLlib's episode returns are of the normalised reward: the env's own are kept below it.
        env = gym.wrappers.vector.RecordEpisodeStatistics(env, buffer_length=100)
        return RunningObservationNorm(gym.wrappers.vector.NormalizeReward(env, gamma=gamma))
    scale = float(config.get("reward_scale", 1.0))
    if scale != 1.0:
        env = gym.wrappers.vector.TransformReward(env, functools.partial(np.multiply, scale))
    return _normalized(env, config.get("observation_norm"))


def make_real_env(config: dict) -> gym.vector.VectorEnv:
    """The real env for evaluation. RLlib deep-merges the training ``env_config`` into the
    evaluation config, so every model option in it is ignored here on purpose."""
    task = get_task(config.get("task", "hopper"))
    limit = config.get("max_episode_steps", task.max_episode_steps)
    env = gym.make_vec(task.env_id, num_envs=int(config.get("num_envs", 1)),
                       vectorization_mode="sync",
                       max_episode_steps=None if limit is None else int(limit))
    # The agent sees what it saw in training: the learned env's observation normalisation
    # (RLlib merges it in with the rest of env_config), never its reward scale.
    return _normalized(env, config.get("observation_norm"))


def observation_norm(model: str | Path | None, task: str) -> dict:
    """``{"mean": [...], "std": [...]}``: the state statistics of the data the dynamics model
    (a checkpoint directory, ``None`` for the task's shipped one; of an ensemble
    ``"DIR1+DIR2"``, the first) learned. Fixed for a whole run, unlike a running filter, so the
    real env and a reloaded policy apply the very same map."""
    from dreamenv.envs.core import checkpoint_members
    from dreamenv.models import pretrained_path
    from dreamenv.models.checkpoint import read_config

    path = Path(checkpoint_members(model)[0]) if model else pretrained_path(task)
    norms = read_config(path)["normalization"]["model"]
    if "state_norm.mean" not in norms:
        raise ValueError(f"{path}: a {read_config(path)['kind']} model keeps no state "
                         "statistics to normalise observations with")
    return {"mean": norms["state_norm.mean"], "std": norms["state_norm.std"]}


def read_observation_norm(checkpoint: Path) -> dict:
    """The observation normalisation saved beside a checkpoint (``mean`` and ``std`` as float64
    arrays, and the running ``count`` where one was kept); a missing or malformed file is
    refused in one line that names it."""
    norm_file = Path(checkpoint) / OBSERVATION_NORM_FILE
    try:
        saved = json.loads(norm_file.read_text())
        norm = {k: np.asarray(saved[k], dtype=np.float64) for k in ("mean", "std")}
        if "count" in saved:
            norm["count"] = float(saved["count"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{norm_file}: not an observation normalisation ({e})") from None
    return norm


def _standardize(mean: np.ndarray, std: np.ndarray, obs: np.ndarray) -> np.ndarray:
    return np.clip((obs - mean) / std, -10.0, 10.0).astype(np.float32)


def standardizer(norm: dict) -> functools.partial:
    """The map ``obs -> clip((obs - mean) / std, -10, 10)`` of an :func:`observation_norm`
    (picklable, for Ray's env creators)."""
    mean, std = (np.asarray(norm[k], dtype=np.float64) for k in ("mean", "std"))
    if std.shape != mean.shape:
        raise ValueError(f"observation_norm: mean of shape {mean.shape}, std of {std.shape}")
    return functools.partial(_standardize, mean, np.maximum(std, 1e-6))


def _normalized(env: gym.vector.VectorEnv, norm: dict | None) -> gym.vector.VectorEnv:
    if not norm:
        return env
    standardize, shape = standardizer(norm), np.shape(norm["mean"])
    if shape != env.single_observation_space.shape:
        raise ValueError(f"observation_norm has shape {shape}, the env's observations "
                         f"{env.single_observation_space.shape}")
    space = gym.spaces.Box(-10.0, 10.0, shape, np.float32)
    return gym.wrappers.vector.TransformObservation(
        env, standardize, gym.vector.utils.batch_space(space, env.num_envs),
        single_observation_space=space)


class RunningObservationNorm(gym.vector.VectorObservationWrapper):
    """Observations standardised by the running mean and variance of every observation seen
    so far, updated at each step and reset (SB3's ``VecNormalize``, CleanRL's PPO), clipped to
    ±10 as :func:`standardizer` clips. The map moves as the agent visits new states, so the
    policy is saved with the map as it stood (:attr:`norm`), which the real env then applies
    fixed."""

    def __init__(self, env: gym.vector.VectorEnv, epsilon: float = 1e-8):
        super().__init__(env)
        shape = env.single_observation_space.shape
        self.rms = RunningMeanStd(shape=shape)
        self.epsilon = epsilon
        self.single_observation_space = gym.spaces.Box(-10.0, 10.0, shape, np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                              env.num_envs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        self.rms.update(np.asarray(observations, dtype=np.float64))
        return _standardize(self.rms.mean, np.sqrt(self.rms.var + self.epsilon), observations)

    @property
    def norm(self) -> dict:
        """The map now, in :func:`observation_norm`'s form (with the count it rests on)."""
        return {"mean": self.rms.mean.tolist(),
                "std": np.sqrt(self.rms.var + self.epsilon).tolist(),
                "count": float(self.rms.count)}

    def load(self, norm: dict) -> None:
        """Carry on from a saved :attr:`norm` (a resumed run)."""
        mean, std = (np.asarray(norm[k], dtype=np.float64) for k in ("mean", "std"))
        if mean.shape != self.rms.mean.shape or std.shape != mean.shape:
            raise ValueError(f"observation norm of shape {mean.shape}, the env's observations "
                             f"{self.rms.mean.shape}")
        self.rms.mean, self.rms.var = mean, np.maximum(std**2 - self.epsilon, 0.0)
        self.rms.count = float(norm.get("count", 1e4))


def running_statistics(algorithm, load: dict | None = None) -> tuple[dict, float]:
    """``(norm, imagined_return)`` of the algorithm's sampling env under running normalisation
    (the first env runner's that has one): its :attr:`RunningObservationNorm.norm`, and the
    mean return, in the env's own reward, of its last 100 episodes (NaN before the first
    ends). With ``load``, every runner's map is first set to it."""
    def visit(runner) -> tuple[dict, float] | None:
        env = _inner(getattr(runner, "env", None), RunningObservationNorm)
        if env is None:
            return None
        if load is not None:
            env.load(load)
        returns = _inner(env, gym.wrappers.vector.RecordEpisodeStatistics).return_queue
        return env.norm, float(np.mean(returns)) if returns else float("nan")

    found = [stats for stats in algorithm.env_runner_group.foreach_env_runner(visit) if stats]
    if not found:
        raise RuntimeError("no env runner samples behind a RunningObservationNorm: the env "
                           "config lacks running_normalization_gamma")
    return found[0]


def _inner(env: gym.vector.VectorEnv | None, kind: type) -> gym.vector.VectorEnv | None:
    """The first wrapper of ``kind`` in the chain from ``env`` inwards (None if none)."""
    while env is not None and not isinstance(env, kind):
        env = getattr(env, "env", None)
    return env


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
    """``eval_episodes`` deterministic episodes of ``real_env`` after every iteration, by
    RLlib's own evaluation (``result["evaluation"]``); none with ``eval_episodes=0`` (the main
    job evaluates by itself, batched: :class:`~dreamenv.integrations.validation.RealScore`)."""
    if eval_episodes:
        config = config.evaluation(
            evaluation_interval=1, evaluation_duration=eval_episodes,
            evaluation_duration_unit="episodes", evaluation_num_env_runners=0,
            evaluation_config=AlgorithmConfig.overrides(
                env=real_env, env_config=real_config, num_envs_per_env_runner=1, explore=False))
    return (config
            .reporting(min_time_s_per_iteration=iteration_seconds or None)
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


def learner_options(config: AlgorithmConfig, cfg: ImagineConfig) -> None:
    """Apply the run's learner options to an RLlib ``AlgorithmConfig`` (in place): the discount
    and gradient clipping for both algorithms, PPO's batch shape, loss and networks."""
    for name, value, ok in (("gamma", cfg.gamma, 0 < cfg.gamma <= 1),
                            ("gae-lambda", cfg.gae_lambda, 0 <= cfg.gae_lambda <= 1),
                            ("ppo-clip", cfg.ppo_clip, cfg.ppo_clip > 0),
                            ("ppo-vf-coeff", cfg.ppo_vf_coeff, cfg.ppo_vf_coeff >= 0),
                            ("ppo-hidden", cfg.ppo_hidden, cfg.ppo_hidden >= 1)):
        if not ok:
            raise ValueError(f"--{name} {value} is out of range (gamma in (0, 1], gae-lambda "
                             "in [0, 1], ppo-clip > 0, ppo-vf-coeff >= 0, ppo-hidden >= 1)")
    config.training(gamma=cfg.gamma)
    if cfg.grad_clip is not None:
        if not cfg.grad_clip > 0:
            raise ValueError(f"--grad-clip must be positive, got {cfg.grad_clip}")
        config.training(grad_clip=cfg.grad_clip, grad_clip_by="global_norm")
    if cfg.algo.upper() != "PPO":
        return
    if cfg.ppo_activation not in ("tanh", "relu", "silu"):
        raise ValueError(f"--ppo-activation must be tanh, relu or silu, got "
                         f"{cfg.ppo_activation!r}")
    config.training(train_batch_size_per_learner=cfg.ppo_batch,
                    minibatch_size=cfg.ppo_minibatch, num_epochs=cfg.ppo_epochs,
                    lambda_=cfg.gae_lambda, clip_param=cfg.ppo_clip,
                    vf_loss_coeff=cfg.ppo_vf_coeff)
    config.rl_module(model_config={"fcnet_hiddens": [cfg.ppo_hidden] * 2,
                                   "fcnet_activation": cfg.ppo_activation,
                                   "vf_share_layers": False,
                                   "free_log_std": cfg.ppo_log_std_init is not None})


def start_log_std(algorithm, value: float) -> None:
    """Set every policy's free log-std parameter to ``value`` (RLlib starts it at 0) and send
    the weights to the env runners; called once, on a fresh run."""
    def fill(learner) -> None:
        with torch.no_grad():
            for module in learner.module.values():
                module.pi.log_std.fill_(value)

    algorithm.learner_group.foreach_learner(fill)
    algorithm.env_runner_group.sync_weights(
        from_worker_or_learner_group=algorithm.learner_group, inference_only=True)


class RLlibPolicy:
    """An RLlib module as a dreamenv policy: ``act(obs, rng)`` gives its deterministic action.
    ``observation_norm`` (:func:`observation_norm`) is the map the module was trained behind;
    ``act`` takes raw observations and applies it."""

    def __init__(self, module: RLModule, low: np.ndarray, high: np.ndarray,
                 observation_norm: dict | None = None):
        self.module, self.low, self.high = module, low, high
        self.dist_cls = module.get_inference_action_dist_cls()
        self.standardize = standardizer(observation_norm) if observation_norm else None

    @classmethod
    def from_checkpoint(cls, path: str | Path, task: str = "hopper") -> RLlibPolicy:
        """Load the policy of an RLlib checkpoint (an algorithm checkpoint directory)."""
        path = Path(path).resolve()  # RLlib reads a relative path as a URI without a scheme
        module_dir = path / "learner_group" / "learner" / "rl_module" / "default_policy"
        if not module_dir.is_dir():
            raise ValueError(f"{path}: not an RLlib algorithm checkpoint (no {module_dir.name} "
                             "module under learner_group/learner/rl_module)")
        env = gym.make(get_task(task).env_id)
        norm_file, norm = path / OBSERVATION_NORM_FILE, None
        if norm_file.is_file():
            norm = read_observation_norm(path)
            if any(norm[k].shape != env.observation_space.shape for k in ("mean", "std")):
                raise ValueError(f"{norm_file}: normalises observations of shape "
                                 f"{norm['mean'].shape}, {env.spec.id}'s are "
                                 f"{env.observation_space.shape}")
        space = env.action_space
        return cls(RLModule.from_checkpoint(str(module_dir)), space.low, space.high, norm)

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        obs = np.asarray(obs)
        if self.standardize is not None:
            obs = self.standardize(obs)
        if self.module.training:
            # Once: RLlib's forward_inference walks the whole module tree to set eval mode on
            # every call, which costs more than the forward pass of a small policy. Its own
            # sampling and training set the mode they need themselves.
            self.module.eval()
        with torch.no_grad():
            out = self.module._forward_inference(
                {Columns.OBS: torch.as_tensor(np.asarray(obs), dtype=torch.float32)})
            dist = self.dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
            action = dist.to_deterministic().sample().numpy()
        return np.clip(action, self.low, self.high).astype(np.float32)
