"""A drop-in for ``gymnasium_robotics.mamujoco_v1``, simulated by the learned model.

``from dreamenv.multiagent import mamujoco_v1`` in place of ``from gymnasium_robotics import
mamujoco_v1``: the same constructors (``parallel_env``, ``raw_parallel_env``, ``env``) with the
same arguments, plus the DyDiff env's (``model=``, ``denoising_steps=``, ...). Only scenarios with
a DyDiff env work (``Hopper``, ``Walker2d``, ``HalfCheetah``); others are a one-line
``ValueError``.
"""

from dreamenv.multiagent import env, parallel_env, raw_parallel_env

__all__ = ["env", "parallel_env", "raw_parallel_env"]
