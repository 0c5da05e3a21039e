"""Distillation: a diffusion model that also learns to retrace another model's sampler.

Issue 14's lever of a smaller network: a 128-wide two-block model runs the learned env about
three times as fast as the shipped 256-wide three-block one, but trained on the data alone it
was about a fifth less accurate open loop (README, Walker2d). Distillation gives the small
student a second target with no sampling noise in it: along the teacher's own sampling path
(its Euler steps from ``sigma_max``, the context at the inference level), the student's denoiser
should return what the teacher's returns. Given the same noise, the student's sampler then lands
where the teacher's does. The data's own EDM loss stays in the sum, so the student is still a
diffusion model of the data at every level, not only on the teacher's path.

The student shares the teacher's history length, noise schedule and normalisers (it reads the
same context tokens) and must be trained on the teacher's dataset (checked by fingerprint).
"""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import torch

from dreamenv.models.checkpoint import load_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, NoiseConfig
from dreamenv.models.noise import randn
from dreamenv.training.data import Batch


class SamplerMatch:
    """The sampler-matching loss of a ``student`` against a frozen ``teacher``."""

    def __init__(self, teacher: DiffusionDynamics):
        if teacher.mix is not None:
            raise ValueError("distilling a temporal_mix teacher is not implemented")
        self.teacher = teacher.eval().requires_grad_(False)
        self.plan = teacher.sampling_plan("float32", "torch")
        self.sigmas = teacher.schedule.sampling_sigmas(teacher.cfg.denoising_steps).tolist()
        # The context as the envs show it: every token at the stabilisation level.
        self.level = max(teacher.cfg.history_noise, teacher.cfg.context_sigma_min)

    @classmethod
    def from_checkpoint(cls, path: str | Path, fingerprint: str, student: DiffusionConfig,
                        device: torch.device) -> SamplerMatch:
        """The teacher checkpoint at ``path``, checked against the student's data (its
        ``fingerprint``) and config; one-line ``ValueError`` otherwise."""
        teacher, _, config = load_checkpoint(path)
        if config["kind"] != "diffusion":
            raise ValueError(f"{path}: a {config['kind']} model; the teacher must be a "
                             "diffusion model")
        trained_on = config.get("dataset", {})
        if trained_on.get("sha256") != fingerprint:
            raise ValueError(f"{path}: trained on {trained_on.get('name')!r} (fingerprint "
                             f"{str(trained_on.get('sha256'))[:12]}), not on this dataset "
                             f"({fingerprint[:12]}); distil on the teacher's own data")
        shared = ["history_len", *(f.name for f in fields(NoiseConfig))]
        differ = [name for name in shared
                  if getattr(teacher.cfg, name) != getattr(student, name)]
        if differ:
            raise ValueError(f"{path}: the student must share the teacher's history and noise "
                             f"schedule; it differs in {', '.join(differ)}")
        return cls(teacher.to(device))

    def normalizers(self) -> tuple:
        """Copies of the teacher's state and target normalisers and state bounds: the student
        must read the same tokens and write in the same units."""
        t = self.teacher
        return tuple(copy.deepcopy(m) for m in (t.state_norm, t.target_norm, t.state_bounds))

    def loss(self, student: DiffusionDynamics, batch: Batch,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM-weighted squared difference of the two denoisers at each level of the teacher's
        sampling path from the same noise, averaged over the levels."""
        history, action = batch.history, batch.action
        d = student.state_dim + 1
        noise = randn((len(action), history.states[0].numel() + d), generator,
                      history.states.device)
        tokens = self.teacher.inference_tokens(self.plan, history.states, history.valid,
                                               history.actions, action, self.level,
                                               noise[:, :-d])
        with torch.no_grad():
            teacher_cond = self.plan.condition(tokens)
        student_cond = student.denoiser.condition(student.encoder.net(tokens))
        x = noise[:, -d:] * self.sigmas[0]
        total = x.new_zeros(())
        for sigma, sigma_next in zip(self.sigmas[:-1], self.sigmas[1:]):
            with torch.no_grad():
                target = self.plan.denoise(x, sigma, teacher_cond)
            levels = x.new_full((len(x),), sigma)
            guess = student.denoiser(x, levels, student_cond)
            total = total + student.schedule.loss_weight(levels[:1])[0] * (
                (guess - target) ** 2).mean()
            x = x + (sigma_next - sigma) * (x - target) / sigma  # the teacher's Euler step
        return total / (len(self.sigmas) - 1)
