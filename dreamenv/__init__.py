"""dreamenv: Gymnasium environments that step inside a learned diffusion dynamics model.

``import dreamenv`` registers ``DyDiff-Hopper``, ``DyDiff-Walker2d``, ``DyDiff-HalfCheetah`` and
``DyDiff`` (any checkpoint: ``gym.make("DyDiff", model=DIR)``); ``gym.make("dreamenv:DyDiff-Hopper")``
does the import itself.
"""

from dreamenv.envs import register_envs

register_envs()
