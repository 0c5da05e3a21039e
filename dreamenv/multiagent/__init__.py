"""Multi-agent DyDiff: MaMuJoCo's factorised bodies as PettingZoo envs stepping a learned model.

Needs the ``multiagent`` extra (``pip install -e ".[multiagent]"``: pettingzoo and
gymnasium-robotics); ``import dreamenv`` and the single-agent envs work without it.

PettingZoo's constructors, as ``gymnasium_robotics.mamujoco_v1`` names them::

    from dreamenv import multiagent
    env = multiagent.parallel_env("Hopper", "3x1")              # ParallelEnv
    aec = multiagent.env("Hopper", "3x1")                       # AEC form
    vec = multiagent.vector_parallel_env(64, "Hopper", "3x1")   # 64 episodes, one model call

Every keyword the DyDiff env takes (``model=``, ``denoising_steps=``, ...) passes through.
``dreamenv.multiagent.mamujoco_v1`` is a drop-in for ``gymnasium_robotics.mamujoco_v1``, and
``dreamenv.integrations.rllib_multiagent.register()`` names the env for RLlib.
"""

from __future__ import annotations

try:
    import gymnasium_robotics  # noqa: F401
    import pettingzoo  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(f"dreamenv.multiagent needs the multiagent extra ({exc.name} is missing): "
                      "pip install -e '.[multiagent]'") from None

from pettingzoo.utils.conversions import parallel_to_aec

from dreamenv.multiagent.factorisation import Factorisation
from dreamenv.multiagent.parallel import DreamParallelEnv
from dreamenv.multiagent.vector import DreamParallelVecEnv


def parallel_env(scenario: str = "Hopper", agent_conf: str | None = "3x1", **kwargs
                 ) -> DreamParallelEnv:
    """MaMuJoCo's ``parallel_env(scenario, agent_conf, ...)``, simulated by the DyDiff model."""
    return DreamParallelEnv(scenario, agent_conf, **kwargs)


raw_parallel_env = parallel_env


def env(scenario: str = "Hopper", agent_conf: str | None = "3x1", **kwargs):
    """The AEC form of :func:`parallel_env` (PettingZoo's ``parallel_to_aec``)."""
    return parallel_to_aec(parallel_env(scenario, agent_conf, **kwargs))


def vector_parallel_env(num_envs: int, scenario: str = "Hopper",
                        agent_conf: str | None = "3x1", **kwargs) -> DreamParallelVecEnv:
    """``num_envs`` multi-agent episodes stepped by one model call."""
    return DreamParallelVecEnv(num_envs, scenario, agent_conf, **kwargs)


__all__ = ["DreamParallelEnv", "DreamParallelVecEnv", "Factorisation", "env", "parallel_env",
           "raw_parallel_env", "vector_parallel_env"]
