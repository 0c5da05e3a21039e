"""The one in-memory layout of offline data: flat D4RL arrays plus episode boundaries.

Shapes: ``N`` transitions, ``S`` observation size, ``A`` action size, ``Q``/``V`` qpos/qvel size,
``E`` episodes. Row ``i`` is the transition ``observations[i] --actions[i]--> next_observations[i]``
with ``rewards[i]``. An episode ends at row ``i`` when ``terminals[i]`` (the task's termination) or
``timeouts[i]`` (time limit, or the end of the data) is set; inside an episode
``next_observations[i] == observations[i + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dreamenv.tasks import task_for_env

REQUIRED_KEYS = ("observations", "actions", "next_observations", "rewards", "terminals",
                 "timeouts")
OPTIONAL_KEYS = ("infos/qpos", "infos/qvel")


class DatasetError(ValueError):
    """A dataset file or array that cannot be used; the message is one line naming where."""


@dataclass
class OfflineDataset:
    """D4RL-layout transitions.

    Attributes:
        arrays: ``observations``/``next_observations`` ``(N, S)`` float32, ``actions`` ``(N, A)``
            float32, ``rewards`` ``(N,)`` float32, ``terminals``/``timeouts`` ``(N,)`` bool, and
            optionally ``infos/qpos`` ``(N, Q)`` / ``infos/qvel`` ``(N, V)`` float64.
        metadata: free-form provenance (``env_id``, ``policy``, ``seed``, library versions, ...).
    """

    arrays: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_arrays(self.arrays, where="dataset")

    def __len__(self) -> int:
        return len(self.arrays["rewards"])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    @property
    def episodes(self) -> np.ndarray:
        """``(E, 2)`` int array of ``[start, stop)`` row ranges, one per episode, in order.

        Examples:
            >>> ds = OfflineDataset(fake_arrays(terminals=[0, 1, 0, 0], timeouts=[0, 0, 0, 1]))
            >>> ds.episodes.tolist()
            [[0, 2], [2, 4]]
        """
        ends = np.flatnonzero(self.arrays["terminals"] | self.arrays["timeouts"]) + 1
        if len(ends) == 0 or ends[-1] != len(self):
            ends = np.append(ends, len(self))  # unfinished last episode
        starts = np.concatenate([[0], ends[:-1]])
        return np.stack([starts, ends], axis=1)

    def episode_returns(self) -> np.ndarray:
        """``(E,)`` undiscounted return of each episode."""
        csum = np.concatenate([[0.0], np.cumsum(self.arrays["rewards"], dtype=np.float64)])
        bounds = self.episodes
        return csum[bounds[:, 1]] - csum[bounds[:, 0]]

    def summary(self) -> dict:
        """Sizes and return statistics; D4RL-normalised scores when the task is known."""
        returns = self.episode_returns()
        lengths = np.diff(self.episodes, axis=1)[:, 0]
        out = {
            "transitions": len(self),
            "episodes": len(returns),
            "terminals": int(self.arrays["terminals"].sum()),
            "timeouts": int(self.arrays["timeouts"].sum()),
            "episode_length_mean": float(lengths.mean()),
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
        }
        env_id = self.metadata.get("env_id")
        if env_id:
            try:
                task = task_for_env(env_id)
            except ValueError:
                return out
            out["normalized_score_mean"] = task.normalized_score(out["return_mean"])
            out["normalized_score_std"] = 100.0 * out["return_std"] / (
                task.expert_return - task.random_return)
        return out


def validate_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    """Check keys, shapes, dtypes and finiteness; raise :class:`DatasetError` naming the key."""
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise DatasetError(f"{where}: missing key {key!r}")
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            raise DatasetError(f"{where}: key {key!r} is not an array of rows")
    n = len(arrays["rewards"])
    if n == 0:
        raise DatasetError(f"{where}: empty dataset (0 transitions)")
    expected_ndim = {"rewards": 1, "terminals": 1, "timeouts": 1}
    for key in (*REQUIRED_KEYS, *(k for k in OPTIONAL_KEYS if k in arrays)):
        value = arrays[key]
        ndim = expected_ndim.get(key, 2)
        if value.ndim != ndim:
            raise DatasetError(f"{where}: key {key!r} has shape {value.shape}, expected {ndim}-D")
        if value.shape[0] != n:
            raise DatasetError(
                f"{where}: key {key!r} has {value.shape[0]} rows but 'rewards' has {n}")
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise DatasetError(f"{where}: key {key!r} has non-numeric dtype {value.dtype}")
        if np.issubdtype(value.dtype, np.floating):
            bad = ~np.isfinite(value)
            if bad.any():
                row = int(np.flatnonzero(bad.reshape(n, -1).any(axis=1))[0])
                raise DatasetError(f"{where}: key {key!r} has NaN or inf (first at row {row})")
    if arrays["observations"].shape[1] != arrays["next_observations"].shape[1]:
        raise DatasetError(
            f"{where}: key 'next_observations' has width {arrays['next_observations'].shape[1]}"
            f" but 'observations' has {arrays['observations'].shape[1]}")


def fake_arrays(terminals: list[int], timeouts: list[int], obs_dim: int = 2,
                act_dim: int = 1) -> dict[str, np.ndarray]:
    """Tiny consistent arrays for doctests and tests: rewards 1, observations count up by one."""
    n = len(terminals)
    obs = np.repeat(np.arange(n + 1, dtype=np.float32)[:, None], obs_dim, axis=1)
    return {"observations": obs[:-1], "next_observations": obs[1:],
            "actions": np.zeros((n, act_dim), np.float32), "rewards": np.ones(n, np.float32),
            "terminals": np.asarray(terminals, bool), "timeouts": np.asarray(timeouts, bool)}
