"""A compact SAC that never touches the real simulator while training, in one file.

It trains on ``gym.make_vec("DyDiff-Hopper", num_envs=N)`` (N imagined hoppers, one batched model
call per step) and evaluates on the real ``Hopper-v5`` every ``--eval-every`` env steps. Plain
PyTorch; the only dreamenv line is the ``import dreamenv`` that registers the env.

Run: ``python examples/sac_in_imagination.py --steps 100000``  (about an hour on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import copy
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dreamenv  # noqa: F401  (registers DyDiff-Hopper)


def mlp(inp: int, out: int, hidden: int = 256) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, out))


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim)

    def forward(self, obs: torch.Tensor, deterministic: bool = False):
        mean, log_std = self.net(obs).chunk(2, -1)
        if deterministic:
            return torch.tanh(mean), None
        std = log_std.clamp(-5, 2).exp()
        u = mean + std * torch.randn_like(mean)
        logp = (-0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * np.log(2 * np.pi)).sum(-1)
        logp -= (2 * (np.log(2) - u - F.softplus(-2 * u))).sum(-1)  # tanh correction
        return torch.tanh(u), logp


def evaluate(actor: Actor, episodes: int, seed: int) -> float:
    env = gym.make("Hopper-v5")
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs, dtype=torch.float32), True)[0].numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=100_000, help="imagined env steps in all")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--start-steps", type=int, default=5_000, help="random actions first")
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    envs = gym.make_vec("DyDiff-Hopper", num_envs=args.num_envs)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    actor = Actor(obs_dim, act_dim)
    critics = nn.ModuleList([mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)])
    targets = copy.deepcopy(critics)
    log_alpha = torch.zeros(1, requires_grad=True)
    opt_actor = torch.optim.Adam(actor.parameters(), lr=3e-4)
    opt_critic = torch.optim.Adam(critics.parameters(), lr=1e-3)
    opt_alpha = torch.optim.Adam([log_alpha], lr=3e-4)
    gamma, tau, batch = 0.99, 0.005, 256

    size = args.steps
    buf = {"obs": np.zeros((size, obs_dim), np.float32),
           "act": np.zeros((size, act_dim), np.float32), "rew": np.zeros(size, np.float32),
           "next": np.zeros((size, obs_dim), np.float32), "done": np.zeros(size, np.float32)}
    n = 0
    obs, _ = envs.reset(seed=args.seed)
    autoreset = np.zeros(args.num_envs, dtype=bool)  # NEXT_STEP autoreset: skip reset steps
    start, next_eval = time.time(), args.eval_every
    while n < size:
        if n < args.start_steps:
            action = rng.uniform(-1, 1, (args.num_envs, act_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs, dtype=torch.float32))[0].numpy()
        next_obs, reward, terminated, truncated, _ = envs.step(action)
        for i in np.flatnonzero(~autoreset)[: size - n]:
            buf["obs"][n], buf["act"][n], buf["rew"][n] = obs[i], action[i], reward[i]
            buf["next"][n], buf["done"][n] = next_obs[i], terminated[i]
            n += 1
        autoreset = terminated | truncated
        obs = next_obs

        if n >= args.start_steps:
            for _ in range(args.num_envs):  # one update per imagined step
                idx = rng.integers(0, n, batch)
                o, a, r, o2, d = (torch.as_tensor(buf[k][idx])
                                  for k in ("obs", "act", "rew", "next", "done"))
                alpha = log_alpha.exp().detach()
                with torch.no_grad():
                    a2, logp2 = actor(o2)
                    q2 = torch.min(*(t(torch.cat([o2, a2], -1)) for t in targets)).squeeze(-1)
                    y = r + gamma * (1 - d) * (q2 - alpha * logp2)
                q_loss = sum(F.mse_loss(c(torch.cat([o, a], -1)).squeeze(-1), y) for c in critics)
                opt_critic.zero_grad()
                q_loss.backward()
                opt_critic.step()
                a_new, logp = actor(o)
                q_new = torch.min(*(c(torch.cat([o, a_new], -1)) for c in critics)).squeeze(-1)
                actor_loss = (alpha * logp - q_new).mean()
                opt_actor.zero_grad()
                actor_loss.backward()
                opt_actor.step()
                alpha_loss = -(log_alpha * (logp.detach() - act_dim)).mean()
                opt_alpha.zero_grad()
                alpha_loss.backward()
                opt_alpha.step()
                with torch.no_grad():
                    for t, c in zip(targets.parameters(), critics.parameters()):
                        t.lerp_(c, tau)

        if n >= next_eval or n >= size:
            real = evaluate(actor, args.eval_episodes, seed=10_000)
            print(f"{n:>8} imagined steps  {time.time() - start:6.0f} s  "
                  f"real Hopper-v5 return {real:8.1f}", flush=True)
            next_eval += args.eval_every


if __name__ == "__main__":
    main()
