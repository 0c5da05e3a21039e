"""HDF5 round trip, and the one-line errors for every kind of bad file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.datasets.hdf5 import load_hdf5, save_hdf5


def test_round_trip_keeps_arrays_and_metadata(hopper_random, tmp_path):
    path = save_hdf5(hopper_random, tmp_path / "d.hdf5")
    loaded = load_hdf5(path)
    assert set(loaded.arrays) == set(hopper_random.arrays)
    for key, value in hopper_random.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], value)
        assert loaded.arrays[key].dtype == value.dtype
    assert loaded.metadata == hopper_random.metadata
    with h5py.File(path) as f:  # plain D4RL readers see the standard keys
        assert f["observations"].shape == (600, 11) and "infos/qpos" in f


def _write(path, arrays):
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


def _one_line(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_key(hopper_random, tmp_path):
    arrays = dict(hopper_random.arrays)
    del arrays["timeouts"]
    path = _write(tmp_path / "missing.hdf5", arrays)
    with pytest.raises(DatasetError) as e:
        load_hdf5(path)
    _one_line(e, "missing.hdf5", "'timeouts'")


def test_shape_mismatch(hopper_random, tmp_path):
    arrays = dict(hopper_random.arrays)
    arrays["actions"] = arrays["actions"][:-3]
    path = _write(tmp_path / "short.hdf5", arrays)
    with pytest.raises(DatasetError) as e:
        load_hdf5(path)
    _one_line(e, "short.hdf5", "'actions'", "597")


def test_next_observation_width_mismatch(hopper_random, tmp_path):
    arrays = dict(hopper_random.arrays)
    arrays["next_observations"] = arrays["next_observations"][:, :5]
    with pytest.raises(DatasetError) as e:
        load_hdf5(_write(tmp_path / "w.hdf5", arrays))
    _one_line(e, "'next_observations'", "width")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(hopper_random, tmp_path, bad):
    arrays = dict(hopper_random.arrays)
    arrays["rewards"] = arrays["rewards"].copy()
    arrays["rewards"][42] = bad
    with pytest.raises(DatasetError) as e:
        load_hdf5(_write(tmp_path / "nan.hdf5", arrays))
    _one_line(e, "nan.hdf5", "'rewards'", "row 42")


def test_empty_dataset(hopper_random, tmp_path):
    arrays = {k: v[:0] for k, v in hopper_random.arrays.items()}
    with pytest.raises(DatasetError) as e:
        load_hdf5(_write(tmp_path / "empty.hdf5", arrays))
    _one_line(e, "empty.hdf5", "empty")


def test_empty_file_and_truncated_file(hopper_random, tmp_path):
    (tmp_path / "zero.hdf5").write_bytes(b"")
    with pytest.raises(DatasetError) as e:
        load_hdf5(tmp_path / "zero.hdf5")
    _one_line(e, "zero.hdf5", "not a readable HDF5 file")
    good = save_hdf5(hopper_random, tmp_path / "good.hdf5").read_bytes()
    (tmp_path / "cut.hdf5").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError) as e:
        load_hdf5(tmp_path / "cut.hdf5")
    _one_line(e, "cut.hdf5")


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_hdf5(tmp_path / "nope.hdf5")
    _one_line(e, "nope.hdf5", "no such")


def test_user_file_without_qpos_and_with_extra_keys(hopper_random, tmp_path):
    arrays = {k: v for k, v in hopper_random.arrays.items() if not k.startswith("infos/")}
    arrays["infos/action_log_probs"] = np.zeros(600, np.float32)  # D4RL files carry extras
    arrays["terminals"] = arrays["terminals"].astype(np.float32)  # and 0/1 floats for flags
    loaded = load_hdf5(_write(tmp_path / "user.hdf5", arrays))
    assert "infos/qpos" not in loaded.arrays and loaded.arrays["terminals"].dtype == bool
    np.testing.assert_array_equal(loaded.episodes, hopper_random.episodes)


def test_interrupted_save_leaves_no_file(hopper_random, tmp_path, monkeypatch):
    """A crash mid-write must not leave a file at the target path, nor a temp file that loads."""
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(h5py.Group, "create_group", crash)
    with pytest.raises(KeyboardInterrupt):
        save_hdf5(hopper_random, tmp_path / "d.hdf5")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_file(hopper_random, tmp_path, monkeypatch):
    path = save_hdf5(hopper_random, tmp_path / "d.hdf5")
    monkeypatch.setattr(h5py.Group, "create_group",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    small = OfflineDataset({k: v[:10] for k, v in hopper_random.arrays.items()})
    with pytest.raises(KeyboardInterrupt):
        save_hdf5(small, path)
    assert len(load_hdf5(path)) == 600


def test_string_metadata_keeps_its_type(hopper_random, tmp_path):
    ds = OfflineDataset(hopper_random.arrays, {"policy": "123", "flag": "true", "n": 5})
    assert load_hdf5(save_hdf5(ds, tmp_path / "m.hdf5")).metadata == ds.metadata


def test_scalar_key_is_a_one_line_error(hopper_random, tmp_path):
    arrays = dict(hopper_random.arrays)
    arrays["rewards"] = np.float32(1.0)
    with pytest.raises(DatasetError) as e:
        load_hdf5(_write(tmp_path / "scalar.hdf5", arrays))
    _one_line(e, "scalar.hdf5", "'rewards'")
