"""The README's DyDiff-Hopper example: a single env and a 1024-wide vector env, no training.

Run: ``python examples/quickstart_env.py``
"""

import gymnasium as gym

import dreamenv  # noqa: F401  (registers DyDiff-Hopper)

env = gym.make("DyDiff-Hopper")  # the shipped diffusion model
obs, info = env.reset(seed=0)  # the same observation as gym.make("Hopper-v5").reset(seed=0)
episode_return = 0.0
for t in range(1000):
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    episode_return += reward
    if terminated or truncated:
        break
print(f"{t + 1} steps, return {episode_return:.1f}, uncertainty {info['uncertainty']:.3f}")

envs = gym.make_vec("DyDiff-Hopper", num_envs=1024)  # one batched model call per step
obs, infos = envs.reset(seed=0)
obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
print(type(envs).__name__, obs.shape, rewards.shape)
