"""What ``dreamenv imagine`` trains and how long: :class:`ImagineConfig`, the main job's typed
config (the command line's options are its fields; a task's recipe fills the ones left out)."""

from __future__ import annotations

from dataclasses import dataclass

from dreamenv.tasks import get_task


@dataclass
class ImagineConfig:
    """What ``dreamenv imagine`` trains and how long."""

    task: str = "hopper"
    """The task (hopper, walker2d, halfcheetah): its learned env DyDiff-<Task> and real env.
    A task's recipe (its module's ``imagine_options``) replaces the defaults below where it
    sets them; an option given explicitly wins (``ImagineConfig.for_task``)."""
    algo: str = "PPO"
    """RLlib algorithm: PPO or SAC. PPO is the default because imagined steps are cheap in a
    wide vector env and PPO turns many of them into progress fast: in 10 minutes here it reached
    a real return above 2000 (see the README)."""
    minutes: float = 10.0
    """Wall-clock budget; the run ends after the iteration that crosses it (0: none)."""
    steps: int = 0
    """Imagined-step budget (RLlib's and SB3's total timesteps): the run ends after the
    iteration that crosses it, or the minutes, whichever comes first (0: none). Unlike minutes
    it ends a run at the same point on a loaded machine and an idle one."""
    iterations: int = 0
    """Stop after this many iterations instead (0: use the step and time budgets)."""
    num_envs: int = 64
    """DyDiff envs per env runner (one batched model call steps them all)."""
    num_env_runners: int = 0
    """Remote env runners (0: sample in the driver); more need a Ray cluster's CPUs."""
    start: str = "real"
    """Episode starts in the learned env: 'real' (the real env's reset) or 'dataset'."""
    max_episode_steps: int = 1000
    """Imagined episode length (short, e.g. 5-50, for MBPO-style branched rollouts)."""
    uncertainty_penalty: float = 0.0
    """MOPO's lambda: reward - lambda * uncertainty (0: no penalty)."""
    normalize_observations: bool = False
    """Feed the agent observations standardised by the state statistics of the data the model
    learned (fixed for the run; the real env gets the same map, and so does the policy
    reloaded from the checkpoint)."""
    reward_scale: float = 1.0
    """The agent trains on reward times this (the reported returns are not scaled). PPO's
    value function has to reach returns in the thousands at a few dozen gradient steps per
    iteration; a scale of 0.01-0.1 puts its targets near 1-10."""
    running_normalization: bool = False
    """Instead of normalize_observations and reward_scale: scale rewards by the running spread
    of the discounted return (Gymnasium's ``NormalizeReward``) and standardise observations by
    their running mean and variance, both updated as the agent samples (SB3's
    ``VecNormalize``, CleanRL's PPO). The checkpoint keeps the observation map as it stood,
    which the real env and a reloaded policy apply. The reward's scale follows the agent's
    returns as they grow, where a fixed scale leaves the value targets, and their share of a
    clipped gradient, growing with them."""
    ppo_batch: int = 4096
    """PPO: imagined steps per update (RLlib's train_batch_size_per_learner)."""
    ppo_minibatch: int = 256
    """PPO: minibatch size of the update's gradient steps."""
    ppo_epochs: int = 10
    """PPO: passes over each batch. Imagined steps are cheap, the learner is not: fewer,
    larger gradient steps per step (e.g. 16384 / 2048 / 5 with 256 envs) spend more of the
    time sampling."""
    ppo_hidden: int = 64
    """PPO: width of the two hidden layers of the policy and of the (separate) value network."""
    ppo_activation: str = "tanh"
    """PPO: activation of those layers (tanh, relu, silu)."""
    ppo_log_std_init: float | None = None
    """PPO: None lets the policy network put out the action log-std per state (RLlib's default,
    starting near 0: a std of 1 on actions in [-1, 1]); a number makes it one free parameter
    per action dimension, as in CleanRL and SB3, starting at that value (-2: std 0.14)."""
    ppo_clip: float = 0.2
    """PPO: clip range of the probability ratio."""
    ppo_vf_coeff: float = 1.0
    """PPO: weight of the value loss (the squared error) beside the policy's in the one loss
    whose gradient --grad-clip clips (RLlib's vf_loss_coeff; CleanRL and SB3 weigh half the
    squared error by 0.5, which is 0.25 here)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """PPO: GAE's lambda."""
    grad_clip: float | None = None
    """Clip each update's gradient to this global norm (None: no clipping)."""
    model: str = ""
    """Dynamics checkpoint directory or shipped model's name ('' = the task's shipped model);
    'A+B' steps an ensemble of them (e.g. walker2d+walker2d-rme) whose uncertainty (for
    --uncertainty-penalty) is their disagreement."""
    denoising_steps: int = 0
    """Sampling steps of every learned env of the run: the one the agent trains in, the
    validation model's and the final comparison's (0: the model's own, 2). More steps follow
    the learned distribution more closely at more model time a step: on Walker2d the shipped
    model's two steps keep up gaits that fall in the real env, which more steps let fall more
    often (docs/main-job-tasks.md)."""
    device: str = ""
    """Where the learned env's model runs ('cuda', 'cuda:1'; '' = the CPU). The agent's
    learner stays on RLlib's own choice."""
    eval_episodes: int = 5
    """Real-env episodes per evaluation (one evaluation per iteration; episode ``i`` from seed
    ``REAL_EVALUATION_SEED + i`` every time, all stepped together)."""
    iteration_seconds: float = 30.0
    """Train at least this long per iteration, so evaluation stays a small share (0: no
    minimum)."""
    iteration_steps: int = 0
    """Sample at least this many imagined steps per iteration (RLlib's
    min_sample_timesteps_per_iteration; 0: no minimum). With ``iteration_seconds`` 0 an
    iteration, and so each evaluation and kept checkpoint, is the same stretch of training on
    any machine; by the clock a quiet machine's iteration held three times a loaded one's."""
    compare_episodes: int = 20
    """Seed-matched episodes per policy in the final comparison (0: skip it). They start from
    the same seeds whatever ``seed`` is, so every run of a task meets the same medium policy
    row; 5 episodes put a HalfCheetah policy 350 above its 20-episode return."""
    validation_model: str = ""
    """A second model checkpoint of the task (e.g. one trained on other data; or the name of
    one shipped for it, walker2d-rme) that the agent never trains in: every iteration's policy
    is scored there (``validation_return``) and the best-scoring checkpoint is kept as
    ``best_checkpoint/``, an offline choice of the policy to deploy ('' = none)."""
    validation_episodes: int = 10
    """Seed-matched episodes per validation (the same starts every iteration)."""
    keep_iterations: bool = False
    """Keep a copy of every iteration's checkpoint as ``iterations/NNN/`` (a few MB each), to
    judge selection rules afterwards (benchmarks/policy_selection.py)."""
    bc_dataset: str = ""
    """Start the policy from behaviour cloning on this dataset (a name such as
    walker2d-medium, made first if missing, or a D4RL-format file), as offline RL starts from
    the data: the action mean fitted to the data's actions, the log-std at the clone's residual
    spread, running statistics starting at the data's (integrations/behaviour_cloning.py).
    PPO with a free log-std, fresh runs only ('' = start from scratch)."""
    bc_epochs: int = 5
    """Passes over the dataset for --bc-dataset."""
    agent_conf: str = ""
    """Train MaMuJoCo's factorisation of the body as a team of agents ('3x1': one agent per
    Hopper joint, through PettingZoo and RLlib's multi-agent API, evaluated in real MaMuJoCo);
    '' trains one single-agent policy. Needs the multiagent extra."""
    policy_sharing: str = "per-agent"
    """With --agent-conf: 'per-agent' (one policy per agent) or 'shared' (one policy for all,
    on padded observations with the agent's id)."""
    team_env_runner: str = "batched"
    """With --agent-conf: 'batched' (all of a runner's episodes in one model call) or
    'pettingzoo' (RLlib's own runner over ParallelPettingZooEnv copies, one call each)."""
    threads: int = 1
    """Torch CPU threads of this process. The learner and the model share it, and Ray's own
    processes share the cores: with 2 threads on a 2-core machine that is not idle, every
    parallel op waits for a descheduled thread (measured: a 64-env model step took 92 ms instead
    of 1.4 ms, and a PPO iteration 40 s instead of 1.1 s)."""
    seed: int = 0

    @classmethod
    def for_task(cls, task: str = "hopper", **options) -> ImagineConfig:
        """The config of ``task``'s main job: the defaults, then the task's recipe, then
        ``options``. A team (``agent_conf``) takes no recipe: the recipes are single-agent PPO
        (observation normalisation and reward scaling do not apply to teams)."""
        recipe = {} if options.get("agent_conf") else dict(get_task(task).imagine_options)
        return cls(**{**recipe, "task": task, **options})

    def check(self) -> None:
        """Refuse options that contradict each other or are out of range, in one line each,
        before anything is trained."""
        scaled = self.normalize_observations or self.reward_scale != 1.0
        if self.agent_conf and (scaled or self.running_normalization):
            raise ValueError("--normalize-observations, --reward-scale and "
                             "--running-normalization train one single-agent policy; they do "
                             "not apply with --agent-conf")
        if self.running_normalization and scaled:
            raise ValueError("--running-normalization replaces --normalize-observations and "
                             "--reward-scale; give one or the other (--no-running-normalization "
                             "turns a recipe's off)")
        if self.running_normalization and self.num_env_runners > 1:
            raise ValueError("--running-normalization keeps its statistics in one env runner; "
                             f"use --num-env-runners 0 or 1, not {self.num_env_runners}")
        if self.bc_dataset and (self.agent_conf or self.algo.upper() != "PPO"
                                or self.ppo_log_std_init is None):
            raise ValueError("--bc-dataset starts single-agent PPO with a free log-std "
                             "(--ppo-log-std-init); not with --agent-conf, SAC or a log-std "
                             "network output")
        if self.bc_epochs < 1:
            raise ValueError(f"--bc-epochs must be 1 or more, got {self.bc_epochs}")
        if not self.reward_scale > 0:
            raise ValueError(f"--reward-scale must be positive, got {self.reward_scale}")
        if min(self.minutes, self.steps, self.iterations) < 0 or not (
                self.minutes or self.steps or self.iterations):
            raise ValueError("imagine needs a budget: --minutes, --steps or --iterations above "
                             f"0 (got {self.minutes}, {self.steps}, {self.iterations})")
        if not 0 <= self.denoising_steps <= 50:
            raise ValueError(f"--denoising-steps must be in 1..50 (0: the model's own), got "
                             f"{self.denoising_steps}")
        if min(self.iteration_steps, self.iteration_seconds) < 0:
            raise ValueError("--iteration-steps and --iteration-seconds must be 0 or more, got "
                             f"{self.iteration_steps} and {self.iteration_seconds}")
