"""Side-by-side video: one policy in the real env (left, e.g. Hopper-v5) and in its learned env
(right, e.g. DyDiff-Hopper).

Both envs start from the same seed, so they start from the same observation; the policy then acts
on each env's own observations (the deterministic ``tanh(mean)`` action), and the video shows
where the imagined body parts ways with the real one. An episode that ends holds its last frame,
greyed out. ``.mp4`` needs ``imageio-ffmpeg`` (``pip install imageio-ffmpeg``); ``.gif`` needs
only Pillow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")  # headless machines; set before MuJoCo picks a backend

import gymnasium as gym  # noqa: E402

import dreamenv  # noqa: E402,F401
from dreamenv._progress import progress  # noqa: E402
from dreamenv.behaviour import behaviour_policy  # noqa: E402
from dreamenv.envs import dream_env_id  # noqa: E402
from dreamenv.tasks import get_task  # noqa: E402


def _label(frame: np.ndarray, text: str, ended: bool) -> np.ndarray:
    from PIL import Image, ImageDraw

    if ended:
        frame = (0.4 * frame + 0.6 * 128).astype(np.uint8)
    image = Image.fromarray(frame)
    ImageDraw.Draw(image).text((8, 8), text, fill=(0, 0, 0))
    return np.asarray(image)


def side_by_side(out: str | Path, policy: str = "expert", seed: int = 0, steps: int = 300,
                 model: str | None = None, size: int = 320, task: str = "hopper") -> dict:
    """Write the video to ``out`` and return both episodes' returns and lengths."""
    out = Path(out)
    if out.suffix not in (".mp4", ".gif"):
        raise ValueError(f"{out}: video must end in .mp4 or .gif")
    actor = behaviour_policy(task, policy, deterministic=True)
    rng = np.random.default_rng(seed)
    real_id, learned_id = get_task(task).env_id, dream_env_id(task)
    envs = {f"real {real_id}": gym.make(real_id, render_mode="rgb_array", width=size,
                                        height=size),
            learned_id: gym.make(learned_id, model=model, render_mode="rgb_array",
                                 width=size, height=size)}
    obs = {name: env.reset(seed=seed)[0] for name, env in envs.items()}
    ended = {name: False for name in envs}
    returns = {name: 0.0 for name in envs}
    lengths = {name: 0 for name in envs}
    last = {name: env.render() for name, env in envs.items()}
    frames = []
    for _ in progress(iterable=range(steps), desc="video", unit="step"):
        for name, env in envs.items():
            if ended[name]:
                continue
            action = actor.act(obs[name][None], rng)[0]
            obs[name], reward, terminated, truncated, _ = env.step(action)
            returns[name] += float(reward)
            lengths[name] += 1
            ended[name] = terminated or truncated
            last[name] = env.render()
        frames.append(np.concatenate(
            [_label(last[n], f"{n}  t={lengths[n]}  return={returns[n]:.0f}", ended[n])
             for n in envs], axis=1))
        if all(ended.values()):
            break
    fps = envs[learned_id].metadata["render_fps"]
    _write(out, frames, fps)
    for env in envs.values():
        env.close()
    return {"video": str(out), "policy": policy, "seed": seed,
            "returns": returns, "lengths": lengths}


def _write(out: Path, frames: list[np.ndarray], fps: int) -> None:
    """Write frames atomically (temp file, then rename)."""
    import imageio.v2 as imageio

    from dreamenv._atomic import atomic_path

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if out.suffix == ".gif":
            imageio.mimsave(tmp, frames[::2], duration=2000 / fps, loop=0)
        else:
            try:
                imageio.mimsave(tmp, frames, fps=fps, macro_block_size=8)
            except (ImportError, ValueError, RuntimeError) as e:
                raise ValueError(f"{out}: cannot write mp4 ({e}); pip install imageio-ffmpeg or "
                                 "ask for a .gif") from None
