"""PPO whose whole loop stays in torch on one device: the tensor-native DyDiff vector env.

``gym.make_vec("DyDiff-Hopper", num_envs=N, tensors=True, device=DEVICE)`` returns observations,
rewards and done flags as tensors on ``DEVICE`` and takes actions as tensors there, so the rollout
buffer, the networks and the update never go through NumPy (on a GPU nothing is copied to the
host but one flag a step). The agent trains only in imagination and is evaluated on the real
env (``Hopper-v5``, or ``--task``'s; NumPy, CPU) every ``--eval-every`` iterations.
CleanRL-style: one file, top to bottom, observation normalisation and reward scaling by running
statistics.

Gymnasium's ``NEXT_STEP`` autoreset: the step that ends an episode returns its final observation
(the value of which bootstraps a truncated episode), and the next step of that row is the reset,
whose transition is left out of the loss.

Run: ``python examples/ppo_on_tensors.py --minutes 10`` (``--task walker2d``; ``--device cuda`` on a
GPU machine)
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv.envs import dream_env_id
from dreamenv.tasks import get_task
from dreamenv.wrappers import UncertaintyPenaltyVector


class RunningNorm(nn.Module):
    """Running mean and variance of a stream of batches (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...], device: torch.device):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, device=device))
        self.register_buffer("var", torch.ones(shape, device=device))
        self.register_buffer("count", torch.tensor(1e-4, device=device))

    def update(self, x: torch.Tensor) -> None:
        mean, var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / torch.sqrt(self.var + 1e-8), -10, 10)


class Agent(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, hidden: int = 64):
        super().__init__()
        self.norm = RunningNorm((obs_dim,), device)
        self.actor = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh(),
                                   nn.Linear(hidden, act_dim))
        self.critic = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(),
                                    nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.log_std = nn.Parameter(torch.full((act_dim,), -0.5))
        self.to(device)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.norm(obs))[:, 0]

    def policy(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.actor(self.norm(obs)), self.log_std.exp())


def evaluate(agent: Agent, env_id: str, episodes: int, seed: int, device: torch.device) -> float:
    """Mean return of the deterministic policy in the real env."""
    env, returns = gym.make(env_id), []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)[None]
                action = agent.actor(agent.norm(obs_t))[0].clamp(-1, 1).cpu().numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="hopper", help="hopper, walker2d or halfcheetah")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--rollout", type=int, default=64, help="steps per env per iteration")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=0, help="stop after these (0: time)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--minibatches", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--gae-lambda", type=float, default=0.95)
    parser.add_argument("--clip", type=float, default=0.2)
    parser.add_argument("--uncertainty-penalty", type=float, default=0.0,
                        help="MOPO's lambda: train on reward - lambda * info['uncertainty']")
    parser.add_argument("--no-obs-norm", action="store_true",
                        help="feed raw observations (no running mean/std normalisation)")
    parser.add_argument("--no-reward-scale", action="store_true",
                        help="train on raw rewards (no scaling by the discounted return's std)")
    parser.add_argument("--eval-every", type=int, default=10, help="iterations")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    real_id = get_task(args.task).env_id
    envs = gym.make_vec(dream_env_id(args.task), num_envs=args.num_envs, tensors=True,
                        device=device)
    if args.uncertainty_penalty:  # the wrapper keeps tensors
        envs = UncertaintyPenaltyVector(envs, args.uncertainty_penalty)
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    agent = Agent(obs_dim, act_dim, device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.lr, eps=1e-5)
    return_norm = RunningNorm((), device)  # scales rewards by the spread of discounted returns
    shape = (args.rollout, args.num_envs)
    buffers = {name: torch.zeros(*shape, *extra, device=device) for name, extra in
               (("obs", (obs_dim,)), ("actions", (act_dim,)), ("logp", ()), ("rewards", ()),
                ("values", ()), ("terminated", ()), ("done", ()), ("valid", ()))}
    obs, _ = envs.reset(seed=args.seed)
    was_done = torch.zeros(args.num_envs, dtype=torch.bool, device=device)
    discounted = torch.zeros(args.num_envs, device=device)
    episode_return = torch.zeros(args.num_envs, device=device)
    ended_sum = torch.zeros((), device=device)  # returns of the episodes ended since the
    ended_count = torch.zeros((), device=device)  # last report (no per-step read-back)
    start, steps, iteration = time.perf_counter(), 0, 0
    while True:
        # 1. Roll out in imagination; every tensor stays on the device.
        for t in range(args.rollout):
            with torch.no_grad():
                dist = agent.policy(obs)
                action = dist.sample()
                buffers["obs"][t], buffers["actions"][t] = obs, action
                buffers["logp"][t] = dist.log_prob(action).sum(-1)
                buffers["values"][t] = agent.value(obs)
            obs, reward, terminated, truncated, _ = envs.step(action.clamp(-1, 1))
            done = terminated | truncated
            buffers["valid"][t] = (~was_done).float()  # a reset step is no transition
            discounted = discounted * args.gamma * (~was_done) + reward
            return_norm.update(discounted)
            buffers["rewards"][t] = (reward if args.no_reward_scale
                                     else reward / torch.sqrt(return_norm.var + 1e-8))
            buffers["terminated"][t], buffers["done"][t] = terminated.float(), done.float()
            episode_return += reward  # 0 on a reset step
            ended_sum += (episode_return * done).sum()
            ended_count += done.sum()
            episode_return = torch.where(done, 0.0, episode_return)
            was_done = done
        steps += args.rollout * args.num_envs

        # 2. Generalised advantage estimates; a done step cuts the trace. The observation after
        # a truncated step is the episode's final one (NEXT_STEP), so its value bootstraps it.
        with torch.no_grad():
            next_value = agent.value(obs)
            advantages = torch.zeros(shape, device=device)
            last = torch.zeros(args.num_envs, device=device)
            for t in reversed(range(args.rollout)):
                following = next_value if t == args.rollout - 1 else buffers["values"][t + 1]
                delta = (buffers["rewards"][t] + args.gamma * following
                         * (1 - buffers["terminated"][t]) - buffers["values"][t])
                last = delta + args.gamma * args.gae_lambda * (1 - buffers["done"][t]) * last
                advantages[t] = last
            returns = advantages + buffers["values"]

        # 3. Clipped surrogate updates on minibatches of the valid transitions.
        keep = buffers["valid"].flatten().bool()
        data = {k: v.flatten(0, 1)[keep] for k, v in buffers.items()}
        adv = advantages.flatten()[keep]
        data["advantages"] = (adv - adv.mean()) / (adv.std() + 1e-8)
        data["returns"] = returns.flatten()[keep]
        for _ in range(args.epochs):
            order = torch.randperm(len(data["obs"]), device=device)
            for rows in torch.tensor_split(order, args.minibatches):
                if not len(rows):  # fewer transitions than minibatches
                    continue
                dist = agent.policy(data["obs"][rows])
                ratio = (dist.log_prob(data["actions"][rows]).sum(-1) - data["logp"][rows]).exp()
                adv = data["advantages"][rows]
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - args.clip,
                                                                  1 + args.clip) * adv).mean()
                value_loss = 0.5 * ((agent.value(data["obs"][rows]) - data["returns"][rows])
                                    ** 2).mean()
                optimizer.zero_grad()
                (policy_loss + 0.5 * value_loss).backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimizer.step()
        if not args.no_obs_norm:  # after the update: its ratios start at 1
            agent.norm.update(data["obs"])
        iteration += 1

        elapsed = time.perf_counter() - start
        over = (iteration >= args.iterations if args.iterations else
                elapsed >= args.minutes * 60)
        if iteration % args.eval_every == 0 or over:
            imagined = (ended_sum / ended_count).item() if ended_count else float("nan")
            ended_sum.zero_()
            ended_count.zero_()
            real = evaluate(agent, real_id, args.eval_episodes, 10_000, device)
            print(f"iteration {iteration}: {steps:,} imagined steps ({steps / elapsed:,.0f}/s), "
                  f"imagined return {imagined:.1f}, real {real_id} return {real:.1f}",
                  flush=True)
        if over:
            break


if __name__ == "__main__":
    main()
