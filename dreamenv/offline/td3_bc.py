"""TD3+BC (Fujimoto & Gu 2021): offline RL on a fixed dataset, optionally mixed with generated data.

Reads top to bottom like CleanRL's TD3 with the two changes the paper makes for the offline
setting, and nothing else:

1. states are standardised with the dataset's mean and std (computed once, kept with the run);
2. the actor maximises ``lambda * Q(s, pi(s)) - (pi(s) - a)^2`` with
   ``lambda = alpha / mean|Q|``: TD3's objective plus behaviour cloning, the Q term rescaled so
   that ``alpha`` (2.5) means the same whatever the reward scale.

The critic is TD3's (twin critics, clipped double-Q, target-policy smoothing, delayed actor and
target updates), shared with the online TD3 in ``dreamenv.behaviour.td3``.

Generated data (DyDiff trajectories, ensemble rollouts, a synthetic HDF5 file) comes in through
a :class:`SyntheticSource`: every ``refresh_every`` steps it is asked for new transitions made
with the current policy, which go into a FIFO buffer of ``synthetic_capacity`` rows; every batch
then takes ``real_ratio`` of its rows from the dataset and the rest from that buffer (DyDiff's
60/40 split). With no source every row is real.

The exported actor has the state standardisation folded into its first layer, so it is a plain
``dreamenv`` policy file on raw observations: ``dreamenv compare``, ``fidelity`` and ``falls``
take it as it is.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.behaviour.policy import ActorPolicy, TanhDeterministicActor, q_network, save_actor
from dreamenv.behaviour.replay import soft_update
from dreamenv.behaviour.td3 import critic_loss
from dreamenv.datasets.rollout import evaluate_returns
from dreamenv.tasks import task_for_env
from dreamenv.training.common import RunState, load_training_dataset

KEYS = ("observations", "actions", "next_observations", "rewards", "terminals")
STD_FLOOR = 1e-3  # the paper's epsilon on the state std


@dataclass
class TD3BCConfig:
    """Hyper-parameters of a TD3+BC run: the paper's, except the number of steps."""

    dataset: str = "hopper-medium"
    """Dataset name (made if missing) or path to a D4RL-format HDF5 file."""
    seed: int = 0
    total_steps: int = 1_000_000
    """Gradient steps (the paper's 1M; about an hour on one thread of this machine)."""
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    lr: float = 3e-4
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    alpha: float = 2.5
    """Weight of the Q term against behaviour cloning (2.5 in every D4RL run of the paper)."""
    hidden: int = 256
    real_ratio: float = 0.6
    """Share of each batch drawn from the dataset when a synthetic source is given (DyDiff)."""
    refresh_every: int = 1000
    """Steps between requests for new synthetic transitions (made with the current policy)."""
    synthetic_capacity: int = 1_000_000
    """Rows of the FIFO buffer that holds the synthetic transitions."""
    eval_every: int = 5000
    eval_episodes: int = 10
    checkpoint_every: int = 50_000
    threads: int = 1


class SyntheticSource(Protocol):
    """Where generated transitions come from: D4RL-layout arrays (``KEYS``, ``terminals`` as
    0/1) made with ``policy`` (a batch policy on raw observations), ``rng`` for any sampling."""

    def transitions(self, policy: ActorPolicy, rng: np.random.Generator) -> dict[str, np.ndarray]:
        ...


class FifoBuffer:
    """The newest ``capacity`` synthetic rows."""

    def __init__(self, capacity: int):
        self.capacity, self.data, self.size, self.cursor = capacity, None, 0, 0

    def add(self, rows: dict[str, np.ndarray]) -> None:
        n = len(rows["observations"])
        if self.data is None:
            self.data = {k: np.zeros((self.capacity, *np.shape(rows[k])[1:]), np.float32)
                         for k in KEYS}
        idx = (self.cursor + np.arange(n)) % self.capacity
        for k in KEYS:
            self.data[k][idx] = rows[k]
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)


def _check_rows(rows: dict[str, np.ndarray], obs_dim: int, act_dim: int) -> None:
    """A synthetic batch must look like the dataset: one line naming what is wrong."""
    missing = [k for k in KEYS if k not in rows]
    if missing:
        raise ValueError(f"synthetic transitions lack {', '.join(missing)}")
    n = len(rows["observations"])
    shapes = {"observations": (n, obs_dim), "actions": (n, act_dim),
              "next_observations": (n, obs_dim), "rewards": (n,), "terminals": (n,)}
    for k, shape in shapes.items():
        if np.shape(rows[k]) != shape:
            raise ValueError(f"synthetic {k} has shape {np.shape(rows[k])}, expected {shape}")
        if not np.isfinite(rows[k]).all():
            raise ValueError(f"synthetic {k} holds NaN or inf")


def exported_actor(actor: TanhDeterministicActor, mean: np.ndarray,
                   std: np.ndarray) -> TanhDeterministicActor:
    """A copy of ``actor`` that takes raw observations: ``W (s - mean) / std + b`` folded into
    the first layer as ``(W / std) s + (b - W mean / std)``."""
    out = copy.deepcopy(actor)
    first = out.trunk[0]
    with torch.no_grad():
        scale = torch.as_tensor(1.0 / std, dtype=torch.float32)
        shift = torch.as_tensor(mean, dtype=torch.float32) * scale
        first.bias -= first.weight @ shift
        first.weight *= scale
    return out


def train_td3_bc(cfg: TD3BCConfig, run_dir: str | Path,
                 synthetic: SyntheticSource | None = None,
                 synthetic_label: dict | str = "none") -> dict:
    """Train (or resume) TD3+BC in ``run_dir``; returns the evaluation log. ``policy.safetensors``
    there is the final actor on raw observations; ``evals.json`` the scores so far."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    if not 0.0 < cfg.real_ratio <= 1.0:
        raise ValueError(f"real_ratio must be in (0, 1], got {cfg.real_ratio}")
    dataset, name = load_training_dataset(cfg.dataset)
    env_id = dataset.metadata["env_id"]  # load_training_dataset checked it is there
    task = task_for_env(env_id)
    real = {k: np.asarray(dataset[k], dtype=np.float32) for k in KEYS}
    obs_dim, act_dim = real["observations"].shape[1], real["actions"].shape[1]

    # 1. State standardisation from the dataset (the paper's), applied to every batch.
    mean = real["observations"].mean(0)
    std = real["observations"].std(0) + STD_FLOOR
    mean_t, std_t = torch.as_tensor(mean), torch.as_tensor(std)

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    actor = TanhDeterministicActor(obs_dim, act_dim, (cfg.hidden, cfg.hidden))
    q1, q2 = q_network(obs_dim, act_dim, cfg.hidden), q_network(obs_dim, act_dim, cfg.hidden)
    actor_target, q1_target, q2_target = (copy.deepcopy(m) for m in (actor, q1, q2))
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=cfg.lr)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr)
    modules = {"actor": actor, "q1": q1, "q2": q2, "actor_target": actor_target,
               "q1_target": q1_target, "q2_target": q2_target, "q_opt": q_opt,
               "actor_opt": actor_opt}
    fifo = FifoBuffer(cfg.synthetic_capacity)
    config = {"train": asdict(cfg), "kind": "td3_bc", "synthetic": synthetic_label}
    state = RunState(run_dir, config)
    step, evals = 0, []

    # 2. Resume: networks, optimisers, RNGs and the synthetic buffer.
    restored = state.load()
    if restored is not None:
        tensors, meta = restored
        for key, module in modules.items():
            module.load_state_dict(tensors[key])
        torch.set_rng_state(tensors["torch_rng"])
        if "fifo" in tensors:
            fifo.add({k: tensors["fifo"][k].numpy() for k in KEYS})
            fifo.cursor = meta["fifo_cursor"]
        step, evals = meta["step"], meta["evals"]
        rng.bit_generator.state = meta["numpy_rng"]

    def batch_of(data: dict[str, np.ndarray], size: int, rows: int) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, size, rows)
        return {k: torch.as_tensor(data[k][idx]) for k in KEYS}

    def raw_policy() -> ActorPolicy:
        return ActorPolicy(exported_actor(actor, mean, std))

    start_time = time.time()
    bar = progress(total=cfg.total_steps, initial=step, desc=f"TD3+BC {name}", unit="step")
    while step < cfg.total_steps:
        # 3. New synthetic transitions from the current policy, every `refresh_every` steps.
        if synthetic is not None and step % cfg.refresh_every == 0:
            rows = synthetic.transitions(raw_policy(), rng)
            _check_rows(rows, obs_dim, act_dim)
            fifo.add(rows)

        # 4. A batch: `real_ratio` from the dataset, the rest synthetic (all real without any).
        n_real = cfg.batch_size if fifo.size == 0 else round(cfg.batch_size * cfg.real_ratio)
        batch = batch_of(real, len(real["observations"]), n_real)
        if n_real < cfg.batch_size:
            extra = batch_of(fifo.data, fifo.size, cfg.batch_size - n_real)
            batch = {k: torch.cat([batch[k], extra[k]]) for k in KEYS}
        batch["observations"] = (batch["observations"] - mean_t) / std_t
        batch["next_observations"] = (batch["next_observations"] - mean_t) / std_t

        # 5. TD3's critic step.
        q_loss = critic_loss(batch, q1, q2, q1_target, q2_target, actor_target, cfg.gamma,
                             cfg.policy_noise, cfg.noise_clip)
        q_opt.zero_grad()
        q_loss.backward()
        q_opt.step()
        step += 1

        # 6. Every `policy_delay` steps: the actor (Q term normalised by |Q|, plus BC), targets.
        if step % cfg.policy_delay == 0:
            pi = actor(batch["observations"])
            q = q1(torch.cat([batch["observations"], pi], -1))
            lam = cfg.alpha / q.abs().mean().detach()
            actor_loss = -lam * q.mean() + F.mse_loss(pi, batch["actions"])
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()
            soft_update(((actor, actor_target), (q1, q1_target), (q2, q2_target)), cfg.tau)
        bar.update(1)

        # 7. Evaluate in the real env: D4RL-normalised score of the deterministic actor.
        if step % cfg.eval_every == 0 or step == cfg.total_steps:
            returns = evaluate_returns(raw_policy(), env_id, cfg.eval_episodes,
                                       seed=100_000 + step)
            record = {"step": step, "return_mean": float(returns.mean()),
                      "return_std": float(returns.std()),
                      "score": task.normalized_score(float(returns.mean())),
                      "wall_s": round(time.time() - start_time, 1)}
            evals.append(record)
            bar.set_postfix(score=f"{record['score']:.1f}")

        # 8. Checkpoint (tensors, then the JSON that makes them current) and the actor file.
        if step % cfg.checkpoint_every == 0 or step == cfg.total_steps:
            tensors = {key: m.state_dict() for key, m in modules.items()}
            tensors["torch_rng"] = torch.get_rng_state()
            if fifo.size:
                tensors["fifo"] = {k: torch.as_tensor(v[:fifo.size]) for k, v in
                                   fifo.data.items()}
            state.save(tensors, {"step": step, "evals": evals, "fifo_cursor": fifo.cursor,
                                 "numpy_rng": rng.bit_generator.state})
            save_actor(exported_actor(actor, mean, std), run_dir / "policy.safetensors", env_id,
                       step=step, algo="TD3+BC", dataset=name, synthetic=synthetic_label,
                       seed=cfg.seed, score=evals[-1]["score"] if evals else None)
            with atomic_path(run_dir / "evals.json") as tmp:
                tmp.write_text(json.dumps(evals, indent=1))
    bar.close()
    return {"config": config, "evals": evals}
