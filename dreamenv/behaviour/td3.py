"""TD3 on the real MuJoCo env: trains the independent policy family the models are judged on.

Reads top to bottom like CleanRL's ``td3_continuous_action.py`` (Fujimoto et al. 2018: twin
critics with clipped double-Q, target-policy smoothing, delayed actor updates, Gaussian
exploration noise). It exists so that the project can evaluate its dynamics models on policies
that come from another algorithm and another seed than the SAC behaviour policies whose data the
models learn: a TD3 gait differs from a SAC gait, and none of its transitions is in any dataset.

Like the SAC run it snapshots the actor every ``eval_every`` steps with its measured return (the
family is graded by snapshot) and checkpoints atomically so that an interrupted run resumes
exactly (``dreamenv.behaviour.replay``).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dreamenv._progress import progress
from dreamenv.behaviour.policy import (
    ActorPolicy,
    TanhDeterministicActor,
    q_network,
    save_actor,
)
from dreamenv.behaviour.replay import ReplayBuffer, claim_run, load_checkpoint, soft_update
from dreamenv.behaviour.replay import save_checkpoint as _checkpoint
from dreamenv.datasets.rollout import evaluate_returns


@dataclass
class TD3Config:
    """Hyper-parameters of a TD3 run (the paper's, with CleanRL's 256-wide networks)."""

    env_id: str = "Hopper-v5"
    seed: int = 3
    """Not 1 or 2: those seeds made the behaviour and ``other`` SAC policies."""
    total_steps: int = 250_000
    learning_starts: int = 10_000
    """Uniform-random steps before learning."""
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    lr: float = 3e-4
    exploration_noise: float = 0.1
    policy_noise: float = 0.2
    """Std of the target-policy smoothing noise, clipped to ``noise_clip``."""
    noise_clip: float = 0.5
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""
    hidden: int = 256
    eval_every: int = 5_000
    eval_episodes: int = 5
    checkpoint_every: int = 25_000


def critic_loss(batch: dict[str, torch.Tensor], q1: nn.Module, q2: nn.Module,
                q1_target: nn.Module, q2_target: nn.Module, actor_target: nn.Module,
                gamma: float, policy_noise: float, noise_clip: float) -> torch.Tensor:
    """TD3's critic loss on a batch (``observations``, ``actions``, ``rewards``,
    ``next_observations``, ``terminals``): both critics regress onto the clipped double-Q target
    of the smoothed target action. TD3+BC uses it unchanged."""
    with torch.no_grad():
        # Target-policy smoothing: clipped noise on the target action.
        smoothing = (torch.randn(batch["actions"].shape) * policy_noise).clamp(
            -noise_clip, noise_clip)
        next_a = (actor_target(batch["next_observations"]) + smoothing).clamp(-1, 1)
        next_sa = torch.cat([batch["next_observations"], next_a], -1)
        next_q = torch.min(q1_target(next_sa), q2_target(next_sa)).squeeze(-1)
        # Only true terminations stop bootstrapping; time-limit truncations do not.
        target = batch["rewards"] + gamma * (1 - batch["terminals"]) * next_q
    sa = torch.cat([batch["observations"], batch["actions"]], -1)
    return F.mse_loss(q1(sa).squeeze(-1), target) + F.mse_loss(q2(sa).squeeze(-1), target)


def train_td3(cfg: TD3Config, run_dir: str | Path) -> dict:
    """Train (or resume) a TD3 run in ``run_dir``; returns the evaluation log."""
    run_dir = Path(run_dir)
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    claim = claim_run(run_dir, "TD3")  # noqa: F841 (held until this function returns)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env = gym.make(cfg.env_id)
    obs, _ = env.reset(seed=cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]

    actor = TanhDeterministicActor(obs_dim, act_dim, (cfg.hidden, cfg.hidden))
    q1, q2 = q_network(obs_dim, act_dim, cfg.hidden), q_network(obs_dim, act_dim, cfg.hidden)
    actor_target, q1_target, q2_target = (copy.deepcopy(m) for m in (actor, q1, q2))
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.lr)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr)
    buffer = ReplayBuffer(cfg.total_steps, env)
    modules = {"actor": actor, "q1": q1, "q2": q2, "actor_target": actor_target,
               "q1_target": q1_target, "q2_target": q2_target, "q_opt": q_opt,
               "actor_opt": actor_opt}
    evals: list[dict] = []
    episode_return, step = 0.0, 0

    # 1. Resume from the last checkpoint, if any: networks, optimisers, buffer, RNGs, simulator.
    restored = load_checkpoint(run_dir, cfg, buffer, env, rng)
    if restored is not None:
        tensors, state = restored
        for name, module in modules.items():
            module.load_state_dict(tensors[name])
        step, episode_return, evals = state["step"], state["episode_return"], state["evals"]
        obs = state["obs"]

    start_time = time.time()
    bar = progress(total=cfg.total_steps, initial=step, desc="TD3", unit="step")
    while step < cfg.total_steps:
        # 2. Act: uniform random at first, then the actor plus Gaussian exploration noise.
        if step < cfg.learning_starts:
            action = rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                mean = actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
            noise = cfg.exploration_noise * rng.standard_normal(act_dim)
            action = np.clip(mean + noise, -1.0, 1.0).astype(np.float32)
        qpos, qvel = env.unwrapped.data.qpos.copy(), env.unwrapped.data.qvel.copy()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(observations=obs, actions=action, next_observations=next_obs,
                   rewards=reward, terminals=terminated, timeouts=truncated,
                   infos__qpos=qpos, infos__qvel=qvel)
        episode_return += reward
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
            bar.set_postfix(ret=f"{episode_return:.0f}")
            episode_return = 0.0
        step += 1
        bar.update(1)

        # 3. Learn: a critic step every env step; actor and targets every `policy_delay` steps.
        if step >= cfg.learning_starts:
            batch = buffer.sample(rng.integers(0, buffer.size, cfg.batch_size))
            q_loss = critic_loss(batch, q1, q2, q1_target, q2_target, actor_target, cfg.gamma,
                                 cfg.policy_noise, cfg.noise_clip)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()

            if step % cfg.policy_delay == 0:
                new_sa = torch.cat([batch["observations"], actor(batch["observations"])], -1)
                actor_loss = -q1(new_sa).mean()
                actor_opt.zero_grad()
                actor_loss.backward()
                actor_opt.step()
                soft_update(((actor, actor_target), (q1, q1_target), (q2, q2_target)), cfg.tau)

        # 4. Evaluate and snapshot the actor: the family is graded by these snapshots.
        if step % cfg.eval_every == 0:
            returns = evaluate_returns(ActorPolicy(actor), cfg.env_id, cfg.eval_episodes,
                                       seed=10_000 + step)
            record = {"step": step, "return_mean": float(returns.mean()),
                      "return_std": float(returns.std()),
                      "wall_s": round(time.time() - start_time, 1)}
            evals.append(record)
            save_actor(actor, run_dir / "snapshots" / f"step_{step:07d}.safetensors",
                       cfg.env_id, step=step, return_mean=record["return_mean"],
                       algo="TD3", seed=cfg.seed)
            bar.write(json.dumps(record))

        # 5. Checkpoint atomically (state first, then the JSON that says it is complete).
        if step % cfg.checkpoint_every == 0 or step == cfg.total_steps:
            tensors = {name: m.state_dict() for name, m in modules.items()}
            _checkpoint(run_dir, cfg, tensors, buffer, env, rng, obs, step, episode_return,
                        evals)
    bar.close()
    env.close()
    return {"config": asdict(cfg), "evals": evals}
