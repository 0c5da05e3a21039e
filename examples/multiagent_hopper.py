"""MaMuJoCo's Hopper as three agents (one per joint), stepping inside the learned model.

The env is a PettingZoo ParallelEnv with MaMuJoCo's agents, spaces and observations; here the
shipped medium policy plays as a team (its action split among the agents) in the learned env
and in real MaMuJoCo from the same seed, then 256 team episodes run in one batched env.
Needs the multiagent extra: pip install -e ".[multiagent]".
"""

import numpy as np
from gymnasium_robotics import mamujoco_v1

from dreamenv import multiagent
from dreamenv.behaviour import behaviour_policy

policy = behaviour_policy("hopper", "medium", deterministic=True)
rng = np.random.default_rng(0)

returns = {}
for name, env in {"learned": multiagent.parallel_env("Hopper", "3x1"),
                  "real": mamujoco_v1.parallel_env("Hopper", "3x1")}.items():
    observations, infos = env.reset(seed=0)
    total = 0.0
    while env.agents:
        joint = policy.act(env.state()[None], rng)[0]  # the team acts on the whole body's state
        actions = {"agent_0": joint[0:1], "agent_1": joint[1:2], "agent_2": joint[2:3]}
        observations, rewards, terminations, truncations, infos = env.step(actions)
        total += rewards["agent_0"]  # every agent gets the body's reward
    returns[name] = total
    env.close()
print(f"medium policy as a 3-agent team: learned return {returns['learned']:.0f}, "
      f"real MaMuJoCo return {returns['real']:.0f}")

vec = multiagent.vector_parallel_env(256, "Hopper", "3x1")
observations, infos = vec.reset(seed=0)
for _ in range(10):
    actions = {a: rng.uniform(-1, 1, (vec.num_envs, 1)).astype(np.float32) for a in vec.agents}
    observations, rewards, terminations, truncations, infos = vec.step(actions)
print("DreamParallelVecEnv", {a: o.shape for a, o in observations.items()})
