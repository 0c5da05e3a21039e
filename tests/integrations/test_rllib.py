"""RLlib trains in DyDiff-Hopper through the native vector env and evaluates in real Hopper-v5."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from dreamenv.envs.vector import DreamVectorEnv  # noqa: E402
from dreamenv.integrations.rllib import (RLlibPolicy, algo_config, make_dream_env,  # noqa: E402
                                         make_real_env)


def test_creators_build_the_native_vector_env_and_the_real_one():
    env = make_dream_env({"num_envs": 3, "uncertainty_penalty": 0.5, "start": "real",
                          "worker_index": 0})
    assert isinstance(env.unwrapped, DreamVectorEnv) and env.num_envs == 3
    real = make_real_env({"num_envs": 2, "model": "ignored", "start": "dataset"})
    assert real.num_envs == 2 and real.spec.id == "Hopper-v5"


@pytest.mark.parametrize("algo", ["PPO", "SAC"])
def test_one_iteration_reports_imagined_and_real_returns(local_ray, algo, tmp_path, monkeypatch):
    config = algo_config(algo, {"max_episode_steps": 50}, num_envs=4, eval_episodes=1)
    if algo == "PPO":
        config.training(train_batch_size_per_learner=400, minibatch_size=100, num_epochs=1)
    else:
        config.training(num_steps_sampled_before_learning_starts=16)
    algorithm = config.build_algo()
    try:
        result = algorithm.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] > 0
        assert np.isfinite(result["evaluation"]["env_runners"]["episode_return_mean"])
        algorithm.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algorithm.stop()
    monkeypatch.chdir(tmp_path)
    policy = RLlibPolicy.from_checkpoint("ckpt")  # relative, as on a command line
    action = policy.act(np.zeros((2, 11)))
    assert action.shape == (2, 3) and np.all(np.abs(action) <= 1)


def test_imagine_job_writes_its_run_directory_and_resumes(local_ray, tmp_path, monkeypatch):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=4, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=1, max_episode_steps=30,
                        ppo_batch=200, ppo_minibatch=100, ppo_epochs=1)  # a quick iteration
    monkeypatch.chdir(tmp_path)  # a relative --out, as the README's quick start gives
    first = run_imagine(cfg, "run")
    # Resumed with a step budget one step past the first iteration's: exactly one more
    # iteration, whatever the clock says (no time budget), of at least 500 steps (three or more
    # PPO batches of 200) when an iteration is counted in steps.
    cfg.iterations, cfg.minutes, cfg.steps = 0, 0.0, first["log"][0]["env_steps"] + 1
    cfg.iteration_steps = 500
    second = run_imagine(cfg, "run")
    tmp_path = tmp_path / "run"
    assert len(first["log"]) == 1 and len(second["log"]) == 2  # resumed, not restarted
    assert 200 <= first["log"][0]["env_steps"] < 400  # the PPO batch asked for
    assert second["log"][1]["env_steps"] - first["log"][0]["env_steps"] >= 500
    assert {"agent", "random", "medium"} == set(second["comparison"]["policies"])
    for row in second["log"]:  # where the time went: the model, the learner, evaluation
        shares = [row[f"{part}_share"] for part in ("model", "learner", "evaluation")]
        assert row["imagined_steps_per_s"] > 0 and all(0 < s < 1 for s in shares)
        assert sum(shares) <= 1.0
    for name in ("report.json", "returns.png", "compare.png", "checkpoint"):
        assert (tmp_path / name).exists()
    # The logged real return is the policy's seed-matched episode in Hopper-v5, from the same
    # start every iteration: the saved policy scores it again exactly.
    from dreamenv.integrations.imagine import REAL_EVALUATION_SEED
    from dreamenv.integrations.validation import RealScore

    rescored = RealScore("hopper", 1, REAL_EVALUATION_SEED)(
        RLlibPolicy.from_checkpoint(tmp_path / "checkpoint"))
    assert rescored == pytest.approx(second["log"][-1]["real_return"], rel=1e-6)


def test_imagine_trains_and_compares_in_shipped_models_named_on_the_command_line(
        local_ray, tmp_path, monkeypatch):
    """--model hopper+hopper: names, not directories, from any working directory, through
    training, evaluation and the final comparison."""
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    monkeypatch.chdir(tmp_path)
    cfg = ImagineConfig(model="hopper+hopper", uncertainty_penalty=1.0, iterations=1,
                        num_envs=4, eval_episodes=1, iteration_seconds=0, compare_episodes=1,
                        max_episode_steps=30, ppo_batch=200, ppo_minibatch=100, ppo_epochs=1)
    report = run_imagine(cfg, "run")
    assert report["config"]["model"] == "hopper+hopper"
    assert np.isfinite(report["comparison"]["policies"]["agent"]["learned_return"])


def test_imagine_trains_another_task_in_its_learned_env(local_ray, tiny_task_models, tmp_path,
                                                        monkeypatch):
    """--task walker2d with a model of it: real Walker2d-v5 evaluation, and a final comparison
    without the medium policy when the task ships none (its weights hidden here), on the
    comparison's own episode seeds whatever the run's seed."""
    import dreamenv.behaviour as behaviour
    from dreamenv.integrations.imagine import COMPARISON_SEED, ImagineConfig, run_imagine

    cfg = ImagineConfig(task="walker2d", model=tiny_task_models["Walker2d-v5"], iterations=1,
                        seed=3, num_envs=4, eval_episodes=1, iteration_seconds=0,
                        compare_episodes=1, max_episode_steps=30, ppo_batch=200,
                        ppo_minibatch=100, ppo_epochs=1)
    monkeypatch.setattr(behaviour, "weights_path", lambda task, level: tmp_path / "no-weights")
    report = run_imagine(cfg, tmp_path)
    assert np.isfinite(report["log"][0]["real_return"])
    assert report["comparison"]["env_id"] == "Walker2d-v5"
    assert report["comparison"]["seed"] == COMPARISON_SEED
    assert set(report["comparison"]["policies"]) == {"agent", "random"}
    with pytest.raises(ValueError, match="task='walker2d', not 'hopper'"):
        run_imagine(ImagineConfig(iterations=2), tmp_path)


def test_imagine_runs_on_a_two_worker_ray_cluster(tmp_path, monkeypatch):
    """RAY_ADDRESS points the job at a cluster; two remote env runners sample DyDiff there."""
    from ray.cluster_utils import Cluster

    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    try:
        cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=2, num_env_runners=2,
                            eval_episodes=1, iteration_seconds=0, compare_episodes=0,
                            max_episode_steps=30, ppo_batch=200, ppo_minibatch=100,
                            ppo_epochs=1)
        report = run_imagine(cfg, tmp_path)
        assert len(ray.nodes()) == 3
        assert report["log"][0]["env_steps"] >= 200
        assert report["log"][0]["model_share"] > 0  # counted in the remote runners' processes
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_the_run_ends_at_its_iterations_else_at_the_first_budget_it_crosses():
    from dreamenv.integrations.imagine import ImagineConfig, _budget, _budget_spent

    def row(iteration=1, env_steps=0, time_s=0.0):
        return {"iteration": iteration, "env_steps": env_steps, "time_s": time_s}

    steps = ImagineConfig(minutes=0, steps=1000)  # a step budget alone: the clock never ends it
    assert not _budget_spent(steps, row(env_steps=999, time_s=1e9))
    assert _budget_spent(steps, row(env_steps=1000))
    both = ImagineConfig(minutes=1, steps=1000)  # both: whichever is crossed first
    assert _budget_spent(both, row(env_steps=10, time_s=60)) and _budget_spent(both, row(
        env_steps=1000, time_s=1))
    assert not _budget_spent(both, row(env_steps=999, time_s=59.9))
    counted = ImagineConfig(minutes=1, steps=1000, iterations=3)  # iterations override both
    assert not _budget_spent(counted, row(iteration=2, env_steps=10**6, time_s=1e6))
    assert _budget_spent(counted, row(iteration=3))
    # The progress bar counts in the budget's own unit, never past its total.
    assert _budget(steps, None) == (1000, "step") and _budget(steps, row(env_steps=5000))[0] == 1000
    assert _budget(ImagineConfig(minutes=2), None) == (120, "s")
    assert _budget(counted, row(iteration=2)) == (2, "it")


@pytest.mark.parametrize("budget, message", [
    (dict(minutes=0), "imagine needs a budget"),
    (dict(minutes=-1, steps=10), "imagine needs a budget"),
    (dict(minutes=0, steps=-5, iterations=2), "imagine needs a budget"),
    (dict(iteration_steps=-1), "--iteration-steps and --iteration-seconds must be 0 or more"),
    (dict(iteration_seconds=-30.0), "--iteration-steps and --iteration-seconds must be 0 or more"),
    (dict(denoising_steps=51), "--denoising-steps must be in 1..50"),
    (dict(denoising_steps=-1), "--denoising-steps must be in 1..50")])
def test_imagine_refuses_a_missing_or_negative_budget_before_training(tmp_path, budget, message):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    with pytest.raises(ValueError, match=message):
        run_imagine(ImagineConfig(**budget), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_imagine_refuses_a_task_without_a_module_before_training(tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    with pytest.raises(ValueError, match="imagine trains in a task with a module"):
        run_imagine(ImagineConfig(task="Pendulum-v1"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_report_with_no_finished_imagined_episode_is_strict_json_and_reads_back(tmp_path):
    """HalfCheetah never terminates: an iteration can end with no imagined episode finished, so
    its imagined return is NaN, which the report writes as null (not the non-JSON ``NaN``)."""
    import json

    from dreamenv.integrations.imagine import ImagineConfig
    from dreamenv.integrations.imagine_report import nan_for_null, write_run_report

    row = {"iteration": 1, "env_steps": 64, "imagined_return": float("nan"), "real_return": -3.5}
    write_run_report(tmp_path / "report.json", ImagineConfig(), [row], None)

    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")

    written = json.loads((tmp_path / "report.json").read_text(), parse_constant=refuse)
    assert written["log"][0]["imagined_return"] is None
    assert written["final"]["real_return"] == -3.5
    back = nan_for_null(written["log"][0])
    assert np.isnan(back["imagined_return"]) and back["real_return"] == -3.5


def test_creators_normalize_observations_and_scale_only_imagined_rewards():
    from dreamenv.integrations.rllib import observation_norm

    norm = observation_norm(None, "hopper")  # the shipped model's data statistics
    from dreamenv.models import pretrained_path
    shipped = str(pretrained_path("hopper"))
    assert observation_norm(f"{shipped}+{shipped}", "hopper") == norm  # an ensemble: the first
    config = {"num_envs": 2, "observation_norm": norm, "reward_scale": 0.1}
    raw, scaled = make_dream_env({"num_envs": 2}), make_dream_env(config)
    obs_raw, _ = raw.reset(seed=3)
    obs, _ = scaled.reset(seed=3)
    expected = (obs_raw - np.asarray(norm["mean"])) / np.asarray(norm["std"])
    np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-5)
    assert scaled.single_observation_space.contains(obs[0])
    action = np.full((2, 3), 0.3, dtype=np.float32)
    reward_raw, reward = raw.step(action)[1], scaled.step(action)[1]
    np.testing.assert_allclose(reward, 0.1 * reward_raw, rtol=1e-5)
    real = make_real_env(config)  # the same map, the real reward
    real_obs, _ = real.reset(seed=3)
    assert np.all(np.abs(real_obs) < 10) and real.single_observation_space == \
        scaled.single_observation_space
    with pytest.raises(ValueError, match="observation_norm has shape"):
        make_dream_env({"num_envs": 1, "observation_norm": {"mean": [0.0], "std": [1.0]}})


def test_imagine_with_normalized_observations_saves_the_map_with_the_policy(local_ray,
                                                                           tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine
    from dreamenv.integrations.rllib import OBSERVATION_NORM_FILE

    cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=4, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=1, max_episode_steps=30,
                        ppo_batch=200, ppo_minibatch=100, ppo_epochs=1,
                        normalize_observations=True, reward_scale=0.05)
    report = run_imagine(cfg, tmp_path)
    assert report["log"][0]["imagined_return"] > 1.0  # reported unscaled: Hopper's alive bonus
    checkpoint = tmp_path / "checkpoint"
    assert (checkpoint / OBSERVATION_NORM_FILE).is_file()
    policy = RLlibPolicy.from_checkpoint(checkpoint)
    bare = RLlibPolicy(policy.module, policy.low, policy.high)
    obs = np.random.default_rng(0).normal(size=(3, 11)).astype(np.float32)
    np.testing.assert_allclose(policy.act(obs), bare.act(policy.standardize(obs)))
    assert not np.allclose(policy.act(obs), bare.act(obs))
    cfg.normalize_observations, cfg.iterations = False, 2
    with pytest.raises(ValueError, match="normalize_observations=True"):
        run_imagine(cfg, tmp_path)
    (checkpoint / OBSERVATION_NORM_FILE).write_text('{"mean": [0, 0], "std": [1, 1]}')
    with pytest.raises(ValueError, match="Hopper-v5's are \\(11,\\)"):
        RLlibPolicy.from_checkpoint(checkpoint)
    (checkpoint / OBSERVATION_NORM_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an observation normalisation"):
        RLlibPolicy.from_checkpoint(checkpoint)


def test_imagine_refuses_normalization_options_with_agent_conf(tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    for options in ({"normalize_observations": True}, {"reward_scale": 0.1}):
        with pytest.raises(ValueError, match="single-agent"):
            run_imagine(ImagineConfig(agent_conf="3x1", **options), tmp_path / "run")
    with pytest.raises(ValueError, match="must be positive"):
        run_imagine(ImagineConfig(reward_scale=0.0), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_learner_options_build_the_ppo_asked_for_and_the_runners_start_from_its_log_std(
        local_ray):
    import torch

    from dreamenv.integrations.imagine import ImagineConfig
    from dreamenv.integrations.rllib import learner_options, start_log_std

    cfg = ImagineConfig(ppo_hidden=32, ppo_activation="relu", ppo_log_std_init=-1.5,
                        ppo_clip=0.1, gamma=0.98, gae_lambda=0.9, grad_clip=0.5,
                        ppo_vf_coeff=0.25)
    config = algo_config("PPO", {"max_episode_steps": 30}, num_envs=2, eval_episodes=1)
    learner_options(config, cfg)
    assert (config.gamma, config.lambda_, config.clip_param, config.grad_clip,
            config.vf_loss_coeff) == (0.98, 0.9, 0.1, 0.5, 0.25)
    algorithm = config.build_algo()
    try:
        start_log_std(algorithm, cfg.ppo_log_std_init)
        runner = algorithm.env_runner_group.local_env_runner.module
        learner = algorithm.learner_group._learner.module["default_policy"]
        for module in (runner, learner):  # what samples and what learns
            torch.testing.assert_close(module.pi.log_std.detach(), torch.full((3,), -1.5))
            layers = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
            assert layers[0].out_features == 32
            assert any(isinstance(m, torch.nn.ReLU) for m in module.modules())
    finally:
        algorithm.stop()
    for bad, match in (({"ppo_activation": "gelu"}, "tanh, relu or silu"),
                       ({"grad_clip": 0.0}, "must be positive"),
                       ({"gamma": 1.5}, "--gamma 1.5 is out of range"),
                       ({"ppo_hidden": 0}, "--ppo-hidden 0 is out of range"),
                       ({"ppo_vf_coeff": -1.0}, "--ppo-vf-coeff -1.0 is out of range")):
        with pytest.raises(ValueError, match=match):
            learner_options(algo_config("PPO", {}, num_envs=2), ImagineConfig(**bad))


def test_imagine_refuses_to_resume_with_another_policy_network(local_ray, tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    cfg = ImagineConfig(algo="PPO", iterations=1, num_envs=4, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=0, max_episode_steps=30,
                        ppo_batch=200, ppo_minibatch=100, ppo_epochs=1, ppo_hidden=32,
                        ppo_log_std_init=-1.0)
    run_imagine(cfg, tmp_path)
    cfg.iterations, cfg.ppo_log_std_init = 2, None
    with pytest.raises(ValueError, match="ppo_log_std_init=-1.0"):
        run_imagine(cfg, tmp_path)
    cfg.ppo_log_std_init, cfg.ppo_hidden = -1.0, 64
    with pytest.raises(ValueError, match="ppo_hidden=32"):
        run_imagine(cfg, tmp_path)


def test_imagine_keeps_the_checkpoint_a_held_out_model_scores_best(local_ray, tmp_path):
    import torch

    from dreamenv.integrations.imagine import ImagineConfig, format_summary, run_imagine
    from dreamenv.models import pretrained_path

    cfg = ImagineConfig(algo="PPO", iterations=3, num_envs=4, eval_episodes=1,
                        iteration_seconds=0, compare_episodes=1, max_episode_steps=30,
                        ppo_batch=200, ppo_minibatch=100, ppo_epochs=1,
                        validation_model=str(pretrained_path("hopper")), validation_episodes=2,
                        keep_iterations=True)
    report = run_imagine(cfg, tmp_path)
    assert sorted(p.name for p in (tmp_path / "iterations").iterdir()) == ["001", "002", "003"]
    scores = [row["validation_return"] for row in report["log"]]
    assert len(scores) == 3 and all(np.isfinite(scores))
    best = int(np.argmax(scores))
    kept = RLlibPolicy.from_checkpoint(tmp_path / "best_checkpoint").module.state_dict()
    last = RLlibPolicy.from_checkpoint(tmp_path / "checkpoint").module.state_dict()
    same = all(torch.equal(kept[k], last[k]) for k in kept)
    assert same == (best == 2)  # the best-scoring iteration's weights, whichever it was
    assert "agent-validated" in report["comparison"]["policies"]
    assert f"at iteration {best + 1}" in format_summary(report)


def test_a_validation_model_is_named_or_a_directory_and_of_the_task(tmp_path):
    from dreamenv.integrations.validation import HeldOutScore
    from dreamenv.models import model_dir, pretrained_path

    assert model_dir("walker2d-rme") == pretrained_path("walker2d-rme")
    assert model_dir(str(tmp_path)) == tmp_path
    score = HeldOutScore("walker2d", "walker2d-rme", episodes=2)  # shipped for Walker2d's recipe
    assert score.env.num_envs == 2
    with pytest.raises(ValueError, match="Walker2d"):
        HeldOutScore("hopper", "walker2d-rme", episodes=1)
    assert HeldOutScore("halfcheetah", "halfcheetah-rme", episodes=1).env.num_envs == 1
    with pytest.raises(ValueError, match="HalfCheetah"):
        HeldOutScore("walker2d", "halfcheetah-rme", episodes=1)
    with pytest.raises(ValueError, match="not a model checkpoint"):
        HeldOutScore("hopper", str(tmp_path), episodes=1)


def test_the_main_job_takes_shipped_models_by_name_alone_or_as_an_ensemble(tmp_path):
    from dreamenv.integrations.imagine import ImagineConfig, env_config
    from dreamenv.integrations.validation import HeldOutScore, resolved_models
    from dreamenv.models import pretrained_path

    both = f"{pretrained_path('walker2d')}+{pretrained_path('walker2d-rme')}"
    assert resolved_models("walker2d+walker2d-rme") == both
    assert resolved_models(str(tmp_path)) == str(tmp_path)
    config = env_config(ImagineConfig.for_task("walker2d", model="walker2d+walker2d-rme"))
    assert config["model"] == both
    # the recipe normalises by running statistics, not by the data's
    assert config["running_normalization_gamma"] == 0.99 and "observation_norm" not in config
    # observations are standardised by the first member's data, named or not
    named = env_config(ImagineConfig(task="walker2d", model="walker2d+walker2d-rme",
                                     normalize_observations=True))["observation_norm"]
    alone = env_config(ImagineConfig(task="walker2d", normalize_observations=True))
    assert named == alone["observation_norm"]
    score = HeldOutScore("walker2d", "walker2d+walker2d-rme", episodes=1)
    assert score.env.num_envs == 1
    with pytest.raises(ValueError, match="'walkr2d-rme' in 'walker2d\\+walkr2d-rme': no such "
                       "checkpoint directory, nor a shipped model .*walker2d-rme"):
        resolved_models("walker2d+walkr2d-rme")


def test_denoising_steps_reach_every_learned_env_of_the_run():
    """The training env's config, the validation env and the final comparison's env kwargs all
    sample with --denoising-steps; left at 0 the model's own count is not overridden."""
    from dreamenv.integrations.imagine import ImagineConfig, env_config, learned_env_kwargs
    from dreamenv.integrations.validation import HeldOutScore

    cfg = ImagineConfig.for_task("walker2d", denoising_steps=5)
    assert env_config(cfg)["denoising_steps"] == 5
    score = HeldOutScore("walker2d", "walker2d-rme", episodes=1, env_kwargs=learned_env_kwargs(cfg))
    assert score.env.core.predict_kwargs["steps"] == 5
    assert "denoising_steps" not in env_config(ImagineConfig.for_task("walker2d"))
    assert learned_env_kwargs(ImagineConfig()) == {}


@pytest.mark.parametrize("option", ["model", "validation_model"])
def test_imagine_refuses_a_misspelled_model_before_training(tmp_path, option):
    from dreamenv.integrations.imagine import ImagineConfig, run_imagine

    with pytest.raises(ValueError, match="nor a shipped model"):
        run_imagine(ImagineConfig.for_task("walker2d", **{option: "walker2d-rmee"}),
                    tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run directory or Ray
