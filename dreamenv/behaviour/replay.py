"""What every off-policy run on the real env shares: the replay buffer and exact-resume checkpoints.

SAC (the behaviour policies) and TD3 (the independent evaluation family) both store every env
step in a D4RL-layout buffer that also keeps the simulator state, and both checkpoint so that an
interrupted run continues to the same result as an uninterrupted one. The algorithm-specific part
of a checkpoint is just a dict of tensors and state dicts. Their target networks follow the
online ones by the same Polyak average (``soft_update``), as does TD3+BC's offline.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO

import gymnasium as gym
import numpy as np
import torch

from dreamenv._atomic import atomic_path

BUFFER_KEYS = ("observations", "actions", "next_observations", "rewards", "terminals",
               "timeouts", "infos/qpos", "infos/qvel")


class ReplayBuffer:
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


def soft_update(pairs: tuple[tuple[torch.nn.Module, torch.nn.Module], ...], tau: float) -> None:
    """Polyak-average each target network towards its network: ``target += tau (net - target)``."""
    with torch.no_grad():
        for net, target in pairs:
            for p, tp in zip(net.parameters(), target.parameters()):
                tp.lerp_(p, tau)


def claim_run(run_dir: Path, name: str) -> IO:
    """Hold ``run_dir`` for this process until the returned file is closed (or dropped): a
    second process training the same run waits here for the first to finish, then resumes
    from its last checkpoint, instead of both writing it. POSIX only; elsewhere a no-op."""
    handle = open(run_dir / ".lock", "w")  # noqa: SIM115 (held by the caller)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"{name}: another process is training {run_dir}; waiting for it to finish",
              file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def run_file(run_dir: str | Path, kind: str) -> Path:
    """The ``buffer_file`` or ``tensor_file`` that the run's ``checkpoint.json`` points to."""
    run_dir = Path(run_dir)
    state = json.loads((run_dir / "checkpoint.json").read_text())
    legacy = {"buffer_file": "buffer.npz", "tensor_file": "checkpoint.pt"}
    return run_dir / state.get(kind, legacy[kind])


def save_checkpoint(run_dir: Path, cfg: object, tensors: dict, buffer: ReplayBuffer,
                    env: gym.Env, rng: np.random.Generator, obs: np.ndarray, step: int,
                    episode_return: float, evals: list[dict]) -> None:
    """Write this step's buffer and tensors under new names, then ``checkpoint.json`` (the
    commit record pointing to them), then delete older files: a crash at any point leaves the
    previous checkpoint complete and consistent. ``tensors`` holds state dicts and tensors."""
    buffer_file, tensor_file = f"buffer-{step:07d}.npz", f"checkpoint-{step:07d}.pt"
    with atomic_path(run_dir / buffer_file) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k.replace("/", "__"): v[:step] for k, v in buffer.data.items()})
    with atomic_path(run_dir / tensor_file) as tmp:
        torch.save({**tensors, "torch_rng": torch.get_rng_state()}, tmp)
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


def load_checkpoint(run_dir: Path, cfg: object, buffer: ReplayBuffer, env: gym.Env,
                    rng: np.random.Generator) -> tuple[dict, dict] | None:
    """Restore buffer, RNGs and simulator from ``run_dir``'s checkpoint, if there is one.

    Returns:
        ``None`` for a fresh run, else ``(tensors, state)``: the saved tensors (the caller loads
        its own state dicts from them) and the JSON state (``step``, ``episode_return``,
        ``evals``, ``obs``).

    Raises:
        ValueError: the checkpoint was made with another config (a larger ``total_steps`` is
            the same run, extended).
    """
    if not (run_dir / "checkpoint.json").exists():
        return None
    state = json.loads((run_dir / "checkpoint.json").read_text())
    # A finished run may be extended: nothing in SAC or TD3 depends on the total, so a run
    # extended from N to M steps equals one run for M steps. Any other change is another run.
    saved, wanted = dict(state["config"]), asdict(cfg)
    if saved.pop("total_steps") < state["step"] or wanted.pop("total_steps") < state["step"] \
            or saved != wanted:
        raise ValueError(f"{run_dir}: checkpoint was made with another config; use a new dir")
    tensors = torch.load(run_file(run_dir, "tensor_file"), weights_only=True)
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = state["numpy_rng"]
    env.unwrapped.np_random.bit_generator.state = state["env_rng"]
    env.unwrapped.set_state(np.array(state["qpos"]), np.array(state["qvel"]))
    # The solver's warm start is part of the simulator state: without it a resumed run drifts
    # from an uninterrupted one at the 1e-16 level.
    env.unwrapped.data.qacc_warmstart[:] = state["qacc_warmstart"]
    env._elapsed_steps = state["elapsed_steps"]
    step = state["step"]
    with np.load(run_file(run_dir, "buffer_file"), allow_pickle=False) as saved:
        for k in BUFFER_KEYS:
            buffer.data[k][:step] = saved[k.replace("/", "__")]
    buffer.size = step
    state["obs"] = np.array(state["obs"], dtype=np.float64)
    return tensors, state
