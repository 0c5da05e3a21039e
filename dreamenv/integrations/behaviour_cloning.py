"""A behaviour-cloned start for the main job's PPO policy (``dreamenv imagine --bc-dataset``).

An agent that starts from scratch in a learned env has to find a gait in the model before it
can improve one, and on Walker2d most seeds never do (docs/main-job-tasks.md). Offline RL
starts from the data instead: BREMEN (Matsushima et al. 2021) fits the policy to the dataset's
actions by behaviour cloning and then improves it with small trust-region steps in a model
ensemble. Here, before the first iteration of a fresh run:

1. the agent's observation map is set to the dataset's observation statistics (under running
   normalisation the running statistics start there, counted as the dataset's rows, so the
   map the clone was fitted behind moves only as the agent's own states outweigh the data);
2. the policy's action mean (actor encoder and head; the value network is left alone) is
   fitted to the dataset's actions by least squares on the normalised observations;
3. the free log-std starts at the log of the clone's residual spread per action dimension,
   the data's own exploration around the mean, instead of a fixed value.

Only for single-agent PPO with a free log-std (the main job's recipes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamenv._progress import progress

BC_BATCH = 1024
BC_LEARNING_RATE = 1e-3
ACTION_LIMIT = 1.0
"""MuJoCo locomotion actions lie in [-1, 1]; the data's are clipped there before fitting."""


def behaviour_cloned_start(algorithm, dataset: str, env_id: str, epochs: int, seed: int,
                           running: bool, fixed_norm: dict | None) -> CloneReport:
    """The whole start of a fresh run: load ``dataset`` (a name, made if needed, or a path),
    set the agent's observation map (running statistics start at the data's; a fixed map is
    used as it is), clone."""
    from dreamenv.integrations.rllib import running_statistics, standardizer
    from dreamenv.training.common import load_training_dataset

    data, name = load_training_dataset(dataset, env_id)
    observations = data["observations"]
    if running:
        norm = observation_statistics(observations)
        running_statistics(algorithm, load=norm)
    else:
        norm = fixed_norm
    if norm:
        observations = standardizer(norm)(observations)
    return clone_policy(algorithm, observations, data["actions"], epochs, seed, name)


@dataclass
class CloneReport:
    """What the clone fitted: rows, passes, the mean squared action error on the data before
    and after, the log-std it starts the agent with, and (filled by the main job) its real
    return before any PPO step."""

    dataset: str
    rows: int
    epochs: int
    mse_before: float
    mse_after: float
    log_std: list[float]
    real_return: float = float("nan")


def observation_statistics(observations: np.ndarray) -> dict:
    """The dataset's observation map in ``RunningObservationNorm.norm``'s form."""
    obs = np.asarray(observations, dtype=np.float64)
    return {"mean": obs.mean(0).tolist(), "std": np.sqrt(obs.var(0) + 1e-8).tolist(),
            "count": float(len(obs))}


def clone_policy(algorithm, observations: np.ndarray, actions: np.ndarray, epochs: int,
                 seed: int = 0, dataset: str = "") -> CloneReport:
    """Fit every PPO module's action mean to ``actions`` given ``observations`` (already in the
    agent's observation map), set its free log-std to the residual spread, and send the
    weights to the env runners."""
    if len(observations) != len(actions) or len(actions) == 0:
        raise ValueError(f"behaviour cloning needs as many observations as actions, got "
                         f"{len(observations)} and {len(actions)}")
    obs = torch.as_tensor(np.asarray(observations, dtype=np.float32))
    target = torch.as_tensor(np.clip(actions, -ACTION_LIMIT, ACTION_LIMIT).astype(np.float32))
    reports: list[CloneReport] = []

    def fit(learner) -> None:
        from ray.rllib.core.columns import Columns

        for module in learner.module.values():
            if not hasattr(module.pi, "log_std"):
                raise ValueError("--bc-dataset needs PPO with a free log-std "
                                 "(--ppo-log-std-init)")
            action_dim = target.shape[1]

            def means(rows: torch.Tensor) -> torch.Tensor:
                out = module._forward({Columns.OBS: rows})[Columns.ACTION_DIST_INPUTS]
                return out[:, :action_dim]

            actor = [*module.encoder.actor_encoder.parameters(), *module.pi.net.parameters()]
            optimiser = torch.optim.Adam(actor, lr=BC_LEARNING_RATE)
            generator = torch.Generator().manual_seed(seed)
            before = _mse(means, obs, target)
            bar = progress(total=epochs, desc="behaviour cloning", unit="epoch")
            for _ in range(epochs):
                for rows in torch.randperm(len(obs), generator=generator).split(BC_BATCH):
                    loss = ((means(obs[rows]) - target[rows]) ** 2).mean()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                bar.update(1)
            bar.close()
            with torch.no_grad():
                residual = torch.cat([means(chunk) for chunk in obs.split(65536)]) - target
                squared = residual.pow(2)
                log_std = squared.mean(0).sqrt().clamp_min(1e-3).log()
                module.pi.log_std.copy_(log_std)
            reports.append(CloneReport(dataset, len(obs), epochs, before,
                                       squared.mean().item(), log_std.tolist()))

    algorithm.learner_group.foreach_learner(fit)
    algorithm.env_runner_group.sync_weights(
        from_worker_or_learner_group=algorithm.learner_group, inference_only=True)
    if not reports:  # remote learners: the fit ran there
        raise RuntimeError("behaviour cloning runs on a local learner; use no remote learners")
    return reports[0]


@torch.no_grad()
def _mse(means, obs: torch.Tensor, target: torch.Tensor) -> float:
    errors = [((means(o) - t) ** 2).sum().item() for o, t in zip(obs.split(65536),
                                                                 target.split(65536))]
    return sum(errors) / target.numel()
