"""DyDiff's trajectory generation with iterative policy injection (Zhao et al. 2024).

Shapes: ``N`` trajectories, ``H`` horizon, ``S`` state size, ``A`` action size. A trajectory holds
``states (N, H+1, S)`` (``states[:, 0]`` is the start), ``actions (N, H, A)`` (``actions[:, t]``
taken in ``states[:, t]``) and ``rewards (N, H)``.

A model of the data learns the data's behaviour policy along with the dynamics: roll a different
policy out in it and the states drift back towards what the data's policy would have visited.
DyDiff removes that bias round by round:

0. **start**: roll the learning policy out closed loop in a step model (DyDiff uses an MLP
   ensemble) from dataset states with their recorded history;
1. **each round**: denoise the whole state sequence again, conditioned on the start (and its
   history) and on the current actions, which are held fixed; blend the new states with the
   previous ones (``blend`` is the weight of the new ones: DyDiff's 0.5); relabel every action
   with the learning policy on the blended states.

``rounds = 0`` is plain generation: the start rollout itself. Rewards follow the states (blended
the same way), then each trajectory is cut at its first terminal state (the task's termination
rule) and optionally filtered by its return (:func:`filter_by_return`).

A *trajectory model* is anything with ``sample_trajectory(history, actions, generator)``; a step
model becomes one through :class:`Stepwise`, which rolls the fixed actions through it open loop
(the baseline that a model denoising all steps jointly has to beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from dreamenv._progress import progress
from dreamenv.evaluation.compare import as_policy
from dreamenv.models.history import History
from dreamenv.models.interface import DynamicsModel
from dreamenv.models.termination import TerminationFn

MAX_HORIZON = 1000
MAX_ROUNDS = 20


class TrajectoryModel(Protocol):
    """Samples ``(states (N, H, S), rewards (N, H))``: the states after the start, given the start
    window ``history`` and all ``H`` actions ``(N, H, A)``."""

    history_len: int
    state_dim: int
    action_dim: int

    def sample_trajectory(self, history: History, actions: torch.Tensor,
                          generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]: ...


class Stepwise:
    """A step model as a trajectory model: the fixed actions rolled through it one step at a
    time, each step conditioned on the model's own previous predictions."""

    def __init__(self, model: DynamicsModel, **predict_kwargs: object):
        self.model, self.predict_kwargs = model, predict_kwargs
        self.history_len, self.state_dim = model.history_len, model.state_dim
        self.action_dim = model.action_dim

    @torch.no_grad()
    def sample_trajectory(self, history: History, actions: torch.Tensor,
                          generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        states, rewards = [], []
        for t in range(actions.shape[1]):
            pred = self.model.predict(history, actions[:, t], generator, **self.predict_kwargs)
            states.append(pred.next_state)
            rewards.append(pred.reward)
            history = history.push(actions[:, t], pred.next_state.nan_to_num(0.0, 1e3, -1e3))
        return torch.stack(states, 1), torch.stack(rewards, 1)


@dataclass
class Trajectories:
    """Generated trajectories (shapes in the module docstring); ``lengths (N,)`` are the steps
    before the first terminal state (inclusive) or ``H``, ``terminals (N,)`` whether that step
    was terminal; ``rounds_action_error`` the mean |action - policy(state)| before each round's
    relabelling (what injection drives down)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terminals: np.ndarray
    rounds_action_error: list[float]

    @property
    def returns(self) -> np.ndarray:
        """``(N,)`` the sum of rewards up to each trajectory's cut."""
        mask = np.arange(self.rewards.shape[1])[None] < self.lengths[:, None]
        return (self.rewards * mask).sum(1)

    def subset(self, rows: np.ndarray) -> Trajectories:
        return Trajectories(self.states[rows], self.actions[rows], self.rewards[rows],
                            self.lengths[rows], self.terminals[rows], self.rounds_action_error)

    def transitions(self) -> dict[str, np.ndarray]:
        """The valid steps as D4RL-layout rows (``observations``, ``actions``,
        ``next_observations``, ``rewards``, ``terminals``, ``timeouts``), trajectory by
        trajectory; the last step of an uncut trajectory is a timeout."""
        n, h = self.rewards.shape
        mask = np.arange(h)[None] < self.lengths[:, None]
        last = np.arange(h)[None] == (self.lengths[:, None] - 1)
        terminal = last & self.terminals[:, None]
        return {"observations": self.states[:, :-1][mask].astype(np.float32),
                "actions": self.actions[mask].astype(np.float32),
                "next_observations": self.states[:, 1:][mask].astype(np.float32),
                "rewards": self.rewards[mask].astype(np.float32),
                "terminals": terminal[mask], "timeouts": (last & ~terminal)[mask]}


def _act(policy: object, states: np.ndarray, rng: np.random.Generator,
         action_dim: int) -> np.ndarray:
    """The policy's actions for ``states (M, S)``, checked: one line naming what is wrong."""
    actions = np.asarray(policy.act(states, rng), dtype=np.float32)
    if actions.shape != (len(states), action_dim):
        raise ValueError(f"policy returned actions of shape {actions.shape} for {len(states)} "
                         f"states, expected {(len(states), action_dim)}")
    if not np.isfinite(actions).all():
        raise ValueError("policy returned NaN or inf actions")
    return actions


def closed_loop(model: DynamicsModel, policy: object, history: History, horizon: int,
                rng: np.random.Generator, generator: torch.Generator | None = None,
                **predict_kwargs: object
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Roll ``policy`` out in a step model from ``history``: ``states (N, H+1, S)``,
    ``actions (N, H, A)``, ``rewards (N, H)`` and the model's ``uncertainty (N, H)`` of each
    step (MOPO's reward penalty)."""
    states, actions, rewards, uncertainty = [history.current.numpy()], [], [], []
    with torch.no_grad():
        for _ in range(horizon):
            action = _act(policy, states[-1], rng, model.action_dim)
            pred = model.predict(history, torch.as_tensor(action), generator, **predict_kwargs)
            nxt = pred.next_state.nan_to_num(0.0, 1e3, -1e3)
            history = history.push(torch.as_tensor(action), nxt)
            states.append(nxt.numpy())
            actions.append(action)
            rewards.append(pred.reward.numpy())
            uncertainty.append(pred.uncertainty.numpy())
    return (np.stack(states, 1), np.stack(actions, 1), np.stack(rewards, 1),
            np.stack(uncertainty, 1))


def cut_at_termination(states: np.ndarray, terminated: TerminationFn
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, terminals)``: the step of each trajectory's first terminal next state
    (inclusive), or ``H`` if none."""
    n, h1, s = states.shape
    done = terminated(states[:, 1:].reshape(-1, s)).reshape(n, h1 - 1)
    terminals = done.any(1)
    lengths = np.where(terminals, done.argmax(1) + 1, h1 - 1)
    return lengths, terminals


def generate(model: TrajectoryModel, start_model: DynamicsModel, policy: object,
             history: History, horizon: int, rounds: int, terminated: TerminationFn,
             blend: float = 0.5, seed: int = 0, batch_size: int = 256) -> Trajectories:
    """DyDiff's generation (module docstring) for the start windows ``history (N)``.

    Args:
        model: the trajectory model that re-denoises the states each round.
        start_model: the step model of the start rollout (round 0).
        policy: the learning policy, ``act(obs (M, S), rng) -> (M, A)``.
        history: the start windows, at least as long as either model's history.
        horizon: steps per trajectory, 1..1000.
        rounds: injection rounds ``K``, 0..20 (0: the start rollout alone).
        terminated: the task's termination rule on ``(M, S)`` states.
        blend: weight of each round's new states against the previous ones, in (0, 1].
        seed: seeds the policy's and the models' noise.
        batch_size: trajectories denoised at once.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be in 1..{MAX_HORIZON}, got {horizon}")
    if not 0 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be in 0..{MAX_ROUNDS}, got {rounds}")
    if not 0.0 < blend <= 1.0:
        raise ValueError(f"blend must be in (0, 1], got {blend}")
    held = history.states.shape[1] - 1
    for who, needs in (("trajectory model", model.history_len),
                       ("start model", start_model.history_len)):
        if needs > held:
            raise ValueError(f"the {who} needs a history of {needs}, the start windows hold "
                             f"{held}")
    policy = as_policy(policy)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    n = history.states.shape[0]
    parts, errors = [], np.zeros(rounds)
    bar = progress(total=n * (1 + rounds), desc=f"trajectories K={rounds}", unit="traj",
                   leave=False)
    for lo in range(0, n, batch_size):
        window = history[slice(lo, lo + batch_size)]
        m = window.states.shape[0]
        states, actions, rewards, _ = closed_loop(start_model, policy,
                                               window.tail(start_model.history_len), horizon,
                                               rng, generator)
        bar.update(m)
        for k in range(rounds):
            new_states, new_rewards = model.sample_trajectory(
                window.tail(model.history_len), torch.as_tensor(actions), generator)
            states[:, 1:] = blend * new_states.numpy() + (1 - blend) * states[:, 1:]
            rewards = blend * new_rewards.numpy() + (1 - blend) * rewards
            flat = states[:, :-1].reshape(m * horizon, -1)
            relabelled = _act(policy, flat, rng, actions.shape[-1]).reshape(actions.shape)
            errors[k] += np.abs(relabelled - actions).mean() * m / n
            actions = relabelled
            bar.update(m)
        parts.append((states, actions, rewards))
    bar.close()
    states, actions, rewards = (np.concatenate(x) for x in zip(*parts))
    lengths, terminals = cut_at_termination(states, terminated)
    return Trajectories(states, actions, rewards, lengths, terminals, errors.tolist())


def filter_by_return(trajectories: Trajectories, keep: float = 0.6, temperature: float | None
                     = None, seed: int = 0) -> Trajectories:
    """Keep a ``keep`` share of the trajectories by return: the best ones (``temperature``
    ``None``, DyDiff's hard threshold), or drawn without replacement with probabilities
    ``softmax(standardised return / temperature)`` (DyDiff's soft filter uses 0.05)."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    returns = trajectories.returns
    count = max(1, int(round(keep * len(returns))))
    if temperature is None:
        rows = np.argsort(-returns, kind="stable")[:count]
    else:
        z = (returns - returns.mean()) / (returns.std() + 1e-8) / temperature
        p = np.exp(z - z.max())
        rows = np.random.default_rng(seed).choice(len(returns), count, replace=False,
                                                  p=p / p.sum())
    return trajectories.subset(np.sort(rows))
