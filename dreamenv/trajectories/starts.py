"""Start states for generated trajectories, and the real env restarted from the same states.

DyDiff generates from dataset states. D4RL-layout datasets made here carry the simulator state of
every row (``infos/qpos``, ``infos/qvel``), so the real Hopper-v5 can be put into exactly that
state and driven by the same policy: the ground truth for a generated trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.evaluation.compare import as_policy
from dreamenv.models.history import History, dataset_windows, episode_starts


@dataclass
class StartStates:
    """``rows (N,)`` of a dataset, their history windows and simulator states."""

    rows: np.ndarray
    history: History
    qpos: np.ndarray | None
    qvel: np.ndarray | None


def draw_starts(dataset: OfflineDataset, count: int, history_len: int, seed: int = 0
                ) -> StartStates:
    """``count`` distinct rows drawn uniformly (fewer if the dataset is smaller)."""
    n = len(dataset)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(count, n), replace=False))
    starts = episode_starts(dataset["terminals"], dataset["timeouts"])
    history = dataset_windows(np.asarray(dataset["observations"], np.float32),
                              np.asarray(dataset["actions"], np.float32), starts, rows,
                              history_len)
    qpos, qvel = dataset.arrays.get("infos/qpos"), dataset.arrays.get("infos/qvel")
    return StartStates(rows, history, None if qpos is None else np.asarray(qpos)[rows],
                       None if qvel is None else np.asarray(qvel)[rows])


def real_trajectories(policy: object, starts: StartStates, horizon: int, env_id: str,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Restart the real env in every start's simulator state and run ``policy`` for ``horizon``
    steps: ``states (N, H+1, S)`` (NaN after a termination), ``actions (N, H, A)``,
    ``rewards (N, H)``, ``lengths (N,)``, ``terminals (N,)``.

    Raises:
        DatasetError: the dataset has no ``infos/qpos`` / ``infos/qvel``, or a restored state
            does not reproduce the recorded observation (the data is from another env).
    """
    if starts.qpos is None or starts.qvel is None:
        raise DatasetError("the dataset has no infos/qpos and infos/qvel: the real env cannot "
                           "be restarted in its states")
    policy = as_policy(policy)
    rng = np.random.default_rng(seed)
    env = gym.make(env_id, max_episode_steps=horizon)
    body = env.unwrapped
    n, s = starts.history.states.shape[0], starts.history.states.shape[2]
    states = np.full((n, horizon + 1, s), np.nan)
    actions = np.zeros((n, horizon, env.action_space.shape[0]), np.float32)
    rewards = np.zeros((n, horizon))
    lengths, terminals = np.full(n, horizon), np.zeros(n, dtype=bool)
    for i in range(n):
        env.reset(seed=seed + i)
        body.set_state(starts.qpos[i], starts.qvel[i])
        obs = body._get_obs()  # the env's own observation of the restored state
        recorded = starts.history.current[i].numpy()
        if not np.allclose(obs, recorded, atol=1e-4):
            raise DatasetError(f"dataset row {starts.rows[i]}: the restored simulator state "
                               f"does not give the recorded observation; is the data from "
                               f"{env_id}?")
        states[i, 0] = obs
        for t in range(horizon):
            action = np.asarray(policy.act(obs[None], rng), dtype=np.float32)[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            states[i, t + 1], actions[i, t], rewards[i, t] = obs, action, reward
            if terminated or truncated:
                lengths[i], terminals[i] = t + 1, terminated
                break
    env.close()
    return {"states": states, "actions": actions, "rewards": rewards, "lengths": lengths,
            "terminals": terminals}
