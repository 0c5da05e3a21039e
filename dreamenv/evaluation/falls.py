"""Why a learned env keeps a falling gait upright, or makes a steady gait fall: measured along the
real episodes of one policy.

Shapes: ``K`` episodes, ``T`` steps, ``S`` state size; ``N`` transitions of all episodes together.

The termination rule is exact (the task's own health check on the imagined state, e.g.
Hopper-v5's), so every wrong fall or missed fall comes from the imagined *state*: its height
``z = obs[0]`` and torso angle ``obs[1]`` relative to the thresholds (tasks whose body can fall:
Hopper, Walker2d). Four measurements, from local to global:

1. **one step**: from every real state with its real history and the real action, ``draws``
   model samples of the next state. Their error in ``z`` and angle (bias and spread), binned by
   the number of steps until the real episode falls; the probability that a sample trips the rule
   on the real falling transition (fall recall) and on every other transition (the false-fall
   hazard per step: a hazard ``h`` over 1000 steps falls a steady gait with probability
   ``1 - (1 - h)^1000``);
2. **health margin**: how close the real states come to the thresholds (for Hopper ``z - 0.7``
   and ``0.2 - |angle|``), against the model's one-step spread;
3. **k steps, open loop**: from ``k`` steps before the real fall, replaying the real actions,
   does the imagined trajectory fall by the real fall step? And from states of episodes that do
   not fall, does it fall within ``k`` steps?
4. **closed loop**: the same policy and seed in the learned env: its episode lengths, and the
   step where the imagined and the real trajectory part;
5. **noise floor**: how precise must a model be for this policy? The real env, with every state
   dimension kicked after each step by Gaussian noise of a fraction of its spread, against the
   model's own one-step error in the same units (``one_step_error_over_std``). A steady gait near
   the angle limit can fall from per-step errors far below anything a plot of one step shows.
   The same kicks in the learned env (``learned_noise_floor``) say how forgiving the model is:
   a gait it keeps up under kicks that fell it in the real env is one an agent can exploit.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from dreamenv._atomic import atomic_path
from dreamenv.evaluation.compare import as_policy, run_matched
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.models.history import dataset_windows
from dreamenv.envs import dream_env_id
from dreamenv.tasks import Locomotion, Task, get_task

STEPS_TO_FALL_BINS = ((1, 1), (2, 5), (6, 20), (21, 100), (101, None))
HORIZONS = (1, 5, 10, 25, 50, 100)
NOISE_LEVELS = (0.0, 0.001, 0.003, 0.01, 0.03)  # per-step kicks, in units of each dim's spread


def real_episodes(policy: object, episodes: int, seed: int, max_steps: int,
                  env_id: str = "Hopper-v5") -> dict[str, np.ndarray]:
    """``episodes`` real episodes of ``policy``, episode ``k`` from seed ``seed + k``, in one
    flat layout: ``obs``, ``actions``, ``next_obs`` ``(N, .)``, ``terminal`` ``(N,)``,
    ``episode`` ``(N,)`` (which episode), ``start`` ``(N,)`` (its first row), ``steps_left``
    ``(N,)`` (steps to the episode's end, 1 on its last transition)."""
    policy = as_policy(policy)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("obs", "actions", "next_obs", "terminal",
                                              "episode")}
    env = gym.make(env_id, max_episode_steps=max_steps)
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        done = False
        while not done:
            action = np.asarray(policy.act(obs[None], rng), dtype=np.float32)[0]
            next_obs, _, terminated, truncated, _ = env.step(action)
            for key, value in (("obs", obs), ("actions", action), ("next_obs", next_obs),
                               ("terminal", terminated), ("episode", k)):
                rows[key].append(value)
            obs, done = next_obs, terminated or truncated
    env.close()
    out = {k: np.asarray(v) for k, v in rows.items()}
    first = np.flatnonzero(np.r_[True, out["episode"][1:] != out["episode"][:-1]])
    out["start"] = first[out["episode"]]
    ends = np.r_[first[1:], len(out["episode"])]
    out["steps_left"] = ends[out["episode"]] - np.arange(len(out["episode"]))
    return out


def one_step(model: object, data: dict[str, np.ndarray], draws: int = 8, seed: int = 0
             ) -> dict[str, np.ndarray]:
    """``draws`` one-step samples per real transition: ``(N, draws, S)`` next states."""
    n = len(data["obs"])
    history = dataset_windows(data["obs"].astype(np.float32), data["actions"], data["start"],
                              np.arange(n), model.history_len)
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(draws):
        pred = model.predict(history, torch.as_tensor(data["actions"]), generator)
        samples.append(pred.next_state.numpy())
    return np.stack(samples, 1)


def noise_floor(policy: object, state_std: np.ndarray, levels: tuple[float, ...] = NOISE_LEVELS,
                episodes: int = 10, seed: int = 0, max_steps: int = 1000,
                env_id: str = "Hopper-v5") -> dict[str, float]:
    """The real env's fall fraction, per level, when after every step each state dimension is
    kicked by Gaussian noise of ``level * state_std``: the per-step error at which ``policy``
    falls with no model involved. Episode ``k`` starts from seed ``seed + k`` at every level.

    The observation is ``qpos[1:]`` then ``qvel`` (Hopper-v5's layout); the kick goes into the
    simulator's state, so the next step starts from the kicked state."""
    env = gym.make(env_id, max_episode_steps=max_steps)
    body = env.unwrapped
    n_pos = body.model.nq - 1  # x is not observed

    def kick(delta: np.ndarray) -> np.ndarray:
        qpos, qvel = body.data.qpos.copy(), body.data.qvel.copy()
        qpos[1:] += delta[:n_pos]
        qvel += delta[n_pos:]
        body.set_state(qpos, qvel)
        return body._get_obs()  # the env's own observation of the kicked state

    try:
        return _kicked_falls(env, kick, policy, state_std, levels, episodes, seed)
    finally:
        env.close()


def learned_noise_floor(policy: object, model: object, state_std: np.ndarray,
                        levels: tuple[float, ...] = NOISE_LEVELS, episodes: int = 10,
                        seed: int = 0, max_steps: int = 1000, task: str = "hopper"
                        ) -> dict[str, float]:
    """:func:`noise_floor` in the learned env: the same kicks, from the same seeds, added to the
    imagined state, which the model continues from. Beside the real env's it says how
    forgiving the model is: a model that keeps a gait up under kicks that fell it in the real
    env is more stable than the body it learned, and an agent trained in it can rely on that."""
    env = gym.make(dream_env_id(task), model=model, max_episode_steps=max_steps,
                   precision="float32")
    core = env.unwrapped.core
    row = np.array([0])
    try:
        return _kicked_falls(env, lambda delta: core.kick_rows(row, delta[None])[0], policy,
                             state_std, levels, episodes, seed)
    finally:
        env.close()


def _kicked_falls(env: gym.Env, kick, policy: object, state_std: np.ndarray,
                  levels: tuple[float, ...], episodes: int, seed: int) -> dict[str, float]:
    """Fall fraction per level of ``policy`` in ``env`` when ``kick(delta) -> obs`` pushes the
    state by ``delta`` after every step that did not end the episode."""
    policy = as_policy(policy)
    out = {}
    for level in levels:
        rng = np.random.default_rng(seed)
        falls = 0
        for k in range(episodes):
            obs, _ = env.reset(seed=seed + k)
            while True:
                action = np.asarray(policy.act(obs[None], rng), dtype=np.float32)[0]
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    falls += int(terminated)
                    break
                if level > 0:
                    obs = kick(rng.normal(0.0, level, len(state_std)) * state_std)
        out[str(level)] = falls / episodes
    return out


def open_loop_falls(model: object, data: dict[str, np.ndarray], starts: np.ndarray,
                    horizon: int, seed: int = 0, task: str = "hopper") -> np.ndarray:
    """From each row in ``starts``, replay that episode's real actions for ``horizon`` steps (or
    to its end): ``(len(starts),)`` bool, whether the imagined trajectory fell on the way."""
    history = dataset_windows(data["obs"].astype(np.float32), data["actions"], data["start"],
                              starts, model.history_len)
    generator = torch.Generator().manual_seed(seed)
    steps = np.minimum(horizon, data["steps_left"][starts])
    fell = np.zeros(len(starts), dtype=bool)
    for k in range(int(steps.max())):
        rows = np.where(k < steps, starts + k, starts)
        action = torch.as_tensor(data["actions"][rows])
        pred = model.predict(history, action, generator)
        fell |= get_task(task).terminated(pred.next_state.numpy()) & (k < steps)
        history = history.push(action, pred.next_state.nan_to_num(0.0, 1e3, -1e3))
    return fell


def _falling_task(task: str) -> Task:
    found = get_task(task)
    if found.body is None or found.body.healthy_z is None:
        raise ValueError(f"{found.env_id} cannot fall: no falls to diagnose")
    return found


def diagnose(policy: object, model: object = None, episodes: int = 10, seed: int = 0,
             max_steps: int = 1000, draws: int = 8, task: str = "hopper") -> dict:
    """All five measurements (module docstring) for one policy; JSON-ready."""
    body = _falling_task(task).body
    env_id = get_task(task).env_id
    if model is None or isinstance(model, (str, Path)):
        model = load_checkpoint(model or pretrained_path(task), env_id)[0]
    data = real_episodes(policy, episodes, seed, max_steps, env_id)
    samples = one_step(model, data, draws, seed)  # (N, draws, S)
    falls_pred = get_task(task).terminated(samples.reshape(-1, samples.shape[-1])).reshape(
        samples.shape[:2]).mean(1)  # (N,) probability that a sample trips the rule
    terminal = data["terminal"]
    fell_eps = np.unique(data["episode"][terminal])
    in_falling = np.isin(data["episode"], fell_eps)
    to_fall = np.where(in_falling, data["steps_left"], 10**9)
    err = samples[..., :2] - data["next_obs"][:, None, :2]  # (N, draws, 2): z and angle
    report: dict = {"episodes": episodes, "transitions": int(len(terminal)),
                    "real_falls": int(terminal.sum()), "draws": draws}

    # 1. One-step error and fall probability by steps until the real fall.
    bins = {}
    for lo, hi in STEPS_TO_FALL_BINS:
        sel = (to_fall >= lo) & (to_fall <= (hi if hi is not None else 10**9 - 1))
        if not sel.any():
            continue
        e = err[sel]
        bins[f"{lo}-{hi}" if hi else f">{lo - 1}"] = {
            "transitions": int(sel.sum()),
            "z_bias": float(e[..., 0].mean()), "z_spread": float(e[..., 0].std(1).mean()),
            "angle_bias": float(e[..., 1].mean()),
            "angle_spread": float(e[..., 1].std(1).mean()),
            "predicted_fall_probability": float(falls_pred[sel].mean())}
    never = to_fall >= 10**9
    if never.any():
        e = err[never]
        bins["never falls"] = {
            "transitions": int(never.sum()), "z_bias": float(e[..., 0].mean()),
            "z_spread": float(e[..., 0].std(1).mean()), "angle_bias": float(e[..., 1].mean()),
            "angle_spread": float(e[..., 1].std(1).mean()),
            "predicted_fall_probability": float(falls_pred[never].mean())}
    report["one_step_by_steps_to_fall"] = bins
    hazard = float(falls_pred[~terminal].mean())
    report["fall_recall"] = float(falls_pred[terminal].mean()) if terminal.any() else None
    report["false_fall_hazard_per_step"] = hazard
    report["false_fall_probability_1000_steps"] = float(1 - (1 - hazard) ** 1000)

    # 1b. The same samples over all dimensions, in units of each dimension's spread.
    std = model.state_norm.std.numpy()
    scaled = (samples - data["next_obs"][:, None]) / std  # (N, draws, S)
    report["one_step_error_over_std"] = {
        "total": float(np.sqrt((scaled**2).mean())),
        "bias": float(np.sqrt((scaled.mean(1) ** 2).mean())),
        "per_dim": np.sqrt((scaled**2).mean((0, 1))).round(5).tolist()}

    # 2. What the termination rule sees: how close real states come to the thresholds.
    real_next = data["next_obs"]
    fallen = body.fallen_by(real_next)
    report["real_reason"] = {k: int((terminal & hit).sum()) for k, hit in fallen.items()}
    steady = ~terminal
    margin = body.health_margin(real_next[steady])
    report["health_margin"] = {
        "z_min_margin_q01": float(np.quantile(margin["z"], 0.01)),
        "angle_min_margin_q01": float(np.quantile(margin["angle"], 0.01)),
        "one_step_angle_spread": float(err[steady][..., 1].std(1).mean()),
        "one_step_z_spread": float(err[steady][..., 0].std(1).mean())}

    # 3. Open loop over k steps: before real falls, and from states of non-falling episodes.
    fall_rows = np.flatnonzero(terminal)
    rng = np.random.default_rng(seed)
    steady_rows = np.flatnonzero(~in_falling)
    report["open_loop"] = {}
    for k in HORIZONS:
        entry = {}
        before = fall_rows - (k - 1)
        before = before[before >= data["start"][fall_rows]]
        if len(before):
            entry["fall_recall"] = float(
                open_loop_falls(model, data, before, k, seed, task).mean())
        starts = steady_rows[data["steps_left"][steady_rows] >= k]
        if len(starts):
            starts = rng.choice(starts, min(256, len(starts)), replace=False)
            entry["false_fall_rate"] = float(
                open_loop_falls(model, data, starts, k, seed, task).mean())
        report["open_loop"][k] = entry

    # 4. Closed loop, seed-matched: lengths and where the trajectories part.
    real_env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="sync",
                            max_episode_steps=max_steps)
    learned_env = gym.make_vec(dream_env_id(task), num_envs=episodes, model=model,
                               max_episode_steps=max_steps, precision="float32")
    _, real_len, real_states = run_matched(real_env, policy, seed, max_steps)
    _, learned_len, learned_states = run_matched(learned_env, policy, seed, max_steps)
    dist = np.sqrt(np.mean(((learned_states - real_states) / std) ** 2, axis=2))  # (K, T+1)
    parted = [int(np.argmax(row > 1.0)) if (row > 1.0).any() else None for row in dist]
    report["closed_loop"] = {"real_lengths": real_len.tolist(),
                             "real_end_reason": _end_reasons(real_states, real_len, max_steps,
                                                             body),
                             "learned_end_reason": _end_reasons(learned_states, learned_len,
                                                                max_steps, body),
                             "learned_lengths": learned_len.tolist(),
                             "parting_step": parted,
                             "learned_max_abs_angle": np.nanmax(
                                 np.abs(learned_states[..., 1]), axis=1).round(3).tolist(),
                             "real_max_abs_angle": np.nanmax(
                                 np.abs(real_states[..., 1]), axis=1).round(3).tolist(),
                             "z_quantiles": _quantiles(real_states[..., 0],
                                                       learned_states[..., 0]),
                             "abs_angle_quantiles": _quantiles(np.abs(real_states[..., 1]),
                                                               np.abs(learned_states[..., 1]))}
    # 5. The noise floor: falls under per-step kicks of the model's size, real and learned.
    report["noise_floor"] = noise_floor(policy, std, episodes=episodes, seed=seed,
                                        max_steps=max_steps, env_id=env_id)
    report["learned_noise_floor"] = learned_noise_floor(policy, model, std, episodes=episodes,
                                                        seed=seed, max_steps=max_steps,
                                                        task=task)
    report["health_limits"] = {name: [v for v in limits if np.isfinite(v)]
                               for name, limits in (("z", body.healthy_z),
                                                    ("angle", body.healthy_angle))}
    first = data["episode"] == 0
    # The real trace is the episode the one-step samples were taken along (a batched policy
    # call rounds differently from a single one, so the closed-loop real runs part from it
    # after some hundred steps: the real dynamics are chaotic too).
    real_trace = np.concatenate([data["obs"][first][:1], data["next_obs"][first]])[:, :2]
    report["_trace"] = {"real": real_trace.tolist(),
                        "learned": learned_states[0, :, :2].tolist(),
                        "one_step": samples[first][..., :2].tolist()}
    return report


def _end_reasons(states: np.ndarray, lengths: np.ndarray, max_steps: int,
                 body: Locomotion) -> list[str]:
    """Per episode: which rule ended it (``z``, ``angle``, ``z+angle``, ``other``), or
    ``time limit``."""
    reasons = []
    for row, n in zip(states, lengths):
        if n >= max_steps:
            reasons.append("time limit")
            continue
        parts = [name for name, hit in body.fallen_by(row[n][None]).items() if hit[0]]
        reasons.append("+".join(parts) or "other")
    return reasons


def _quantiles(real: np.ndarray, learned: np.ndarray, qs=(0.01, 0.5, 0.99)) -> dict:
    """Quantiles over all visited steps (NaN after an episode's end is skipped)."""
    return {name: {str(q): round(float(np.nanquantile(x, q)), 4) for q in qs}
            for name, x in (("real", real), ("learned", learned))}


def write_report(report: dict, out_dir: str | Path, label: str) -> Path:
    """``falls-LABEL.json`` and ``falls-LABEL.png`` (episode 0: real, learned closed loop and the
    one-step samples of z and angle, with the thresholds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trace = report.pop("_trace")
    with atomic_path(out_dir / f"falls-{label}.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    fig = plt.figure(figsize=(10, 8.5))
    grid = fig.add_gridspec(3, 1, height_ratios=(1, 1, 0.9))
    axes = [fig.add_subplot(grid[0])]
    axes.append(fig.add_subplot(grid[1], sharex=axes[0]))
    real, learned = np.asarray(trace["real"]), np.asarray(trace["learned"])
    one = np.asarray(trace["one_step"])  # (T, draws, 2)
    limits_of = report["health_limits"]
    for i, (ax, name, limits) in enumerate(zip(axes, ("height z", "torso angle"),
                                               (limits_of["z"], limits_of["angle"]))):
        t = np.arange(1, len(one) + 1)
        ax.fill_between(t, one[:, :, i].min(1), one[:, :, i].max(1), color="C1", alpha=0.3,
                        label="model, one step from the real state (range of samples)")
        ax.plot(real[:, i], "k", lw=1, label="real")
        ax.plot(learned[:, i], "C0", lw=1, label="learned env, closed loop, same seed")
        for limit in limits:
            ax.axhline(limit, color="r", ls=":", lw=1)
        ax.set_ylabel(name)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("step (episode 0)")
    axes[0].set_title(f"{label}: what the termination rule sees")
    _plot_noise_floor(fig.add_subplot(grid[2]), report)
    fig.tight_layout()
    with atomic_path(out_dir / f"falls-{label}.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out_dir


def _plot_noise_floor(ax, report: dict) -> None:
    """Fall fraction against the per-step kick, real and learned env, with the model's one-step
    error marked."""
    for key, style, name in (("noise_floor", "ko-", "real env"),
                             ("learned_noise_floor", "C0s--", "learned env")):
        floor = report.get(key)  # reports from before the learned env's floor lack it
        if floor:
            shown = [max(float(k), 1e-4) for k in floor]  # the unkicked env at the left edge
            ax.plot(shown, list(floor.values()), style, label=f"{name}, kicked every step")
    error = report["one_step_error_over_std"]
    ax.axvline(error["total"], color="C1", label=f"model's one-step error ({error['total']:.3f})")
    ax.axvline(error["bias"], color="C1", ls="--", label=f"its bias ({error['bias']:.3f})")
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("per-step Gaussian kick, fraction of each state dim's spread (1e-4: none)")
    ax.set_ylabel("fall fraction")
    ax.legend(fontsize=7)
