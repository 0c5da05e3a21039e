"""Soft Actor-Critic on the real MuJoCo env: trains the behaviour policies the datasets come from.

Reads top to bottom like CleanRL's ``sac_continuous_action.py`` (one env, one update per env step,
twin critics, learned temperature), plus what the datasets need:

* every transition goes into a replay buffer that also keeps the simulator state (qpos, qvel), and
  the whole buffer is saved: it *is* the ``hopper-full-replay`` dataset, and its prefix up to the
  medium snapshot is ``hopper-medium-replay``;
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
from torch import nn

from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.behaviour.policy import ActorPolicy, TanhGaussianActor, save_actor
from dreamenv.datasets.rollout import evaluate_returns

BUFFER_KEYS = ("observations", "actions", "next_observations", "rewards", "terminals",
               "timeouts", "infos/qpos", "infos/qvel")


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


def _critic(obs_dim: int, act_dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(obs_dim + act_dim, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class _Buffer:
    """Preallocated D4RL-layout arrays; row ``i`` is the ``i``-th env step of the run."""

    def __init__(self, capacity: int, env: gym.Env):
        obs_dim = env.observation_space.shape[0]
        act_dim = env.action_space.shape[0]
        nq, nv = env.unwrapped.model.nq, env.unwrapped.model.nv
        shapes = {"observations": (obs_dim,), "actions": (act_dim,),
                  "next_observations": (obs_dim,), "rewards": (), "terminals": (),
                  "timeouts": (), "infos/qpos": (nq,), "infos/qvel": (nv,)}
        dtypes = {"terminals": bool, "timeouts": bool, "infos/qpos": np.float64,
                  "infos/qvel": np.float64}
        self.data = {k: np.zeros((capacity, *s), dtypes.get(k, np.float32))
                     for k, s in shapes.items()}
        self.size = 0

    def add(self, **row: object) -> None:
        for k, v in row.items():
            self.data[k.replace("__", "/")][self.size] = v
        self.size += 1

    def sample(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        keys = ("observations", "actions", "next_observations", "rewards", "terminals")
        return {k: torch.as_tensor(self.data[k][idx], dtype=torch.float32) for k in keys}


def train_sac(cfg: SACConfig, run_dir: str | Path) -> dict:
    """Train (or resume) a SAC run in ``run_dir``; returns the evaluation log."""
    run_dir = Path(run_dir)
    (run_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env = gym.make(cfg.env_id)
    obs, _ = env.reset(seed=cfg.seed)
    env.action_space.seed(cfg.seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]

    actor = TanhGaussianActor(obs_dim, act_dim, (cfg.hidden, cfg.hidden))
    q1, q2 = _critic(obs_dim, act_dim, cfg.hidden), _critic(obs_dim, act_dim, cfg.hidden)
    q1_target, q2_target = copy.deepcopy(q1), copy.deepcopy(q2)
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.q_lr)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.policy_lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=cfg.q_lr)
    buffer = _Buffer(cfg.total_steps, env)
    modules = {"actor": actor, "q1": q1, "q2": q2, "q1_target": q1_target,
               "q2_target": q2_target, "q_opt": q_opt, "actor_opt": actor_opt,
               "alpha_opt": alpha_opt}
    evals: list[dict] = []
    episode_return, step = 0.0, 0

    # 1. Resume from the last checkpoint, if any: networks, optimisers, buffer, RNGs, simulator.
    if (run_dir / "checkpoint.json").exists():
        ckpt = torch.load(run_file(run_dir, "tensor_file"), weights_only=True)
        for name, module in modules.items():
            module.load_state_dict(ckpt[name])
        with torch.no_grad():
            log_alpha.copy_(ckpt["log_alpha"])
        torch.set_rng_state(ckpt["torch_rng"])
        state = json.loads((run_dir / "checkpoint.json").read_text())
        if state["config"] != asdict(cfg):
            raise ValueError(f"{run_dir}: checkpoint was made with another config; use a new dir")
        step, episode_return, evals = state["step"], state["episode_return"], state["evals"]
        rng.bit_generator.state = state["numpy_rng"]
        env.unwrapped.np_random.bit_generator.state = state["env_rng"]
        env.unwrapped.set_state(np.array(state["qpos"]), np.array(state["qvel"]))
        # The solver's warm start is part of the simulator state: without it a resumed run
        # drifts from an uninterrupted one at the 1e-16 level.
        env.unwrapped.data.qacc_warmstart[:] = state["qacc_warmstart"]
        env._elapsed_steps = state["elapsed_steps"]
        obs = np.array(state["obs"], dtype=np.float64)
        with np.load(run_file(run_dir, "buffer_file"), allow_pickle=False) as saved:
            for k in BUFFER_KEYS:
                buffer.data[k][:step] = saved[k.replace("/", "__")]
        buffer.size = step

    start_time = time.time()
    bar = progress(total=cfg.total_steps, initial=step, desc="SAC", unit="step")
    while step < cfg.total_steps:
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

            with torch.no_grad():
                for net, tgt in ((q1, q1_target), (q2, q2_target)):
                    for p, tp in zip(net.parameters(), tgt.parameters()):
                        tp.lerp_(p, cfg.tau)

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
        if step % cfg.checkpoint_every == 0 or step == cfg.total_steps:
            _checkpoint(run_dir, cfg, modules, log_alpha, buffer, env, rng, obs, step,
                        episode_return, evals)
    bar.close()
    env.close()
    return {"config": asdict(cfg), "evals": evals}


def run_file(run_dir: str | Path, kind: str) -> Path:
    """The ``buffer_file`` or ``tensor_file`` that the run's ``checkpoint.json`` points to."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "checkpoint.json").read_text())
    legacy = {"buffer_file": "buffer.npz", "tensor_file": "checkpoint.pt"}
    return run_dir / state.get(kind, legacy[kind])


def _checkpoint(run_dir: Path, cfg: SACConfig, modules: dict, log_alpha: torch.Tensor,
                buffer: _Buffer, env: gym.Env, rng: np.random.Generator, obs: np.ndarray,
                step: int, episode_return: float, evals: list[dict]) -> None:
    """Write this step's buffer and tensors under new names, then ``checkpoint.json`` (the
    commit record pointing to them), then delete older files: a crash at any point leaves the
    previous checkpoint complete and consistent."""
    buffer_file, tensor_file = f"buffer-{step:07d}.npz", f"checkpoint-{step:07d}.pt"
    with atomic_path(run_dir / buffer_file) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k.replace("/", "__"): v[:step] for k, v in buffer.data.items()})
    ckpt = {name: m.state_dict() for name, m in modules.items()}
    ckpt.update(log_alpha=log_alpha.detach().clone(), torch_rng=torch.get_rng_state())
    with atomic_path(run_dir / tensor_file) as tmp:
        torch.save(ckpt, tmp)
    data = env.unwrapped.data
    state = {"config": asdict(cfg), "step": step, "episode_return": episode_return,
             "evals": evals, "numpy_rng": rng.bit_generator.state,
             "env_rng": env.unwrapped.np_random.bit_generator.state,
             "qpos": data.qpos.tolist(), "qvel": data.qvel.tolist(),
             "qacc_warmstart": data.qacc_warmstart.tolist(),
             "elapsed_steps": env._elapsed_steps, "obs": np.asarray(obs).tolist(),
             "buffer_file": buffer_file, "tensor_file": tensor_file}
    with atomic_path(run_dir / "checkpoint.json") as tmp:
        tmp.write_text(json.dumps(state))
    for old in [*run_dir.glob("buffer*.npz"), *run_dir.glob("checkpoint*.pt")]:
        if old.name not in (buffer_file, tensor_file):
            old.unlink()
