"""Tests for video_structure.data.dmcs_reader."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from video_structure.data import dmcs, dmcs_reader

# Every test reads a generated dataset.
pytestmark = pytest.mark.needs_mujoco_gl

_DOMAINS = ["cartpole/balance", "walker/walk"]


_LENGTH = 6


@pytest.fixture(scope="module")
def dmcs_dir(tmp_path_factory, gl_backend):
    # Generation only spawns TF-free processes, so it is safe from this
    # process even though it has imported TensorFlow.
    path = str(tmp_path_factory.mktemp("dmcs"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUJOCO_GL", gl_backend)  # Probed once per session, in conftest.py.
        dmcs.generate(
            path,
            domains=_DOMAINS,
            train_episodes=2,
            test_episodes=2,
            episode_length=_LENGTH,
            episodes_per_shard=1,
            seed=5,
            num_workers=2,
            progress=False,
        )
    return path


@pytest.fixture
def dmcs_copy(dmcs_dir, tmp_path):
    path = str(tmp_path / "copy")
    shutil.copytree(dmcs_dir, path)
    return path


def _episodes(data_dir, split):
    """Returns {field: [episodes, ...]} read with numpy, in manifest order."""
    manifest = dmcs.load_manifest(data_dir)
    records = np.concatenate(
        [dmcs.open_shard(data_dir, manifest, s) for s in manifest["shards"] if s["split"] == split]
    )
    return {name: records[name] for name in records.dtype.names}


def _find_window(batch_frames, episodes_frames):
    """Returns (episode, start) whose frames equal a window, or None."""
    length = len(batch_frames)
    for episode, frames in enumerate(episodes_frames):
        for start in range(len(frames) - length + 1):
            if np.array_equal(frames[start : start + length], batch_frames):
                return episode, start
    return None


def test_dmcs_dataset_yields_every_window_once(dmcs_dir):
    dataset = dmcs_reader.dmcs_dataset(
        dmcs_dir, "test", seq_len=4, batch_size=2, shuffle=False, repeat=False
    )
    episodes = _episodes(dmcs_dir, "test")
    windows = []
    for batch in dataset:
        assert batch["frames"].shape == (2, 4, 64, 64, 3)
        assert batch["frames"].dtype == tf.float32
        assert batch["actions"].shape == (2, 4, 6)
        assert batch["rewards"].shape == (2, 4)
        assert batch["positions"].shape == (2, 4, 7, 2)
        assert batch["domain"].dtype == tf.int32
        for key in ("actions", "rewards", "positions"):
            assert batch[key].dtype == tf.float32, key
        frames = batch["frames"].numpy()
        assert frames.min() >= 0 and frames.max() <= 1
        assert np.all(np.abs(batch["actions"]) <= 1)
        assert np.all((batch["rewards"] >= 0) & (batch["rewards"] <= 1))
        positions = batch["positions"].numpy()  # [2, 4, 7, 2]
        num_bodies = np.where(batch["domain"].numpy() == 0, 2, 7)  # cartpole, walker
        for i in range(2):
            assert np.all(np.abs(positions[i, :, : num_bodies[i]]) < 1)
            assert np.all(np.isnan(positions[i, :, num_bodies[i] :]))
        for i in range(2):
            uint8 = np.round(frames[i] * 255).astype(np.uint8)
            found = _find_window(uint8, episodes["frames"])
            assert found is not None, "window crosses an episode boundary"
            episode, start = found
            window = slice(start, start + 4)
            for key in ("actions", "rewards", "positions"):
                np.testing.assert_array_equal(batch[key][i], episodes[key][episode, window])
            assert batch["domain"][i] == episodes["domain"][episode]
            assert batch["episode"][i] == episode
            windows.append(found)
    # 4 episodes x 3 windows of 4 frames in 6; batch 2 divides 12.
    assert sorted(windows) == [(e, s) for e in range(4) for s in range(3)]
    domain = episodes["domain"]
    assert sorted(domain.tolist()) == [0, 0, 1, 1]
    walker = np.flatnonzero(domain == 1)[0]
    cartpole = np.flatnonzero(domain == 0)[0]
    assert np.all(np.isnan(episodes["positions"][cartpole, :, 2:]))
    assert not np.any(np.isnan(episodes["positions"][walker]))
    assert np.all(episodes["actions"][cartpole, :, 1:] == 0)


def test_dmcs_dataset_shuffle_is_seeded(dmcs_dir):
    def first_rewards(seed, shuffle=True):
        dataset = dmcs_reader.dmcs_dataset(
            dmcs_dir, "train", seq_len=2, batch_size=4, shuffle=shuffle, repeat=True, seed=seed
        )
        return np.concatenate([b["rewards"].numpy() for b in dataset.take(5)])

    np.testing.assert_array_equal(first_rewards(1), first_rewards(1))
    assert not np.array_equal(first_rewards(1), first_rewards(None, False))


@pytest.mark.parametrize(
    "domains, expected", [(["walker/walk"], {1}), (["cartpole/balance"], {0}), (None, {0, 1})]
)
def test_dmcs_dataset_domain_selection(dmcs_dir, domains, expected):
    dataset = dmcs_reader.dmcs_dataset(
        dmcs_dir,
        "train",
        seq_len=_LENGTH,
        batch_size=1,
        shuffle=False,
        repeat=False,
        domains=domains,
    )
    assert {int(b["domain"][0]) for b in dataset} == expected


def test_dmcs_dataset_window_stride(dmcs_dir):
    dataset = dmcs_reader.dmcs_dataset(
        dmcs_dir, "train", seq_len=2, batch_size=1, shuffle=False, repeat=False, window_stride=2
    )
    # 4 episodes x starts {0, 2, 4}.
    assert sum(1 for _ in dataset) == 12


def _truncate(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(path, name)) - 100)


def _flip_last_byte(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))


def _edit_manifest(path, edit):
    manifest_path = os.path.join(path, dmcs.MANIFEST_NAME)
    with open(manifest_path) as f:
        manifest = json.load(f)
    edit(manifest)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)


def _shard_name(path):
    return dmcs.load_manifest(path)["shards"][0]["file"]


def _more_episodes(manifest):
    manifest["shards"][0]["num_episodes"] = 2


def _drop_checksum(manifest):
    del manifest["shards"][0]["sha256"]


def _drop_size(manifest):
    del manifest["shards"][0]["bytes"]


def _longer_episodes(manifest):
    manifest["episode_length"] += 1
    for _, _, shape in manifest["record_dtype"]:
        if shape:
            shape[0] += 1


def _damage_shard_header(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.write(b"garbage!")


@pytest.mark.parametrize(
    "damage, error, match",
    [
        (lambda p: _truncate(p, _shard_name(p)), ValueError, "truncated"),
        (lambda p: _flip_last_byte(p, _shard_name(p)), ValueError, "corrupt"),
        (lambda p: os.remove(os.path.join(p, _shard_name(p))), FileNotFoundError, "missing"),
        (
            lambda p: _edit_manifest(p, _more_episodes),
            ValueError,
            "listed with {'num_episodes': 2}",
        ),
        (lambda p: _edit_manifest(p, lambda m: m["shards"].pop(0)), ValueError, "missing from"),
        (lambda p: _edit_manifest(p, _drop_checksum), ValueError, r"lacks \['sha256'\]"),
        (lambda p: _edit_manifest(p, _drop_size), ValueError, r"lacks \['bytes'\]"),
        (lambda p: _edit_manifest(p, _longer_episodes), ValueError, "manifest expects"),
        (
            lambda p: _edit_manifest(p, lambda m: m["record_dtype"].pop()),
            ValueError,
            "Malformed DMCS manifest",
        ),
        (
            lambda p: os.remove(os.path.join(p, dmcs.MANIFEST_NAME)),
            FileNotFoundError,
            "manifest.json not found",
        ),
    ],
)
def test_dmcs_dataset_rejects_damaged_data(dmcs_copy, damage, error, match):
    name = _shard_name(dmcs_copy)
    damage(dmcs_copy)
    with pytest.raises(error, match=match) as info:
        dmcs_reader.dmcs_dataset(dmcs_copy, "train", 2, 1)
    if "manifest" not in match:
        assert name in str(info.value)


def test_dmcs_dataset_rejects_bad_header_without_checksums(dmcs_copy):
    name = _shard_name(dmcs_copy)
    _damage_shard_header(dmcs_copy, name)
    with pytest.raises(ValueError, match=re.escape(f"{name} is not a readable")):
        dmcs_reader.dmcs_dataset(dmcs_copy, "train", 2, 1, verify_checksums=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "valid"}, ValueError, "split"),
        ({"domains": ["cheetah/run"]}, ValueError, "cheetah/run"),
        ({"image_size": 32}, ValueError, "expected 32x32"),
        ({"seq_len": _LENGTH + 1}, ValueError, "seq_len=7"),
        ({"seq_len": 0}, ValueError, "seq_len"),
        ({"batch_size": 100, "repeat": False}, ValueError, "batch_size=100"),
    ],
)
def test_dmcs_dataset_rejects_bad_arguments(dmcs_dir, kwargs, error, match):
    args = dict(split="train", seq_len=2, batch_size=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        dmcs_reader.dmcs_dataset(dmcs_dir, **args)
