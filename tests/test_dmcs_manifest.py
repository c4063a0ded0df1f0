"""Tests for video_structure.data.dmcs.manifest (no TensorFlow in this file)."""

import pytest

from video_structure.data import dmcs


def test_plan_shards_covers_every_episode_once():
    shards = dmcs.plan_shards(["reacher/easy", "cheetah/run"], {"train": 7, "test": 0}, 3)
    assert [(s["domain"], s["first_episode"], s["num_episodes"]) for s in shards] == [
        ("reacher/easy", 0, 3),
        ("reacher/easy", 3, 3),
        ("reacher/easy", 6, 1),
        ("cheetah/run", 0, 3),
        ("cheetah/run", 3, 3),
        ("cheetah/run", 6, 1),
    ]
    assert shards[0]["file"] == "train-reacher_easy-00000-of-00003.npy"


def test_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dmcs.load_manifest(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="manifest.json not found"):
        dmcs.load_manifest(str(tmp_path))
    (tmp_path / dmcs.MANIFEST_NAME).write_text('{"format_version": 1}')
    with pytest.raises(dmcs.OutdatedDatasetError, match="format 1.*Regenerate"):
        dmcs.load_manifest(str(tmp_path))
    (tmp_path / dmcs.MANIFEST_NAME).write_text(f'{{"format_version": {dmcs.FORMAT_VERSION}}}')
    with pytest.raises(ValueError, match="Malformed"):
        dmcs.load_manifest(str(tmp_path))
