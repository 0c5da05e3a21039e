"""Run a batch policy in the real MuJoCo env and record D4RL-layout transitions.

Shapes: ``N`` parallel envs, ``S`` observation size, ``A`` action size, ``Q``/``V`` qpos/qvel size.

``collect`` steps N real envs in lockstep with one batched policy call per step; each env runs
whole episodes until it has its share of the transitions, and the output stores env 0's episodes,
then env 1's, and so on: one flat array per key with episodes stored contiguously (the layout
every reader in dreamenv assumes). Given a seed the result is identical on
every run: env ``i`` is reset with ``seed + i`` once and then continues its own generator; the policy
draws its noise from a generator seeded with ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import gymnasium as gym
import numpy as np

from dreamenv._progress import progress


class BatchPolicy(Protocol):
    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def _snapshot(env: gym.Env) -> dict[str, np.ndarray]:
    """The simulator state of a MuJoCo env (``infos/qpos``, ``infos/qvel``); other envs have
    none to record."""
    data = getattr(env.unwrapped, "data", None)
    if data is None or not hasattr(data, "qpos"):
        return {}
    return {"infos/qpos": data.qpos.copy(), "infos/qvel": data.qvel.copy()}


def collect(
    policy: BatchPolicy,
    env_id: str,
    n_transitions: int,
    seed: int,
    n_envs: int = 16,
    desc: str | None = None,
    make_env: Callable[[], gym.Env] | None = None,
) -> dict[str, np.ndarray]:
    """Collect exactly ``n_transitions`` transitions of ``policy`` in ``env_id``.

    The last stored episode is cut at ``n_transitions`` and marked as a timeout, as D4RL does.

    Returns:
        D4RL-layout arrays: observations/next_observations ``(n, S)`` float32, actions ``(n, A)``
        float32, rewards ``(n,)`` float32, terminals/timeouts ``(n,)`` bool, and for a MuJoCo
        env ``infos/qpos`` ``(n, Q)`` and ``infos/qvel`` ``(n, V)`` float64 (the simulator state
        of ``observations``).
    """
    if n_transitions < 1:
        raise ValueError(f"n_transitions must be positive, got {n_transitions}")
    make = make_env or (lambda: gym.make(env_id))
    n_envs = min(n_envs, n_transitions)
    # Each env runs whole episodes until it has its share; its episodes are stored in order and
    # the envs one after another. (Storing episodes in the order they *finish*, across envs,
    # would over-represent short episodes whenever the data is cut.)
    quota = -(-n_transitions // n_envs)
    envs = [make() for _ in range(n_envs)]
    rng = np.random.default_rng(seed)
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    open_eps: list[dict[str, list]] = [{} for _ in envs]
    done_eps: list[list[dict[str, list]]] = [[] for _ in envs]
    stored = np.zeros(n_envs, dtype=np.int64)
    with progress(total=n_envs * quota, desc=desc or f"collect {env_id}", unit="step") as bar:
        while (stored < quota).any():
            active = np.flatnonzero(stored < quota)
            actions = np.asarray(policy.act(obs[active], rng), dtype=np.float32)
            for a, i in zip(actions, active):
                env = envs[i]
                state = _snapshot(env)
                next_obs, reward, terminated, truncated, _ = env.step(a)
                ep = open_eps[i]
                for key, value in (("observations", obs[i].copy()), ("actions", a),
                                   ("next_observations", next_obs), ("rewards", reward),
                                   ("terminals", terminated), ("timeouts", truncated),
                                   *state.items()):
                    ep.setdefault(key, []).append(value)
                if terminated or truncated:
                    done_eps[i].append(ep)
                    stored[i] += len(ep["rewards"])
                    bar.update(len(ep["rewards"]))
                    open_eps[i] = {}
                    next_obs, _ = env.reset()
                obs[i] = next_obs
    for env in envs:
        env.close()
    episodes = [ep for per_env in done_eps for ep in per_env]
    out = {key: np.concatenate([np.asarray(ep[key]) for ep in episodes])[:n_transitions]
           for key in episodes[0]}
    out["timeouts"][-1] = not out["terminals"][-1]
    return _cast(out)


def _cast(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in d.items():
        if key in ("terminals", "timeouts"):
            out[key] = value.astype(bool)
        elif key.startswith("infos/"):
            out[key] = value.astype(np.float64)
        else:
            out[key] = value.astype(np.float32)
    return out


def evaluate_returns(
    policy: BatchPolicy, env_id: str, episodes: int, seed: int
) -> np.ndarray:
    """Undiscounted returns of ``episodes`` full episodes, env ``i`` reset with ``seed + i``."""
    envs = [gym.make(env_id) for _ in range(episodes)]
    rng = np.random.default_rng(seed)
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    returns = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    while alive.any():
        actions = np.asarray(policy.act(obs, rng), dtype=np.float32)
        for i in np.flatnonzero(alive):
            obs[i], reward, terminated, truncated, _ = envs[i].step(actions[i])
            returns[i] += reward
            alive[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    return returns
