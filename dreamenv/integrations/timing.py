"""Where the main job's time goes, per iteration: imagined steps per second, and the shares of
the wall time spent in the dynamics model, in the learner and in the real-env evaluation.

* model: seconds inside the model's ``predict``, counted by every process that steps a DyDiff env
  (:class:`~dreamenv.envs.core.ModelClock`) and collected from each env runner;
* evaluation: the real-env episodes after every iteration (the main job's own, batched:
  :class:`~dreamenv.integrations.validation.RealScore`), timed around their call;
* learner: RLlib's ``learner_update_timer`` over its ``training_step`` timer (both per-call means),
  times the iteration's time outside evaluation;
* the rest is sampling outside the model (the policy's forward passes, RLlib's connectors and
  episode bookkeeping, the env's own work).
"""

from __future__ import annotations

import math

from dreamenv.envs.core import ModelClock


def _take_model_seconds(_runner: object = None) -> float:
    return ModelClock.take()


def start_iteration(algorithm: object) -> None:
    """Zero the model's clocks, so that the next :func:`iteration_timing` covers one
    iteration."""
    model_seconds(algorithm)


def model_seconds(algorithm: object) -> float:
    """Seconds in the model since the last call, summed over the env runners (local and remote)."""
    group = getattr(algorithm, "env_runner_group", None)
    if group is None:
        return ModelClock.take()
    return float(sum(group.foreach_env_runner(_take_model_seconds, local_env_runner=True)))


def iteration_timing(algorithm: object, result: dict, wall_s: float, env_steps: int,
                     evaluation: float) -> dict:
    """The timing columns of one iteration's log row: ``wall_s`` its whole time, of which
    ``evaluation`` seconds in the real-env evaluation."""
    model = model_seconds(algorithm)
    timers = result.get("timers", {})
    learner, step = timers.get("learner_update_timer"), timers.get("training_step")
    learner_share = math.nan
    if learner is not None and step:
        learner_share = min(1.0, learner / step) * max(0.0, wall_s - evaluation) / wall_s
    return {"imagined_steps_per_s": round(env_steps / wall_s, 1),
            "model_share": round(model / wall_s, 3),
            "learner_share": round(learner_share, 3),
            "evaluation_share": round(evaluation / wall_s, 3)}
