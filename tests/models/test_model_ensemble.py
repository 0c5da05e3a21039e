"""An ensemble of dynamics models: each row follows one member; the spread is the uncertainty."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.history import History
from dreamenv.models.model_ensemble import ModelEnsemble

S, A, L = 11, 3, 2


def _member(seed: int) -> DiffusionDynamics:
    torch.manual_seed(seed)
    return DiffusionDynamics(DiffusionConfig(history_len=L, hidden=16, encoder_layers=1), S, A)


def test_each_row_is_one_members_sample_and_the_spread_is_reported():
    members = [_member(0), _member(1)]
    ens = ModelEnsemble(members)
    h = History.start(torch.randn(64, S), L, A)
    a = torch.zeros(64, A)
    pred = ens.predict(h, a, torch.Generator().manual_seed(0))
    # The members draw their noise in turn from one generator: replay that order.
    gen = torch.Generator().manual_seed(0)
    own = [m.predict(h, a, gen).next_state for m in members]
    from_first = torch.all(pred.next_state == own[0], dim=1)
    from_second = torch.all(pred.next_state == own[1], dim=1)
    assert torch.all(from_first | from_second) and from_first.any() and from_second.any()
    assert pred.uncertainty.shape == (64,) and torch.all(pred.uncertainty > 0)


def test_an_env_steps_in_an_ensemble_and_mismatched_members_are_refused():
    env = gym.make("DyDiff-Hopper", model=ModelEnsemble([_member(0), _member(1)]))
    env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (S,)
    other = DiffusionDynamics(DiffusionConfig(history_len=L + 1, hidden=16), S, A)
    with pytest.raises(ValueError, match="differ"):
        ModelEnsemble([_member(0), other])
    with pytest.raises(ValueError, match="at least two"):
        ModelEnsemble([_member(0)])


def test_an_env_of_several_checkpoints_steps_their_ensemble(tiny_task_models):
    """model="DIR1+DIR2" (or a list) names an ensemble of checkpoints, for gym.make, make_vec
    and the generic id alike; checkpoints of different envs are refused in one line."""
    import numpy as np

    from dreamenv.models import pretrained_path

    hopper = str(pretrained_path("hopper"))
    for model in (f"{hopper}+{hopper}", [hopper, hopper]):
        env = gym.make("DyDiff-Hopper", model=model)
        assert isinstance(env.unwrapped.dynamics, ModelEnsemble)
        env.reset(seed=0)
        *_, info = env.step(np.zeros(3, dtype=np.float32))
        assert info["uncertainty"] > 0  # two members' samples disagree
    envs = gym.make_vec("DyDiff", num_envs=3, model=f"{hopper}+{hopper}")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 11)
    walker = tiny_task_models["Walker2d-v5"]
    with pytest.raises(ValueError, match="learned different envs"):
        gym.make("DyDiff", model=f"{hopper}+{walker}")
    with pytest.raises(ValueError, match="list of directories"):
        gym.make("DyDiff-Hopper", model=[hopper, 3])


def test_the_ensemble_is_where_its_members_weights_are():
    from dreamenv.envs.core import model_device

    members = [_member(0), _member(1)]
    ens = ModelEnsemble(members)
    assert len(list(ens.parameters())) == sum(len(list(m.parameters())) for m in members)
    for member in members:
        member.to("meta")  # any device but the CPU, without a GPU
    assert model_device(ens) == torch.device("meta")
