"""The synthetic sources TD3+BC mixes in: MOPO rollouts, DyDiff trajectories, a fixed file."""

from __future__ import annotations

import numpy as np
import pytest

from dreamenv.behaviour import behaviour_policy
from dreamenv.behaviour.policy import load_actor
from dreamenv.cli import main
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.hdf5 import save_hdf5
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.tasks.hopper import hopper_terminated
from dreamenv.offline.sources import (
    DyDiffConfig,
    DyDiffTrajectories,
    FileTransitions,
    ModelRollouts,
    MopoConfig,
    make_source,
)
from dreamenv.offline.td3_bc import KEYS, _check_rows


@pytest.fixture(scope="module")
def policy():
    return behaviour_policy("hopper", "medium", deterministic=True)


def _ends(rows):
    return int(rows["terminals"].sum() + rows["timeouts"].sum())


def test_mopo_rollouts_are_penalised_short_branches(tiny_models, hopper_random, policy):
    ensemble = load_checkpoint(tiny_models["ensemble"])[0]
    plain = ModelRollouts(ensemble, hopper_random, hopper_terminated,
                          MopoConfig(horizon=5, starts=40, penalty=0.0))
    penalised = ModelRollouts(ensemble, hopper_random, hopper_terminated,
                              MopoConfig(horizon=5, starts=40, penalty=2.0))
    a = plain.transitions(policy, np.random.default_rng(1))
    b = penalised.transitions(policy, np.random.default_rng(1))
    _check_rows(a, 11, 3)
    assert _ends(a) == 40 and len(a["rewards"]) <= 5 * 40  # one end per branch, cut early
    np.testing.assert_array_equal(a["observations"], b["observations"])  # same draws
    gap = a["rewards"] - b["rewards"]
    assert (gap > 0).all()  # every reward lowered by 2 x a positive uncertainty
    # The actions are the policy's own on the generated states.
    np.testing.assert_allclose(a["actions"], policy.act(a["observations"], None), atol=1e-6)
    assert all(hopper_terminated(a["next_observations"][a["terminals"]]))


def test_dydiff_trajectories_keep_the_best_share(tiny_models, hopper_random, policy):
    trajectory = load_checkpoint(tiny_models["trajectory"])[0]
    ensemble = load_checkpoint(tiny_models["ensemble"])[0]
    source = DyDiffTrajectories(trajectory, ensemble, hopper_random, hopper_terminated,
                                DyDiffConfig(horizon=12, rounds=1, starts=10, keep=0.6))
    rows = source.transitions(policy, np.random.default_rng(0))
    _check_rows(rows, 11, 3)
    assert _ends(rows) == 6 and len(rows["rewards"]) <= 6 * 12
    np.testing.assert_allclose(rows["actions"], policy.act(rows["observations"], None),
                               atol=1e-6)  # relabelled by the policy in the last round


def test_file_source_samples_the_file(hopper_random, rng):
    rows = FileTransitions(hopper_random, rows=50).transitions(None, rng)
    assert set(KEYS) <= set(rows) and len(rows["rewards"]) == 50
    assert np.isin(rows["rewards"], hopper_random["rewards"]).all()


@pytest.mark.parametrize("kind, model, start, message", [
    ("bogus", None, None, "unknown synthetic source"),
    ("mopo", None, None, "needs a step model"),
    ("mopo", "trajectory", None, "cannot step"),
    ("dydiff", "ensemble", None, "cannot denoise trajectories"),
    ("dydiff", "trajectory", None, "needs a step model for the start rollout"),
    ("dydiff", "trajectory", "trajectory", "the start rollout needs a step model"),
    ("file", None, None, "needs a synthetic HDF5 file"),
])
def test_make_source_bad_input(tiny_models, hopper_random, kind, model, start, message):
    with pytest.raises(ValueError, match=message):
        make_source(kind, hopper_random, "Hopper-v5", tiny_models.get(model),
                    tiny_models.get(start))


def test_make_source_refuses_another_tasks_file(hopper_random, tmp_path):
    other = OfflineDataset(dict(hopper_random.arrays), {"env_id": "Walker2d-v5"})
    path = save_hdf5(other, tmp_path / "walker.hdf5")
    with pytest.raises(ValueError, match="Walker2d-v5"):
        make_source("file", hopper_random, "Hopper-v5", file=str(path))


def test_offline_train_with_mopo_and_dydiff_sources(tiny_models, tmp_path, capsys):
    base = ["offline", "train", "--dataset", str(tiny_models["data"]), "--total-steps", "40",
            "--batch-size", "16", "--hidden", "16", "--eval-every", "40", "--eval-episodes",
            "1", "--refresh-every", "20"]
    mopo = base + ["--synthetic", "mopo", "--synthetic-model", str(tiny_models["ensemble"]),
                   "--mopo-starts", "20", "--out", str(tmp_path / "mopo")]
    dydiff = base + ["--synthetic", "dydiff", "--synthetic-model",
                     str(tiny_models["trajectory"]), "--start-model",
                     str(tiny_models["ensemble"]), "--dydiff-starts", "4", "--dydiff-horizon",
                     "10", "--dydiff-rounds", "1", "--out", str(tmp_path / "dydiff")]
    assert main(mopo) == 0 and main(dydiff) == 0
    assert capsys.readouterr().out.count('"step": 40') == 2
    info = load_actor(tmp_path / "dydiff" / "policy.safetensors")[1]
    assert info["synthetic"]["kind"] == "dydiff" and info["synthetic"]["config"]["rounds"] == 1
    # A model trained on other data is allowed, and said to be no like-for-like comparison.
    shipped = base + ["--synthetic", "mopo", "--synthetic-model", str(pretrained_path("hopper")),
                      "--total-steps", "0", "--out", str(tmp_path / "shipped")]
    assert main(shipped) == 0
    assert "not like for like" in capsys.readouterr().out
