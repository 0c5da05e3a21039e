"""dreamenv: Gymnasium environments that step inside a learned diffusion dynamics model.

``import dreamenv`` registers ``DyDiff-Hopper``; ``gym.make("dreamenv:DyDiff-Hopper")`` does the
import itself.
"""

from dreamenv.envs import register_envs

register_envs()
