"""Trajectory diffusion model: denoise a window of future states and rewards jointly.

Shapes: ``B`` batch, ``L`` history length, ``W`` window, ``H`` horizon, ``S`` state size,
``A`` action size, ``D = S + 1``.

Given a start (its history window, as the step model sees it) and the actions of the next ``W``
steps, the model denoises all ``W`` next states and rewards at once: DyDiff's conditioning, with
the start and the action sequence held fixed. Token ``k`` is ``(s_{t+k+1} - s_t, r_{t+k})``,
standardised per step ``k`` and dimension (the displacement from the start grows with ``k``; each
token is unit-variance, as EDM assumes). Longer horizons are generated window after window, each
conditioned on the previous window's last ``L`` steps.

Training noise is Diffusion Forcing's when ``per_token_noise`` (each token of a window at its own
level), or one level per window (a plain trajectory diffusion model); sampling denoises a whole
window from one level down either way. Steps after an episode's end are masked out of the loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from dreamenv.models.denoiser import ContextEncoder
from dreamenv.models.diffusion import NoiseConfig, context_noise_levels, context_tokens
from dreamenv.models.history import History
from dreamenv.models.normalizer import Normalizer, StateBounds
from dreamenv.models.sampler import sample
from dreamenv.models.temporal import TemporalDenoiser


@dataclass
class TrajectoryConfig(NoiseConfig):
    """Architecture, noise and sampling defaults of the trajectory model (the context noise and
    EDM schedule are the step model's, :class:`~dreamenv.models.diffusion.NoiseConfig`)."""

    history_len: int = 4
    """Past transitions the start window holds (the step model's 4)."""
    window: int = 32
    """Steps denoised jointly; a horizon of 100 is four windows."""
    channels: int = 64
    """Width of the temporal net (64: about 12 training steps/s of batch 64 on one busy core)."""
    blocks: int = 5
    """Temporal blocks; dilations 1, 2, 4, 8, 16 with kernel 5 span the whole window."""
    context_hidden: int = 256
    context_layers: int = 2
    per_token_noise: bool = True
    """Train each token of a window at its own level (Diffusion Forcing); False: one level."""
    denoising_steps: int = 8
    """Euler steps per window (DyDiff's reference code spends 34 Heun steps)."""
    history_noise: float = 0.001


class TrajectoryDiffusion(nn.Module):
    """The trajectory model; ``sample_trajectory`` is what DyDiff's generation calls."""

    kind = "trajectory"

    def __init__(self, cfg: TrajectoryConfig, state_dim: int, action_dim: int,
                 state_norm: Normalizer | None = None, target_norm: Normalizer | None = None,
                 state_bounds: StateBounds | None = None):
        super().__init__()
        self.cfg, self.state_dim, self.action_dim = cfg, state_dim, action_dim
        self.history_len = cfg.history_len
        self.schedule = cfg.schedule()
        d = state_dim + 1
        self.state_norm = state_norm or Normalizer.empty(state_dim)
        self.target_norm = target_norm or Normalizer(torch.zeros(cfg.window, d),
                                                     torch.ones(cfg.window, d))
        self.state_bounds = state_bounds or StateBounds.empty(state_dim)
        self.encoder = ContextEncoder(cfg.history_len, state_dim, action_dim, cfg.context_hidden,
                                      cfg.context_layers)
        self.denoiser = TemporalDenoiser(d, action_dim, cfg.context_hidden, cfg.channels,
                                         cfg.blocks, cfg.window, self.schedule)

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    def targets(self, history: History, states: torch.Tensor,
                rewards: torch.Tensor) -> torch.Tensor:
        """``(B, W, D)`` un-normalised tokens: displacement from the start, and reward."""
        return torch.cat([states - history.current[:, None], rewards[..., None]], -1)

    def loss(self, history: History, actions: torch.Tensor, states: torch.Tensor,
             rewards: torch.Tensor, valid: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM-weighted denoising loss over the valid tokens of a batch of windows
        (``actions``/``states``/``rewards``/``valid`` of shape ``(B, W, .)``)."""
        cfg, dev = self.cfg, history.states.device
        b, w = valid.shape
        # 1. The context as in the step model: per-token noise, some tokens masked.
        levels, masked = context_noise_levels(cfg, history, generator)
        tokens = context_tokens(self.encoder, self.state_norm, self.schedule.sigma_max, history,
                                actions[:, 0], levels, masked, generator)
        context = self.encoder.net(tokens)
        # 2. Target tokens at EDM levels: one per token (Diffusion Forcing) or one per window.
        x0 = self.target_norm.normalize(self.targets(history, states, rewards))
        count = b * w if cfg.per_token_noise else b
        sigma = self.schedule.training_sigmas(count, generator, dev).reshape(b, -1).expand(b, w)
        noisy = x0 + sigma[..., None] * torch.randn(x0.shape, generator=generator, device=dev)
        denoised = self.denoiser(noisy, sigma, actions, context)
        weight = self.schedule.loss_weight(sigma) * valid
        return (weight[..., None] * (denoised - x0) ** 2).sum() / (
            valid.sum().clamp_min(1) * x0.shape[-1])

    @torch.no_grad()
    def sample_trajectory(self, history: History, actions: torch.Tensor,
                          generator: torch.Generator | None = None, steps: int | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(states (B, H, S), rewards (B, H))`` after the start, for the actions
        ``(B, H, A)``: window after window, each denoised jointly from pure noise."""
        cfg = self.cfg
        steps = cfg.denoising_steps if steps is None else steps
        sigmas = self.schedule.sampling_sigmas(steps).tolist()
        b, horizon, _ = actions.shape
        w, level = cfg.window, max(cfg.history_noise, cfg.context_sigma_min)
        states, rewards = [], []
        for lo in range(0, horizon, w):
            chunk = actions[:, lo:lo + w]
            n = chunk.shape[1]
            if n < w:  # the last window: pad the actions, drop the extra steps
                chunk = torch.cat([chunk, chunk.new_zeros(b, w - n, chunk.shape[2])], 1)
            full = torch.full(history.valid.shape, level)
            tokens = context_tokens(self.encoder, self.state_norm, self.schedule.sigma_max,
                                    history, chunk[:, 0], full, ~history.valid, generator)
            context = self.encoder.net(tokens)

            def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
                return self.denoiser(x, torch.full(x.shape[:2], sigma), chunk, context)

            noise = torch.randn(b, w, self.state_dim + 1, generator=generator)
            out = self.target_norm.denormalize(sample(denoise, noise, sigmas))[:, :n]
            window_states = self.state_bounds.clamp(history.current[:, None] + out[..., :-1])
            states.append(window_states)
            rewards.append(out[..., -1])
            for k in range(n):  # the next window starts from this one's last steps
                history = history.push(chunk[:, k], window_states[:, k])
        return torch.cat(states, 1), torch.cat(rewards, 1)
