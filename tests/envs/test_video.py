"""The side-by-side video command writes a real file from both envs."""

from __future__ import annotations

import imageio.v2 as imageio
import pytest

from dreamenv.cli import main
from dreamenv.evaluation.video import side_by_side


def test_side_by_side_gif(tmp_path):
    result = side_by_side(tmp_path / "run.gif", policy="expert", seed=0, steps=6, size=48)
    frames = imageio.mimread(result["video"])
    assert len(frames) == 3 and frames[0].shape[:2] == (48, 96)  # every 2nd frame, 2 panels
    assert set(result["returns"]) == {"real Hopper-v5", "DyDiff-Hopper"}
    assert not list(tmp_path.glob(".tmp-*"))


def test_video_cli_rejects_other_formats(tmp_path, capsys):
    assert main(["video", "--out", str(tmp_path / "x.avi"), "--steps", "2"]) == 2
    assert "must end in .mp4 or .gif" in capsys.readouterr().err


def test_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")  # the `video` extra; the test extra installs it
    result = side_by_side(tmp_path / "run.mp4", steps=4, size=48)
    assert len(imageio.mimread(result["video"])) == 4
