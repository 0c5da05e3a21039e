"""Soft Actor-Critic on the real MuJoCo env: trains the behaviour policies the datasets come from.

Reads top to bottom like CleanRL's ``sac_continuous_action.py`` (one env, one update per env step,
twin critics, learned temperature), plus what the datasets need:

* every transition goes into a replay buffer that also keeps the simulator state (qpos, qvel), and
  the whole buffer is saved: it *is* the ``<task>-full-replay`` dataset (``hopper-full-replay``),
  and its prefix up to the medium snapshot is ``<task>-medium-replay``;
* every ``eval_every`` steps the actor is evaluated in the real env and saved as a snapshot, so the
  ``medium`` policy can be picked afterwards as a snapshot at a third to a half of the expert's return;
* periodic atomic checkpoints (networks, optimisers, RNG and simulator state) that resume exactly
  where the run stopped: an interrupted run continues to the same result as an uninterrupted one.
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

from dreamenv._progress import progress
from dreamenv.behaviour.policy import ActorPolicy, TanhGaussianActor, q_network, save_actor
from dreamenv.behaviour.replay import (ReplayBuffer, claim_run, load_checkpoint, run_file,
                                      soft_update)
from dreamenv.behaviour.replay import save_checkpoint as _checkpoint
from dreamenv.datasets.rollout import evaluate_returns
from dreamenv.tasks import Task

__all__ = ["SACConfig", "behaviour_sac_config", "run_file", "train_sac"]

@dataclass
class SACConfig:
    """Hyper-parameters of the behaviour-policy run (Haarnoja et al. 2018 defaults)."""

    env_id: str = "Hopper-v5"
    seed: int = 1
    total_steps: int = 300_000
    """Env steps; 300k fits in about an hour on one core of the reference machine."""
    learning_starts: int = 5_000
    """Uniform-random steps before learning; they are part of the full-replay dataset."""
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    policy_lr: float = 3e-4
    q_lr: float = 1e-3
    hidden: int = 256
    eval_every: int = 2_500
    """Steps between evaluations/snapshots; Hopper's return can jump 3x within 10k steps, so
    snapshots must be dense for one to land in the medium band."""
    eval_episodes: int = 5
    checkpoint_every: int = 25_000


def behaviour_sac_config(task: Task) -> SACConfig:
    """The run a task's behaviour policies and replay datasets come from: ``SACConfig`` defaults
    with the task's env and length (``dreamenv behaviour train --env-id ENV --total-steps N``)."""
    return SACConfig(env_id=task.env_id, total_steps=task.behaviour_steps)


def train_sac(cfg: SACConfig, run_dir: str | Path, stop_at: int | None = None) -> dict:
    """Train (or resume) a SAC run in ``run_dir``; returns the evaluation log.

    ``stop_at`` pauses the run at that step with a checkpoint (the medium-replay dataset needs
    only the first 45k steps); resuming later continues to the same result as one whole run,
    since nothing before a step depends on ``total_steps``."""
    run_dir = Path(run_dir)
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    claim = claim_run(run_dir, "SAC")  # noqa: F841 (held until this function returns)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env = gym.make(cfg.env_id)
    obs, _ = env.reset(seed=cfg.seed)
    env.action_space.seed(cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]

    actor = TanhGaussianActor(obs_dim, act_dim, (cfg.hidden, cfg.hidden))
    q1, q2 = q_network(obs_dim, act_dim, cfg.hidden), q_network(obs_dim, act_dim, cfg.hidden)
    q1_target, q2_target = copy.deepcopy(q1), copy.deepcopy(q2)
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.q_lr)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.policy_lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=cfg.q_lr)
    buffer = ReplayBuffer(cfg.total_steps, env)
    modules = {"actor": actor, "q1": q1, "q2": q2, "q1_target": q1_target,
               "q2_target": q2_target, "q_opt": q_opt, "actor_opt": actor_opt,
               "alpha_opt": alpha_opt}
    evals: list[dict] = []
    episode_return, step = 0.0, 0

    # 1. Resume from the last checkpoint, if any: networks, optimisers, buffer, RNGs, simulator.
    restored = load_checkpoint(run_dir, cfg, buffer, env, rng)
    if restored is not None:
        tensors, state = restored
        for name, module in modules.items():
            module.load_state_dict(tensors[name])
        with torch.no_grad():
            log_alpha.copy_(tensors["log_alpha"])
        step, episode_return, evals = state["step"], state["episode_return"], state["evals"]
        obs = state["obs"]

    start_time = time.time()
    end = cfg.total_steps if stop_at is None else min(stop_at, cfg.total_steps)
    bar = progress(total=end, initial=min(step, end), desc="SAC", unit="step")
    while step < end:
        # 2. Act: uniform random at first, then the current stochastic actor.
        if step < cfg.learning_starts:
            action = rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                a, _ = actor.sample(torch.as_tensor(obs, dtype=torch.float32)[None])
            action = a[0].numpy()
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

        # 3. Learn: one gradient step on critics, actor and temperature per env step.
        if step >= cfg.learning_starts:
            batch = buffer.sample(rng.integers(0, buffer.size, cfg.batch_size))
            alpha = log_alpha.exp().detach()
            with torch.no_grad():
                next_a, next_logp = actor.sample(batch["next_observations"])
                next_sa = torch.cat([batch["next_observations"], next_a], -1)
                next_q = torch.min(q1_target(next_sa), q2_target(next_sa)).squeeze(-1)
                # Only true terminations stop bootstrapping; time-limit truncations do not.
                target = batch["rewards"] + cfg.gamma * (1 - batch["terminals"]) * (
                    next_q - alpha * next_logp)
            sa = torch.cat([batch["observations"], batch["actions"]], -1)
            q_loss = F.mse_loss(q1(sa).squeeze(-1), target) + F.mse_loss(
                q2(sa).squeeze(-1), target)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()

            new_a, logp = actor.sample(batch["observations"])
            new_sa = torch.cat([batch["observations"], new_a], -1)
            actor_loss = (alpha * logp - torch.min(q1(new_sa), q2(new_sa)).squeeze(-1)).mean()
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()

            alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
            alpha_opt.zero_grad()
            alpha_loss.backward()
            alpha_opt.step()

            soft_update(((q1, q1_target), (q2, q2_target)), cfg.tau)

        # 4. Evaluate and snapshot the actor: the medium policy is chosen from these.
        if step % cfg.eval_every == 0:
            returns = evaluate_returns(ActorPolicy(actor), cfg.env_id, cfg.eval_episodes,
                                       seed=10_000 + step)
            record = {"step": step, "return_mean": float(returns.mean()),
                      "return_std": float(returns.std()),
                      "wall_s": round(time.time() - start_time, 1)}
            evals.append(record)
            save_actor(actor, run_dir / "snapshots" / f"step_{step:07d}.safetensors",
                       cfg.env_id, step=step, return_mean=record["return_mean"])
            bar.write(json.dumps(record))

        # 5. Checkpoint atomically (state first, then the JSON that says it is complete).
        if step % cfg.checkpoint_every == 0 or step == end:
            tensors = {name: m.state_dict() for name, m in modules.items()}
            _checkpoint(run_dir, cfg, {**tensors, "log_alpha": log_alpha.detach().clone()},
                        buffer, env, rng, obs, step, episode_return, evals)
    bar.close()
    env.close()
    return {"config": asdict(cfg), "evals": evals}
