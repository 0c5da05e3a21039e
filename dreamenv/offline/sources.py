"""Generated transitions for offline RL: where the synthetic share of TD3+BC's batches comes from.

Each source is a :class:`dreamenv.offline.td3_bc.SyntheticSource`: asked every ``refresh_every``
training steps, it makes fresh transitions (D4RL layout) with the current policy.

* :class:`ModelRollouts`, MOPO (Yu et al. 2020): branched rollouts of ``horizon`` steps (5) of
  the policy in a step model (the MLP ensemble) from dataset states, each reward lowered by
  ``penalty`` times the model's uncertainty (the largest predicted std among the ensemble's
  elites), each rollout cut at the task's termination rule.
* :class:`DyDiffTrajectories`, DyDiff (Zhao et al. 2024): trajectories of ``horizon`` steps (100)
  from dataset states, a start rollout in a step model and ``rounds`` of policy injection by a
  trajectory model (:func:`dreamenv.trajectories.generate.generate`), the best ``keep`` share
  by predicted return.
* :class:`FileTransitions`: a fixed synthetic file (``dreamenv rollouts`` writes one; any
  D4RL-format HDF5 file works): a random sample of its rows each time, whatever the policy.

Start states are drawn from the offline dataset with their recorded history windows, so a
history-conditioned model starts from what the data holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.models.checkpoint import load_checkpoint
from dreamenv.models.interface import DynamicsModel
from dreamenv.models.termination import TerminationFn, termination_for
from dreamenv.trajectories.generate import (
    TrajectoryModel,
    Trajectories,
    closed_loop,
    cut_at_termination,
    filter_by_return,
    generate,
)
from dreamenv.trajectories.starts import draw_starts

SEED_RANGE = 2**31  # per-refresh seeds for the starts and the models' noise, drawn from rng


@dataclass
class MopoConfig:
    """MOPO's rollouts (its own Hopper configs: horizon 5, penalty 1)."""

    horizon: int = 5
    """Steps per branched rollout."""
    starts: int = 10_000
    """Dataset states branched from at each refresh (up to horizon x starts transitions)."""
    penalty: float = 1.0
    """lambda in ``r - lambda * uncertainty``; 0 keeps the model's rewards."""


@dataclass
class DyDiffConfig:
    """DyDiff's generation: 100 steps, 2 rounds, 50/50 blend, the best 60% by return."""

    horizon: int = 100
    """Steps per trajectory (up to 1000)."""
    rounds: int = 2
    """Injection rounds K (0: the start rollout alone)."""
    blend: float = 0.5
    """Weight of each round's new states against the previous ones."""
    starts: int = 256
    """Trajectories per refresh (DyDiff makes 2048 per 1000 steps; this CPU affords fewer)."""
    keep: float = 0.6
    """Share kept by predicted return."""
    temperature: float = 0.0
    """Soft filter's softmax temperature on standardised returns (DyDiff: 0.05); 0 is the hard
    top-``keep`` threshold."""


class ModelRollouts:
    """MOPO's branched rollouts in ``model`` (module docstring)."""

    def __init__(self, model: DynamicsModel, dataset: OfflineDataset, terminated: TerminationFn,
                 cfg: MopoConfig | None = None):
        self.model, self.dataset, self.terminated = model, dataset, terminated
        self.cfg = cfg or MopoConfig()
        if self.cfg.horizon < 1 or self.cfg.starts < 1 or self.cfg.penalty < 0:
            raise ValueError(f"MOPO rollouts need horizon >= 1, starts >= 1 and penalty >= 0, "
                             f"got {self.cfg}")

    def transitions(self, policy: object, rng: np.random.Generator) -> dict[str, np.ndarray]:
        seed = int(rng.integers(SEED_RANGE))
        starts = draw_starts(self.dataset, self.cfg.starts, self.model.history_len, seed)
        states, actions, rewards, uncertainty = closed_loop(
            self.model, policy, starts.history, self.cfg.horizon, rng,
            torch.Generator().manual_seed(seed))
        lengths, terminals = cut_at_termination(states, self.terminated)
        return Trajectories(states, actions, rewards - self.cfg.penalty * uncertainty, lengths,
                            terminals, []).transitions()


class DyDiffTrajectories:
    """DyDiff's injected trajectories (module docstring)."""

    def __init__(self, model: TrajectoryModel, start_model: DynamicsModel,
                 dataset: OfflineDataset, terminated: TerminationFn,
                 cfg: DyDiffConfig | None = None):
        self.model, self.start_model, self.dataset = model, start_model, dataset
        self.terminated, self.cfg = terminated, cfg or DyDiffConfig()
        if self.cfg.starts < 1 or self.cfg.temperature < 0:
            raise ValueError(f"DyDiff generation needs starts >= 1 and temperature >= 0, got "
                             f"{self.cfg}")

    def transitions(self, policy: object, rng: np.random.Generator) -> dict[str, np.ndarray]:
        cfg, seed = self.cfg, int(rng.integers(SEED_RANGE))
        history_len = max(self.model.history_len, self.start_model.history_len)
        starts = draw_starts(self.dataset, cfg.starts, history_len, seed)
        out = generate(self.model, self.start_model, policy, starts.history, cfg.horizon,
                       cfg.rounds, self.terminated, blend=cfg.blend, seed=seed)
        if cfg.keep < 1.0:
            out = filter_by_return(out, cfg.keep, cfg.temperature or None, seed)
        return out.transitions()


class FileTransitions:
    """``rows`` transitions drawn at random from a fixed (synthetic) dataset at each refresh."""

    def __init__(self, dataset: OfflineDataset, rows: int = 50_000):
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.arrays = {k: np.asarray(dataset[k], dtype=np.float32) for k in
                       ("observations", "actions", "next_observations", "rewards", "terminals")}
        self.rows = rows

    def transitions(self, policy: object, rng: np.random.Generator) -> dict[str, np.ndarray]:
        idx = rng.integers(0, len(self.arrays["rewards"]), self.rows)
        return {k: v[idx] for k, v in self.arrays.items()}


SOURCES = ("none", "mopo", "dydiff", "file")


def make_source(kind: str, dataset: OfflineDataset, env_id: str, model: str | None = None,
                start_model: str | None = None, file: str | None = None,
                mopo: MopoConfig | None = None, dydiff: DyDiffConfig | None = None
                ) -> tuple[object | None, dict]:
    """The source ``kind`` (one of :data:`SOURCES`) and a label for the run's identity.

    Args:
        kind: ``none`` (real data only), ``mopo`` (``model``: a step model, the ensemble),
            ``dydiff`` (``model``: a trajectory model; ``start_model``: the step model of the
            start rollout) or ``file`` (``file``: a D4RL-format HDF5 file).
        dataset: the offline dataset the start states are drawn from.
        env_id: the dataset's env; every model must have been trained on it.
    """
    if kind not in SOURCES:
        raise ValueError(f"unknown synthetic source {kind!r}; known: {', '.join(SOURCES)}")
    if kind == "none":
        return None, {"kind": "none"}
    if kind == "file":
        if not file:
            raise ValueError("the file source needs a synthetic HDF5 file (--synthetic-file)")
        synthetic = load_hdf5(file)
        if synthetic.metadata.get("env_id") != env_id:
            raise ValueError(f"{file}: transitions of {synthetic.metadata.get('env_id')!r}, "
                             f"the dataset is {env_id!r}")
        return FileTransitions(synthetic), {"kind": "file", "file": str(file),
                                            "generator": synthetic.metadata.get("generator")}
    needed = "a step model (the ensemble)" if kind == "mopo" else "a trajectory model"
    if not model:
        raise ValueError(f"the {kind} source needs {needed} (--synthetic-model DIR)")
    net, learned, config = load_checkpoint(model, env_id)
    terminated = termination_for(env_id, learned)
    label = {"kind": kind, "model": str(model), "model_dataset": config["dataset"]["name"]}
    if kind == "mopo":
        if not callable(getattr(net, "predict", None)):
            raise ValueError(f"{model}: a {net.kind} model cannot step; MOPO needs a step model")
        cfg = mopo or MopoConfig()
        return ModelRollouts(net, dataset, terminated, cfg), label | {"config": vars(cfg)}
    if not callable(getattr(net, "sample_trajectory", None)):
        raise ValueError(f"{model}: a {net.kind} model cannot denoise trajectories; train one "
                         "with `dreamenv train --model trajectory`")
    if not start_model:
        raise ValueError("the dydiff source needs a step model for the start rollout "
                         "(--start-model DIR; DyDiff uses the ensemble)")
    starter, _, _ = load_checkpoint(start_model, env_id)
    if not callable(getattr(starter, "predict", None)):
        raise ValueError(f"{start_model}: the start rollout needs a step model")
    cfg = dydiff or DyDiffConfig()
    return (DyDiffTrajectories(net, starter, dataset, terminated, cfg),
            label | {"start_model": str(start_model), "config": vars(cfg)})
