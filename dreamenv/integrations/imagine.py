"""The main job: train an RLlib agent entirely inside a learned env (``--task hopper``:
DyDiff-Hopper), evaluate it in the real env.

``dreamenv imagine --algo SAC --out DIR`` runs RLlib iterations until its budget (imagined
steps, minutes or iterations) is spent. Every iteration reports the imagined return (training
episodes in the learned env) and the real return (``eval_episodes`` deterministic episodes in
the real env, e.g. Hopper-v5, which the agent never trains on: the same starts every
iteration, all episodes stepped together), the imagined steps per second and the shares of its
time spent in the model, the learner and the real-env evaluation
(:mod:`dreamenv.integrations.timing`).
``DIR`` gets ``checkpoint/`` (RLlib, replaced atomically each iteration, so an interrupted run
resumes from it), ``report.json``, ``returns.png`` and, at the end, the seed-matched comparison of
the agent and the behaviour policies in both envs (``compare.json`` / ``compare.png``). With
``--validation-model`` every iteration's policy is also scored in a second learned env it never
trains in, and the best-scoring checkpoint is kept as ``best_checkpoint/``
(:mod:`dreamenv.integrations.validation`), an offline choice of the policy to deploy. With
``--bc-dataset`` the policy starts from a behaviour clone of that data
(:mod:`dreamenv.integrations.behaviour_cloning`): the clone is kept as ``bc_checkpoint/``, its
fit and real return go to ``behaviour_cloning.json``, and the final comparison has it as
``behaviour-clone``.

A task's module may carry a recipe for this job (``Task.imagine_options``: e.g. HalfCheetah's
PPO networks and batch shape); ``ImagineConfig.for_task`` and the command line apply it under
the options given explicitly.

``--agent-conf 3x1`` trains MaMuJoCo's factorised body instead (for Hopper one agent per joint,
per-agent or shared policies; :mod:`dreamenv.integrations.rllib_multiagent`); the run directory,
report, plot and resume are the same. Its real-env evaluation and final comparison run the team
as one joint policy in the real and the learned single-agent env, of which the multi-agent envs
are exact index maps (tested seed for seed).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from dreamenv._atomic import atomic_path, recover_dir, swap_in_dir
from dreamenv._progress import progress
from dreamenv.integrations.imagine_config import ImagineConfig
from dreamenv.integrations.imagine_report import (  # noqa: F401 (format_summary: the CLI's)
    format_summary, nan_for_null, write_run_report)
from dreamenv.integrations.timing import iteration_timing, start_iteration
from dreamenv.integrations.validation import HeldOutScore, RealScore, keep_copy, resolved_models
from dreamenv.tasks import TASKS, get_task
from dreamenv.training.common import plot_log

COMPARISON_SEED = 10_000
"""The final comparison's episode ``i`` starts from ``COMPARISON_SEED + i`` in every run."""
REAL_EVALUATION_SEED = 30_000
"""Each iteration's real-env episode ``i`` starts from ``REAL_EVALUATION_SEED + i``, in every
iteration and run (the validation model's episodes: ``20_000 + seed``)."""


def env_config(cfg: ImagineConfig) -> dict:
    config = {"task": cfg.task, "start": cfg.start, "max_episode_steps": cfg.max_episode_steps,
              "uncertainty_penalty": cfg.uncertainty_penalty}
    if cfg.agent_conf:
        config.update(scenario=get_task(cfg.task).title, agent_conf=cfg.agent_conf,
                      policy_sharing=cfg.policy_sharing, env_runner=cfg.team_env_runner)
    model = resolved_models(cfg.model) if cfg.model else None
    if model:
        config["model"] = model
    config.update(learned_env_kwargs(cfg))
    if cfg.reward_scale != 1.0:
        config["reward_scale"] = cfg.reward_scale
    if cfg.running_normalization:
        config["running_normalization_gamma"] = cfg.gamma
    if cfg.normalize_observations:
        from dreamenv.integrations.rllib import observation_norm
        config["observation_norm"] = observation_norm(model, cfg.task)
    return config


def learned_env_kwargs(cfg: ImagineConfig) -> dict:
    """The learned envs' options every learned env of a run shares (training, validation,
    final comparison): where the model runs and its sampling steps."""
    kwargs = {}
    if cfg.device:
        kwargs["device"] = cfg.device
    if cfg.denoising_steps:
        kwargs["denoising_steps"] = cfg.denoising_steps
    return kwargs


def run_imagine(cfg: ImagineConfig, out_dir: str | Path) -> dict:
    """Train, evaluate every iteration, write the run directory; returns the report."""
    import ray
    import torch

    from dreamenv.integrations.rllib import (algo_config, learner_options, read_observation_norm,
                                             running_statistics, start_log_std)

    if cfg.task not in TASKS:  # refused now, not after the training it would waste
        raise ValueError(f"imagine trains in a task with a module ({', '.join(TASKS)}), got "
                         f"{cfg.task!r}; a learned env of other data: gym.make('DyDiff', "
                         "model=DIR) with your own agent")
    cfg.check()
    envs = env_config(cfg)  # a misspelled model name is refused here, before Ray starts
    if cfg.validation_model:
        resolved_models(cfg.validation_model)
    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir).resolve()  # RLlib reads a relative path as a URI without a scheme
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file, checkpoint = out_dir / "report.json", out_dir / "checkpoint"
    if not ray.is_initialized():  # RAY_ADDRESS (if set) joins an existing cluster
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    log: list[dict] = []
    best_checkpoint = out_dir / "best_checkpoint"
    for directory in (checkpoint, best_checkpoint, out_dir / "bc_checkpoint"):
        recover_dir(directory)  # killed mid-swap: the old one is complete
    resume = checkpoint.is_dir() and report_file.is_file()
    if resume:
        previous = json.loads(report_file.read_text())
        before = previous.get("config", {})
        for key in ("task", "algo", "agent_conf", "policy_sharing", "normalize_observations",
                    "reward_scale", "running_normalization", "ppo_hidden", "ppo_activation"):
            if before.get(key, getattr(ImagineConfig, key)) != getattr(cfg, key):
                raise ValueError(f"{out_dir}: holds a run with {key}={before.get(key)!r}, not "
                                 f"{getattr(cfg, key)!r}; use a new --out")
        if (before.get("ppo_log_std_init") is None) != (cfg.ppo_log_std_init is None):
            raise ValueError(f"{out_dir}: holds a run with ppo_log_std_init="
                             f"{before.get('ppo_log_std_init')!r}, not {cfg.ppo_log_std_init!r} "
                             "(a log-std network output against a free parameter); use a new "
                             "--out")
        log = [nan_for_null(row) for row in previous["log"]]
    validate = (HeldOutScore(cfg.task, cfg.validation_model, cfg.validation_episodes,
                             20_000 + cfg.seed, learned_env_kwargs(cfg))
                if cfg.validation_model else None)
    build = algo_config
    if cfg.agent_conf:
        from dreamenv.integrations.rllib_multiagent import multiagent_algo_config as build
    # RLlib's own evaluation steps one real env episode after episode through its connectors;
    # RealScore steps them together, one policy call per step (a fifth of the calls for 5).
    config = build(cfg.algo, envs, cfg.num_envs, cfg.num_env_runners, 0, cfg.seed,
                   cfg.iteration_seconds)
    if cfg.iteration_steps:
        config.reporting(min_sample_timesteps_per_iteration=cfg.iteration_steps)
    real = RealScore(cfg.task, cfg.eval_episodes, REAL_EVALUATION_SEED)
    learner_options(config, cfg)
    algorithm = config.build_algo()
    if resume:
        algorithm.restore_from_path(str(checkpoint))
        if cfg.running_normalization:  # carry on behind the map the policy was saved with
            running_statistics(algorithm, load=read_observation_norm(checkpoint))
    elif cfg.algo.upper() == "PPO" and cfg.ppo_log_std_init is not None:
        start_log_std(algorithm, cfg.ppo_log_std_init)
    if not resume and cfg.bc_dataset:
        from dreamenv.integrations.behaviour_cloning import behaviour_cloned_start

        clone = behaviour_cloned_start(algorithm, cfg.bc_dataset, get_task(cfg.task).env_id,
                                       cfg.bc_epochs, cfg.seed, cfg.running_normalization,
                                       envs.get("observation_norm"))
        norm = (running_statistics(algorithm)[0] if cfg.running_normalization
                else envs.get("observation_norm"))
        clone.real_return = real(_trained_policy(cfg, algorithm, norm))  # before any PPO step
        _save_checkpoint(algorithm, out_dir / "bc_checkpoint", norm)  # in the final comparison
        with atomic_path(out_dir / "behaviour_cloning.json") as tmp:
            tmp.write_text(json.dumps(vars(clone), indent=1))
    elapsed0 = log[-1]["time_s"] if log else 0.0
    start = time.perf_counter()
    total, unit = _budget(cfg, None)
    bar = progress(total=total, desc=f"imagine {cfg.algo}", unit=unit,
                   unit_scale=unit == "step")  # 1.2M/4.5M steps
    if log:  # resumed: the bar starts where the run stands
        bar.update(_budget(cfg, log[-1])[0])
    start_iteration(algorithm)
    try:
        while True:
            began = time.perf_counter()
            result = algorithm.train()
            trained = time.perf_counter()
            norm, imagined = envs.get("observation_norm"), None
            if cfg.running_normalization:  # the map the policy is trained behind, now
                norm, imagined = running_statistics(algorithm)
            policy = _trained_policy(cfg, algorithm, norm)
            real_return = real(policy)
            wall = time.perf_counter() - began
            elapsed = elapsed0 + time.perf_counter() - start
            row = _row(result, len(log) + 1, elapsed, real_return, cfg.reward_scale)
            if imagined is not None:  # RLlib's returns are of the normalised reward
                row["imagined_return"] = imagined
            steps = max(0, row["env_steps"] - (log[-1]["env_steps"] if log else 0))
            row.update(iteration_timing(algorithm, result, wall, steps,
                                        evaluation=wall - (trained - began)))
            best = max((r.get("validation_return", -np.inf) for r in log), default=-np.inf)
            if validate:
                row["validation_return"] = validate(policy)
            log.append(row)
            _save_checkpoint(algorithm, checkpoint, norm)
            if validate and row["validation_return"] > best:
                keep_copy(checkpoint, best_checkpoint)
            if cfg.keep_iterations:
                keep_copy(checkpoint, out_dir / "iterations" / f"{len(log):03d}")
            write_run_report(report_file, cfg, log, None)
            bar.update(_budget(cfg, row)[0] - bar.n)
            bar.set_postfix(imagined=f"{row['imagined_return']:.0f}",
                            real=f"{row['real_return']:.0f}",
                            steps_per_s=f"{row['imagined_steps_per_s']:.0f}")
            if _budget_spent(cfg, row):
                break
        comparison, references = None, {}
        if cfg.compare_episodes:
            agents = {"agent": _trained_policy(cfg, algorithm, norm)}
            from dreamenv.evaluation.policies import load_policy  # a team's or one agent's
            if validate and best_checkpoint.is_dir():
                agents["agent-validated"] = load_policy(str(best_checkpoint), cfg.task)[1]
            if cfg.bc_dataset and (out_dir / "bc_checkpoint").is_dir():  # where it started
                agents["behaviour-clone"] = load_policy(str(out_dir / "bc_checkpoint"),
                                                        cfg.task)[1]
            comparison = _final_comparison(cfg, envs.get("model"), agents, out_dir)
            references = {f"{name} policy, real": comparison["policies"][name]["real_return"]
                          for name in ("random", "medium") if name in comparison["policies"]}
        team = (f"\nas MaMuJoCo {cfg.agent_conf} agents, {cfg.policy_sharing} policies"
                if cfg.agent_conf else "")
        plot_log(log, ("imagined_return", "real_return", "validation_return"),
                 out_dir / "returns.png", "env_steps",
                 f"{cfg.algo} trained in DyDiff-{get_task(cfg.task).title}: imagined vs real "
                 f"return{team}",
                 references, yscale="symlog")
        return write_run_report(report_file, cfg, log, comparison)
    finally:
        bar.close()
        algorithm.stop()


def _budget(cfg: ImagineConfig, row: dict | None) -> tuple[int, str]:
    """The progress bar's position after ``row`` (its total with ``row=None``) and unit: the
    budget that ends the run (iterations, else imagined steps, else seconds)."""
    if cfg.iterations:
        return (row["iteration"] if row else cfg.iterations), "it"
    if cfg.steps:
        return (min(row["env_steps"], cfg.steps) if row else cfg.steps), "step"
    return (min(int(row["time_s"]), int(cfg.minutes * 60)) if row else int(cfg.minutes * 60)), "s"


def _budget_spent(cfg: ImagineConfig, row: dict) -> bool:
    """Whether the run ends after the iteration logged as ``row``: at its iteration count if
    one is set, else at the first of its step and time budgets that is set and crossed."""
    if cfg.iterations:
        return row["iteration"] >= cfg.iterations
    return bool((cfg.steps and row["env_steps"] >= cfg.steps)
                or (cfg.minutes and row["time_s"] >= cfg.minutes * 60))


def _row(result: dict, iteration: int, elapsed: float, real_return: float,
         reward_scale: float = 1.0) -> dict:
    runners = result.get("env_runners", {})
    return {"iteration": iteration, "time_s": round(elapsed, 1),
            "env_steps": int(runners.get("num_env_steps_sampled_lifetime", 0)),
            "imagined_return": _body_return(runners) / reward_scale,
            "real_return": real_return}


def _body_return(metrics: dict) -> float:
    """The body's return: RLlib sums a multi-agent episode over agents, and every MaMuJoCo agent
    gets the body's reward, so a team's return is any one agent's (their mean)."""
    per_agent = metrics.get("agent_episode_returns_mean")
    if per_agent:
        return float(np.mean(list(per_agent.values())))
    return float(metrics.get("episode_return_mean", np.nan))


def _trained_policy(cfg: ImagineConfig, algorithm, observation_norm: dict | None) -> object:
    """The trained agent as a policy over the whole body's (raw) observation."""
    from dreamenv.integrations.rllib import RLlibPolicy

    if not cfg.agent_conf:
        return RLlibPolicy(algorithm.get_module(), -1.0, 1.0, observation_norm)
    from dreamenv.integrations.rllib_multiagent import JointPolicy
    from dreamenv.multiagent import Factorisation

    factorisation = Factorisation.from_mamujoco(get_task(cfg.task).title, cfg.agent_conf,
                                                check_steps=0)
    return JointPolicy.from_algorithm(algorithm, factorisation, cfg.policy_sharing)


def _save_checkpoint(algorithm, checkpoint: Path, observation_norm: dict | None) -> None:
    """Write beside, then swap: a kill leaves the old or the new checkpoint, never half. The
    observation normalisation goes in with it as JSON, for :class:`RLlibPolicy`."""
    from dreamenv.integrations.rllib import OBSERVATION_NORM_FILE

    fresh = checkpoint.with_name(checkpoint.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    algorithm.save_to_path(str(fresh))
    if observation_norm:
        (fresh / OBSERVATION_NORM_FILE).write_text(json.dumps(observation_norm))
    swap_in_dir(fresh, checkpoint)


def _final_comparison(cfg: ImagineConfig, model: str | None, agents: dict, out_dir: Path
                      ) -> dict:
    """``model``: the resolved checkpoint(s) the agent trained in (None: the shipped one)."""
    from dreamenv.behaviour import behaviour_policy, weights_path
    from dreamenv.evaluation.compare import compare_policies, write_report

    policies = {**agents, "random": behaviour_policy(cfg.task, "random")}
    if weights_path(cfg.task, "medium").is_file():  # a task whose policies do not ship yet
        policies["medium"] = behaviour_policy(cfg.task, "medium", deterministic=True)
    report = compare_policies(policies, episodes=cfg.compare_episodes, seed=COMPARISON_SEED,
                              task=cfg.task, model=model,
                              env_kwargs=learned_env_kwargs(cfg))
    write_report(report, out_dir)
    return report
