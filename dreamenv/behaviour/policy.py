"""Policies on the real env: the tanh-Gaussian actor that SAC trains, TD3's deterministic actor,
and the random policy.

A policy here is anything with ``act(obs, rng) -> action`` over a batch: ``obs`` is ``(B, S)``
float, the returned action ``(B, A)`` float32 inside the action bounds. The actors are saved as a
single safetensors file whose header metadata says what they are (env, dimensions, training step,
measured return), so a file for another task is refused on load rather than silently misused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from dreamenv._atomic import atomic_path

POLICY_FORMAT = "dreamenv-policy/1"
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
WEIGHTS_DIR = Path(__file__).parent / "weights"


def _trunk(obs_dim: int, hidden: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    """ReLU MLP layers and their output width."""
    layers: list[nn.Module] = []
    width = obs_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers), width


def q_network(obs_dim: int, act_dim: int, hidden: int) -> nn.Module:
    """The critic of SAC and TD3: ``Q(s, a)`` from the concatenated pair, two hidden layers."""
    trunk, width = _trunk(obs_dim + act_dim, (hidden, hidden))
    return nn.Sequential(*trunk, nn.Linear(width, 1))


class TanhGaussianActor(nn.Module):
    """MLP mapping an observation to a tanh-squashed Gaussian over actions in [-1, 1]^A."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.trunk, width = _trunk(obs_dim, hidden)
        self.mean = nn.Linear(width, act_dim)
        self.log_std = nn.Linear(width, act_dim)
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, tuple(hidden)

    kind = "tanh_gaussian"

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(obs)
        log_std = self.log_std(z).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return self.mean(z), log_std

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self(obs)[0])

    def sample(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised sample and its log-probability (with the tanh correction)."""
        mean, log_std = self(obs)
        std = log_std.exp()
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        pre_tanh = mean + std * eps
        action = torch.tanh(pre_tanh)
        gauss_logp = (-0.5 * eps.pow(2) - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
        # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), numerically stable form.
        correction = (2 * (np.log(2) - pre_tanh - nn.functional.softplus(-2 * pre_tanh))).sum(-1)
        return action, gauss_logp - correction


class TanhDeterministicActor(nn.Module):
    """TD3's actor: an MLP with a tanh output, one action per observation."""

    kind = "tanh_deterministic"

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.trunk, width = _trunk(obs_dim, hidden)
        self.mean = nn.Linear(width, act_dim)
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, tuple(hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean(self.trunk(obs)))

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self(obs)


ACTOR_KINDS = {cls.kind: cls for cls in (TanhGaussianActor, TanhDeterministicActor)}
Actor = TanhGaussianActor | TanhDeterministicActor


@dataclass
class ActorPolicy:
    """A trained actor as a numpy batch policy.

    Args:
        actor: the network.
        deterministic: act with ``tanh(mean)`` instead of sampling. D4RL's datasets were collected
            with sampled actions, so dataset generation uses ``deterministic=False``. A
            deterministic actor (TD3's) always acts with its one action.
        metadata: what the weight file said about itself (env id, training step, return, ...).
    """

    actor: Actor
    deterministic: bool = False
    metadata: dict | None = None

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        with torch.no_grad():
            if self.deterministic or isinstance(self.actor, TanhDeterministicActor):
                return self.actor.mean_action(obs_t).numpy()
            # Noise drawn from the caller's numpy generator keeps rollouts reproducible per seed.
            mean, log_std = self.actor(obs_t)
            eps = torch.as_tensor(rng.standard_normal(mean.shape, dtype=np.float32))
            return torch.tanh(mean + log_std.exp() * eps).numpy()


@dataclass
class RandomPolicy:
    """Uniform actions in [low, high]: D4RL's ``random`` behaviour."""

    low: np.ndarray
    high: np.ndarray

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = np.asarray(obs).shape[0]
        return rng.uniform(self.low, self.high, size=(n, len(self.low))).astype(np.float32)


def save_actor(actor: Actor, path: str | Path, env_id: str, **info: object) -> None:
    """Write ``actor`` atomically as safetensors; ``info`` goes into the header as JSON."""
    meta = {
        "format": POLICY_FORMAT,
        "env_id": env_id,
        "obs_dim": str(actor.obs_dim),
        "act_dim": str(actor.act_dim),
        "hidden": json.dumps(list(actor.hidden)),
        "actor": actor.kind,
        "info": json.dumps(info),
    }
    tensors = {k: v.detach().contiguous().clone() for k, v in actor.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_actor(path: str | Path, env_id: str | None = None) -> tuple[Actor, dict]:
    """Load an actor saved by :func:`save_actor`, checking its format and (optionally) its env.

    Raises:
        ValueError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: policy file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors policy file ({e})") from None
    if meta.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {POLICY_FORMAT!r}")
    if env_id is not None and meta.get("env_id") != env_id:
        raise ValueError(f"{path}: policy for {meta.get('env_id')!r}, not {env_id!r}")
    # Files written before TD3 existed carry no "actor" key: they are all SAC's.
    kind = meta.get("actor", TanhGaussianActor.kind)
    if kind not in ACTOR_KINDS:
        raise ValueError(f"{path}: unknown actor kind {kind!r}; known: {', '.join(ACTOR_KINDS)}")
    actor = ACTOR_KINDS[kind](
        int(meta["obs_dim"]), int(meta["act_dim"]), tuple(json.loads(meta["hidden"]))
    )
    try:
        actor.load_state_dict(tensors)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise ValueError(f"{path}: weights do not match the declared shapes ({first})") from None
    info = {**json.loads(meta.get("info", "{}")), "env_id": meta["env_id"], "path": str(path)}
    return actor, info
