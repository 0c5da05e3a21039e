"""The baseline: a probabilistic MLP ensemble as in MBPO / MOPO (Janner 2019, Yu 2020).

Shapes: ``E`` members, ``B`` batch, ``S`` state size, ``A`` action size, ``D = S + 1``.

Each member maps normalised ``(s_t, a_t)`` to a Gaussian over the normalised ``(s_{t+1} - s_t,
r_t)``, with the log-variance softly bounded by learned limits. ``elites`` members, chosen on
held-out loss, are used at prediction time. Propagation is MBPO's: each row picks a random elite
and samples its Gaussian (``SAMPLE``), or uses the elites' average mean (``MEAN``).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dreamenv.models.history import History
from dreamenv.models.interface import Prediction
from dreamenv.models.noise import Noise, rand, randn
from dreamenv.models.normalizer import Normalizer, StateBounds


class Propagation(enum.Enum):
    SAMPLE = "sample"  # random elite per row, then a Gaussian sample (MBPO, MOPO)
    MEAN = "mean"  # average of the elites' means, no noise


@dataclass
class EnsembleConfig:
    """MBPO/MOPO's ensemble for MuJoCo: 7 members of 4x200 swish layers, 5 elites."""

    members: int = 7
    elites: int = 5
    hidden: int = 200
    layers: int = 4
    history_len: int = 0
    """Past transitions given as extra input (0 = MBPO's Markov (s, a) input)."""


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied to ``(E, B, in)`` in one batched matmul."""

    def __init__(self, members: int, fan_in: int, fan_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, fan_in, fan_out))
        self.bias = nn.Parameter(torch.zeros(members, 1, fan_out))
        nn.init.trunc_normal_(self.weight, std=1 / (2 * fan_in**0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class GaussianEnsemble(nn.Module):
    """Probabilistic ensemble behind the ``DynamicsModel`` interface."""

    kind = "ensemble"

    def __init__(self, cfg: EnsembleConfig, state_dim: int, action_dim: int,
                 input_norm: Normalizer | None = None, target_norm: Normalizer | None = None,
                 state_bounds: StateBounds | None = None):
        super().__init__()
        self.cfg, self.state_dim, self.action_dim = cfg, state_dim, action_dim
        self.history_len = cfg.history_len
        in_dim = (cfg.history_len + 1) * (state_dim + action_dim)
        out_dim = state_dim + 1
        self.input_norm = input_norm or Normalizer.empty(in_dim)
        self.target_norm = target_norm or Normalizer.empty(out_dim)
        self.state_bounds = state_bounds or StateBounds.empty(state_dim)
        widths = [in_dim] + [cfg.hidden] * cfg.layers
        self.layers = nn.ModuleList(EnsembleLinear(cfg.members, i, o)
                                    for i, o in zip(widths[:-1], widths[1:]))
        self.head = EnsembleLinear(cfg.members, cfg.hidden, 2 * out_dim)
        self.max_logvar = nn.Parameter(torch.full((out_dim,), 0.5))
        self.min_logvar = nn.Parameter(torch.full((out_dim,), -10.0))
        self.register_buffer("elite_idx", torch.arange(cfg.elites))
        self.propagation = Propagation.SAMPLE

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    def inputs(self, history: History, action: torch.Tensor) -> torch.Tensor:
        """``(B, in)`` the model's raw input: the last ``history_len + 1`` (state, action)."""
        k = self.cfg.history_len
        states = history.states[:, -(k + 1):].flatten(1)
        actions = torch.cat([history.actions[:, history.actions.shape[1] - k:],
                             action[:, None]], 1).flatten(1)
        return torch.cat([states, actions], -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(E, B, in)`` normalised -> mean and log-variance ``(E, B, D)``."""
        h = x
        for layer in self.layers:
            h = F.silu(layer(h))
        mean, logvar = self.head(h).chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Gaussian NLL per member, summed over members, plus the log-variance bound penalty.
        ``x`` ``(E, B, in)`` and ``target`` ``(E, B, D)`` are normalised."""
        mean, logvar = self(x)
        nll = (((mean - target) ** 2) * (-logvar).exp() + logvar).mean(dim=(1, 2)).sum()
        return nll + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())

    @torch.no_grad()
    def predict(self, history: History, action: torch.Tensor,
                generator: Noise = None) -> Prediction:
        """Next state and reward; ``uncertainty`` is MOPO's max over elites of ``||std||``."""
        x = self.input_norm.normalize(self.inputs(history, action))
        mean, logvar = self(x.expand(self.cfg.members, *x.shape))
        mean, std = mean[self.elite_idx], (0.5 * logvar[self.elite_idx]).exp()  # (elites, B, D)
        b = x.shape[0]
        if self.propagation is Propagation.MEAN:
            out = mean.mean(0)
        else:
            elites = len(self.elite_idx)
            pick = (rand((b,), generator, x.device) * elites).long().clamp_max(elites - 1)
            rows = torch.arange(b, device=x.device)
            noise = randn(tuple(mean.shape[1:]), generator, x.device)
            out = mean[pick, rows] + std[pick, rows] * noise
        uncertainty = std.norm(dim=-1).max(0).values
        out = self.target_norm.denormalize(out)
        next_state = self.state_bounds.clamp(history.current + out[:, :-1])
        return Prediction(next_state, out[:, -1], uncertainty)
