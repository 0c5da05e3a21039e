"""Wrappers offline RL needs on a learned env, for single and vector DyDiff envs alike.

* :class:`UncertaintyPenalty` / :class:`UncertaintyPenaltyVector`: MOPO's pessimistic reward
  ``r - lam * u`` (Yu et al. 2020), with ``u = info["uncertainty"]``.
* :class:`UncertaintyHalt` / :class:`UncertaintyHaltVector`: MOReL's halting (Kidambi et al.
  2020): end the episode where the model is too unsure to be trusted, optionally with a fixed
  low reward.
"""

from dreamenv.wrappers.uncertainty import (UncertaintyHalt, UncertaintyHaltVector,
                                           UncertaintyPenalty, UncertaintyPenaltyVector)

__all__ = ["UncertaintyHalt", "UncertaintyHaltVector", "UncertaintyPenalty",
           "UncertaintyPenaltyVector"]
