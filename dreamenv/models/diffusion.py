"""Diffusion-Forcing dynamics model: denoise the next state delta and reward from pure noise.

Shapes: ``B`` batch, ``L`` history length, ``S`` state size, ``A`` action size, ``D = S + 1``.

Training (Diffusion Forcing): every context state token gets its own noise level, drawn
log-uniformly in ``[context_sigma_min, context_sigma_max]``, and some past tokens are masked
entirely; the target token (normalised ``s_{t+1} - s_t`` and ``r_t``) gets an EDM training level.
At inference the context is held at one small "stabilisation" level ``history_noise``, so the
model's own slightly-wrong past predictions look like what it was trained on.

With ``temporal_mix > 0`` the target's forward process is Dynamical Diffusion's: at each noise
level the target is blended with the preceding step's target (the previous state delta, read
from the history) before noise is added, and the sampler undoes the blend at every step
(``TemporalMix`` in schedule.py, ``sample_mixed`` in sampler.py).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from dreamenv.models.denoiser import ContextEncoder, Denoiser, noise_feature
from dreamenv.models.fastpath import (PRECISIONS, NumpyPlan, SamplingPlan, Standardisation,
                                      weights_version)
from dreamenv.models.history import History
from dreamenv.models.interface import Prediction
from dreamenv.models.noise import Noise, RowNoise, randn
from dreamenv.models.normalizer import Normalizer, StateBounds
from dreamenv.models.sampler import sample, sample_mixed
from dreamenv.models.schedule import EDMSchedule, TemporalMix

BACKENDS = ("torch", "numpy")
"""Array libraries ``predict`` can compute in (see :class:`~dreamenv.models.fastpath.NumpyPlan`)."""


@dataclass
class NoiseConfig:
    """Diffusion Forcing's context noise and the EDM schedule: what the step and the trajectory
    models share."""

    context_sigma_min: float = 1e-3
    """Lowest training noise level of a context token (1e-3 is clean for standardised states)."""
    context_sigma_max: float = 1.0
    """Highest training noise level of a past context token that is not masked."""
    current_sigma_max: float = 0.1
    """Highest training noise level of the current-state token: it is always shown, and the
    target is relative to it, so it is only ever lightly noised."""
    mask_prob: float = 0.1
    """Probability that a past context token is masked out entirely during training."""
    sigma_min: float = 0.002
    sigma_max: float = 5.0
    """EDM sampling range; 5 is pure noise for standardised targets."""
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2

    def schedule(self) -> EDMSchedule:
        return EDMSchedule(self.sigma_min, self.sigma_max, self.rho, 1.0, self.p_mean, self.p_std)


@dataclass
class DiffusionConfig(NoiseConfig):
    """Architecture, Diffusion-Forcing noise and sampling defaults of the diffusion model."""

    history_len: int = 4
    """Past transitions in the context window (DIAMOND conditions on 4 frames)."""
    hidden: int = 256
    """Width of the context encoder and the denoiser."""
    encoder_layers: int = 3
    """Layers of the context encoder (run once per env step)."""
    denoiser_blocks: int = 3
    """Residual blocks of the denoiser (run once per denoising step): kept small for speed."""
    activation: str = "silu"
    """The encoder's and the denoiser's nonlinearity, ``silu`` or ``relu`` (cheaper on a CPU;
    models/denoiser.py)."""
    denoising_steps: int = 2
    """Default sampling steps (Euler). Measured on the shipped model (benchmarks/
    model_accuracy.py): 1 step doubles the long-horizon error, 2-3 are best, 5-10 add sampling
    noise without gaining accuracy; 2 is the cheapest of the best."""
    history_noise: float = 0.001
    """Default stabilisation noise level of the context at inference. The model is trained for
    levels up to 1; in open-loop tests the lowest trained level (0.001) was slightly more
    accurate than 0.02 or 0.05 at every horizon, so it is the default and the knob stays."""
    sampling_temperature: float = 1.0
    """Default scale of the sampler's starting noise, in [0, 1] (1: the trained
    distribution; 0: one deterministic sample near the conditional mean). Hopper is
    deterministic, and per-step noise of 1% of the state's spread makes a steady expert fall in
    the real env (evaluation/falls.py, ``noise_floor``), so a lower temperature can be truer."""
    temporal_mix: float = 0.0
    """Dynamical Diffusion's blend of the preceding step's target into the forward process at
    the highest noise level, in [0, 1] (0: plain diffusion; the paper's configs use 0.5). The
    preceding target is the previous state delta, with 0 for the reward (past rewards are not
    in the history), and 0 on an episode's first step."""
    precision: str = "float32"
    """Matmul precision at inference, ``float32`` or ``bfloat16`` (see models/fastpath.py); the
    sampler's state and the state update stay float32."""

    def temporal_mix_schedule(self) -> TemporalMix | None:
        if not 0.0 <= self.temporal_mix <= 1.0:
            raise ValueError(f"temporal_mix must be in [0, 1], got {self.temporal_mix}")
        if self.temporal_mix == 0.0:
            return None
        return TemporalMix(self.temporal_mix, self.sigma_min, self.sigma_max)


class DiffusionDynamics(nn.Module):
    """The diffusion dynamics model behind the ``DynamicsModel`` interface."""

    kind = "diffusion"

    def __init__(self, cfg: DiffusionConfig, state_dim: int, action_dim: int,
                 state_norm: Normalizer | None = None, target_norm: Normalizer | None = None,
                 state_bounds: StateBounds | None = None):
        super().__init__()
        self.cfg, self.state_dim, self.action_dim = cfg, state_dim, action_dim
        self.history_len = cfg.history_len
        self.schedule = cfg.schedule()
        self.mix = cfg.temporal_mix_schedule()
        self.state_norm = state_norm or Normalizer.empty(state_dim)
        self.target_norm = target_norm or Normalizer.empty(state_dim + 1)
        self.state_bounds = state_bounds or StateBounds.empty(state_dim)
        self.encoder = ContextEncoder(cfg.history_len, state_dim, action_dim, cfg.hidden,
                                      cfg.encoder_layers, act=cfg.activation)
        self.denoiser = Denoiser(state_dim + 1, cfg.hidden, cfg.denoiser_blocks, self.schedule,
                                 act=cfg.activation)
        self._sampling_sigmas: dict[int, list[float]] = {}
        self._plans: dict[str, tuple[tuple, SamplingPlan]] = {}

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    # -- training -------------------------------------------------------------------------
    def loss(self, history: History, action: torch.Tensor, next_state: torch.Tensor,
             reward: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM-weighted denoising loss with independent per-token context noise."""
        b, dev = history.valid.shape[0], history.states.device
        # 1. Per-token context noise levels, log-uniform; masked tokens read as pure noise.
        ctx_sigma, masked = context_noise_levels(self.cfg, history, generator)
        # 2. The target token at an EDM training level.
        x0 = self.target_norm.normalize(
            torch.cat([next_state - history.current, reward[:, None]], -1))
        sigma = self.schedule.training_sigmas(b, generator, dev)
        if self.mix is not None:  # Dynamical Diffusion: the clean target blends in the past
            a, blend = self.mix.weights(sigma)
            x0 = a[:, None] * x0 + blend[:, None] * self.previous_target(history)
        noisy = x0 + sigma[:, None] * torch.randn(x0.shape, generator=generator, device=dev)
        tokens = context_tokens(self.encoder, self.state_norm, self.schedule.sigma_max, history,
                                action, ctx_sigma, masked, generator)
        cond = self.denoiser.condition(self.encoder.net(tokens))
        denoised = self.denoiser(noisy, sigma, cond)
        weight = self.schedule.loss_weight(sigma)
        return (weight[:, None] * (denoised - x0) ** 2).mean()

    def previous_target(self, history: History) -> torch.Tensor:
        """``(B, S + 1)`` the preceding step's normalised target: the state delta into the
        current state, and 0 for the reward; all 0 where the previous state is not valid."""
        b = history.states.shape[0]
        out = torch.zeros(b, self.state_dim + 1, dtype=history.states.dtype,
                          device=history.states.device)
        if history.states.shape[1] < 2:
            return out
        delta = history.states[:, -1] - history.states[:, -2]
        mean, std = self.target_norm.mean[:-1], self.target_norm.std[:-1]
        out[:, :-1] = torch.where(history.valid[:, -2:-1], (delta - mean) / std, 0.0)
        return out

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, history: History, action: torch.Tensor,
                generator: Noise = None, steps: int | None = None,
                history_noise: float | None = None, heun: bool = False,
                precision: str | None = None, temperature: float | None = None,
                backend: str = "torch") -> Prediction:
        """Sample the next state and reward.

        Args:
            history: the context window (``history_len`` must match the model's).
            action: ``(B, A)`` the action taken in ``history.current``.
            generator: source of all noise (context stabilisation noise and sampling noise): a
                ``torch.Generator``, or a :class:`~dreamenv.models.noise.RowNoise` with one
                stream per row (what the envs use, so a row's result does not depend on its
                batch).
            steps: denoising steps, 1..50 (default ``cfg.denoising_steps``).
            history_noise: stabilisation level of the context (default ``cfg.history_noise``).
            heun: use Heun's 2nd-order steps (twice the network calls).
            precision: ``float32`` or ``bfloat16`` matmuls (default ``cfg.precision``).
            temperature: scale of the sampler's starting noise in [0, 1] (default
                ``cfg.sampling_temperature``); the noise is drawn either way, so a row's stream
                does not depend on it.
            backend: ``"torch"``, or ``"numpy"`` (float32, CPU tensors, no ``temporal_mix``):
                the same function at a third of the per-call cost, for the small batches of
                single envs (inputs and results stay torch tensors).

        ``uncertainty`` is the distance, in normalised units, between the sample and the
        denoiser's first estimate of the mean: a one-sample estimate of the predictive spread
        that costs no extra network call (0 with a single step).
        """
        steps, level, precision, temperature = self._sampling_options(
            steps, history_noise, precision, temperature)
        plan = self.sampling_plan(precision, backend)
        # One draw for all of this step's noise: context stabilisation noise, then the sampler's
        # starting noise (one call to a per-row source costs as much as a hundred numbers).
        noise = plan.array(randn((action.shape[0], history.states[0].numel() + self.state_dim + 1),
                                 generator, history.states.device))
        previous = None if self.mix is None else self.previous_target(history)
        return Prediction(*(plan.tensor(out) for out in self._sample(
            plan, plan.array(history.states), plan.array(history.valid),
            plan.array(history.actions), plan.array(action), noise, steps, level, temperature,
            heun, previous)))

    def predict_arrays(self, states: np.ndarray, valid: np.ndarray, past_actions: np.ndarray,
                       action: np.ndarray, generator: RowNoise, steps: int | None = None,
                       history_noise: float | None = None, precision: str | None = None,
                       temperature: float | None = None, heun: bool = False,
                       backend: str = "numpy") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` on a NumPy window (``History``'s ``states``, ``valid``, ``actions``
        as float32 / bool arrays) and a float32 NumPy ``action``, with a CPU ``RowNoise``:
        ``(next_state, reward, uncertainty)`` as new float32 arrays, the same numbers as
        ``predict(..., backend="numpy")``. What a single env calls: no tensor is made."""
        if (backend != "numpy" or not isinstance(generator, RowNoise)
                or generator.device is not None):
            raise ValueError("predict_arrays computes in NumPy on the CPU: backend='numpy' and "
                             f"a CPU RowNoise, got {backend!r} and {type(generator).__name__}")
        steps, level, precision, temperature = self._sampling_options(
            steps, history_noise, precision, temperature)
        plan = self.sampling_plan(precision, backend)
        noise = generator.normals((len(action), states[0].size + self.state_dim + 1))
        return self._sample(plan, states, valid, past_actions, action, noise, steps, level,
                            temperature, heun, None)

    def _sampling_options(self, steps: int | None, history_noise: float | None,
                          precision: str | None, temperature: float | None
                          ) -> tuple[int, float, str, float]:
        """``predict``'s options with the config's defaults filled in, checked."""
        steps = self.cfg.denoising_steps if steps is None else steps
        if not 1 <= steps <= 50:
            raise ValueError(f"denoising steps must be in 1..50, got {steps}")
        level = self.cfg.history_noise if history_noise is None else history_noise
        precision = self.cfg.precision if precision is None else precision
        temperature = self.cfg.sampling_temperature if temperature is None else temperature
        if not 0.0 <= temperature <= 1.0:
            raise ValueError(f"sampling temperature must be in [0, 1], got {temperature}")
        return steps, level, precision, temperature

    def _sample(self, plan: SamplingPlan | NumpyPlan, states, valid, past_actions, action,
                noise, steps: int, level: float, temperature: float, heun: bool, previous
                ) -> tuple:
        """The sampler on one backend's arrays: ``(next_state, reward, uncertainty)``.
        ``noise`` ``(B, (L+1) S + D)`` is the context noise then the starting noise;
        ``previous`` the preceding target (``temporal_mix`` only)."""
        d = self.state_dim + 1
        # Below the lowest trained level a token is as good as clean: show it at that level.
        ctx_level = max(float(level), self.cfg.context_sigma_min)
        if plan.xp is np and (len(valid) == 1 or valid.all()):  # a single env, or all shown
            cond = self._folded_window_condition(plan, states, valid[0], past_actions, action,
                                                 ctx_level, noise[:, :-d])
        else:
            cond = plan.condition(self.inference_tokens(
                plan, states, valid, past_actions, action, ctx_level, noise[:, :-d]))
        first_estimate: list = []

        def denoise(x, sigma: float):
            out = plan.denoise(x, sigma, cond)
            if not first_estimate:
                first_estimate.append(out)
            return out

        if steps not in self._sampling_sigmas:
            self._sampling_sigmas[steps] = self.schedule.sampling_sigmas(steps).tolist()
        start_noise = noise[:, -d:] if temperature == 1.0 else noise[:, -d:] * temperature
        if self.mix is None:
            x = sample(denoise, start_noise, self._sampling_sigmas[steps], heun=heun)
            first = first_estimate[0]
        else:
            if heun:
                raise ValueError("Heun steps are not implemented for temporal_mix > 0")
            x, first = sample_mixed(denoise, start_noise, self._sampling_sigmas[steps],
                                    previous, self.mix)
        uncertainty = ((x - first) ** 2).sum(-1) ** 0.5
        norms, xp = plan.norms, plan.xp
        out = x * norms.target_std + norms.target_mean
        next_state = xp.maximum(xp.minimum(states[:, -1] + out[:, :-1], norms.high), norms.low)
        return next_state, out[:, -1], uncertainty

    def sampling_plan(self, precision: str, backend: str = "torch") -> SamplingPlan | NumpyPlan:
        """The networks prepared for sampling in ``precision`` on ``backend`` (rebuilt after a
        weight change)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
        if backend == "numpy" and (precision != "float32" or self.mix is not None):
            raise ValueError("the numpy backend is float32 and has no temporal_mix; use "
                             "backend='torch'")
        if "_params" not in self.__dict__:  # the tensors, once: walking modules costs ~0.1 ms
            self.__dict__["_params"] = [*self.parameters(), *self.buffers()]
        version = weights_version(self.__dict__["_params"])
        cached = self._plans.get((precision, backend))
        if cached is None or cached[0] != version:
            norms = Standardisation(self.state_norm.mean, self.state_norm.std,
                                    self.target_norm.mean, self.target_norm.std,
                                    self.state_bounds.low, self.state_bounds.high)
            plan = SamplingPlan(self.encoder, self.denoiser, PRECISIONS[precision], norms)
            cached = (version, plan if backend == "torch" else NumpyPlan(plan))
            self._plans[(precision, backend)] = cached
        return cached[1]

    def _folded_window_condition(self, plan: NumpyPlan, states: np.ndarray, shown: np.ndarray,
                                 past_actions: np.ndarray, action: np.ndarray, level: float,
                                 noise: np.ndarray) -> np.ndarray:
        """``plan.condition`` of ``inference_tokens`` for windows that all show the tokens
        ``shown`` ``(L+1,)``: the tokens are an affine function of the raw states and the noise
        then, so their normalisation, masking, ``c_in`` and noise features are folded into the
        encoder's first layer (once per level and mask: an episode's first steps have their
        own) and the input is one concatenation instead of ten array ops."""
        key = (level, shown.tobytes())
        if key not in plan.folded_inputs:
            plan.folded_inputs[key] = self._folded_first_layer(plan, level, shown)
        b = len(states)
        inputs = np.concatenate([states.reshape(b, -1), noise, past_actions.reshape(b, -1),
                                 action], 1)
        return plan.condition(inputs, plan.folded_inputs[key])

    def _folded_first_layer(self, plan: NumpyPlan, level: float, shown: np.ndarray
                            ) -> tuple[np.ndarray, ...]:
        """The encoder's first layer over ``[states (L+1)*S, noise (L+1)*S, past actions,
        action]``: a shown token is ``c_in ((s - mean) / std + level n)`` beside the feature of
        ``level``, a masked one zeros beside the feature of ``sigma_max`` (its past action
        zeroed too), so ``W tokens + b = W_s' s + W_n' n + W_a a + b'``."""
        weight, bias = (w.astype(np.float64) for w in plan.encoder_layers[0])
        tokens, size = self.history_len + 1, self.state_dim
        shown = np.asarray(shown, dtype=np.float64)
        per_token = weight[: tokens * (size + 1)].reshape(tokens, size + 1, -1)
        state_rows = per_token[:, :size] * shown[:, None, None]  # (L+1, S, H), masked: 0
        mean, std = (np.asarray(v, np.float64) for v in (plan.norms.state_mean,
                                                          plan.norms.state_std))
        c_in = (level**2 + self.encoder.sigma_data**2) ** -0.5
        action_rows = weight[tokens * (size + 1):].copy()
        action_dim = self.action_dim
        action_rows[: self.history_len * action_dim] *= np.repeat(shown[:-1], action_dim)[:, None]
        features = np.where(shown > 0, _feature(level), _feature(self.schedule.sigma_max))
        folded = np.concatenate([(state_rows * (c_in / std)[:, None]).reshape(tokens * size, -1),
                                 (state_rows * (level * c_in)).reshape(tokens * size, -1),
                                 action_rows])
        shift = (np.einsum("ksh,s->h", state_rows, -mean * c_in / std)
                 + np.einsum("kh,k->h", per_token[:, size], features))
        return folded.astype(np.float32), (bias + shift).astype(np.float32)

    def inference_tokens(self, plan: SamplingPlan | NumpyPlan, states, valid, past_actions,
                         action, level: float, noise):
        """``context_tokens`` for one context level (every shown token at ``level``), with the
        level's scalings as constants: the same input in half the ops. Arrays are the plan's
        (torch tensors or NumPy arrays)."""
        xp, norms = plan.xp, plan.norms
        masked = ~valid
        states = (states - norms.state_mean) / norms.state_std + level * noise.reshape(states.shape)
        c_in = (level**2 + self.encoder.sigma_data**2) ** -0.5
        states = xp.where(masked[..., None], 0.0, states * c_in)
        feature = xp.where(masked, *(plan.scalar(_feature(s))
                                     for s in (self.schedule.sigma_max, level)))
        tokens = xp.concatenate([states, feature[..., None]], -1).reshape(len(states), -1)
        past_actions = xp.where(masked[:, :-1, None], 0.0, past_actions)
        return xp.concatenate([tokens, past_actions.reshape(len(states), -1), action], -1)


def context_noise_levels(cfg: object, history: History, generator: Noise = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Diffusion Forcing's training noise for the context: ``(levels (B, L+1), masked (B, L+1))``.
    Each past token gets a level drawn log-uniformly in ``[context_sigma_min,
    context_sigma_max]`` (the current state's up to ``current_sigma_max``) and is masked with
    probability ``mask_prob``; the current state is always shown; padding is always masked."""
    b, tokens = history.valid.shape
    dev = history.states.device
    u = torch.rand(b, tokens, generator=generator, device=dev)
    top = torch.full((tokens,), cfg.context_sigma_max, device=dev)
    top[-1] = cfg.current_sigma_max
    levels = cfg.context_sigma_min * (top / cfg.context_sigma_min) ** u
    drop = torch.rand(b, tokens, generator=generator, device=dev) < cfg.mask_prob
    drop[:, -1] = False
    return levels, drop | ~history.valid


def context_tokens(encoder: ContextEncoder, state_norm: Normalizer, sigma_max: float,
                   history: History, action: torch.Tensor, levels: torch.Tensor,
                   masked: torch.Tensor, generator: Noise = None) -> torch.Tensor:
    """The context encoder's input ``(B, W)`` on the training path: every state token noised at
    its level; masked tokens zeroed and shown at ``sigma_max`` ("unknown")."""
    states = state_norm.normalize(history.states)  # (B, L+1, S)
    noise = randn(tuple(states.shape), generator, states.device)
    states = torch.where(masked[..., None], 0.0, states + levels[..., None] * noise)
    levels = torch.where(masked, sigma_max, levels)
    past_actions = torch.where(masked[:, :-1, None], 0.0, history.actions)
    return encoder.tokens(states, levels, past_actions, action)


@functools.lru_cache(maxsize=64)
def _feature(sigma: float) -> float:
    """The encoder's noise feature of one level, as a constant."""
    return float(noise_feature(torch.tensor(sigma)))


def fit_normalizers(observations: np.ndarray, next_observations: np.ndarray,
                    rewards: np.ndarray) -> tuple[Normalizer, Normalizer, StateBounds]:
    """State and target (delta, reward) normalisers and state bounds from training arrays."""
    targets = np.concatenate([next_observations - observations, rewards[:, None]], 1)
    return (Normalizer.fit(observations), Normalizer.fit(targets),
            StateBounds.fit(np.concatenate([observations, next_observations])))
