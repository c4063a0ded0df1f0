"""Tests for video_structure.data.dmcs.generation (no TensorFlow in this file)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from video_structure.data import dmcs

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, tiny_dmcs):
    path = str(tmp_path_factory.mktemp("dmcs"))
    manifest = dmcs.generate(path, num_workers=2, **tiny_dmcs)
    return path, manifest


@pytest.mark.needs_mujoco_gl
def test_tiny_generation(tiny_dataset, tiny_dmcs):
    path, manifest = tiny_dataset
    assert manifest["dtype"] == dmcs.record_dtype(5, 64, 6, 7)
    assert manifest["action_sizes"] == {"cartpole/balance": 1, "walker/walk": 6}
    assert [len(manifest["body_names"][d]) for d in tiny_dmcs["domains"]] == [2, 7]
    assert manifest["body_names"]["cartpole/balance"] == ["cart", "pole_1"]
    assert set(manifest["versions"]) == {"dm-control", "mujoco", "numpy"}
    assert len(manifest["shards"]) == 8
    assert sorted(os.listdir(path)) == sorted(
        [s["file"] for s in manifest["shards"]] + [dmcs.MANIFEST_NAME, dmcs.SPEC_NAME]
    )
    first_frames = {}
    for shard in manifest["shards"]:
        records = dmcs.open_shard(path, manifest, shard)
        domain_index = tiny_dmcs["domains"].index(shard["domain"])
        num_actions = manifest["action_sizes"][shard["domain"]]
        num_bodies = len(manifest["body_names"][shard["domain"]])
        assert records.shape == (1,)
        assert records["domain"][0] == domain_index
        assert records["frames"].shape == (1, 5, 64, 64, 3)
        assert records["frames"].std() > 10  # A rendered scene, not blank.
        actions = records["actions"][0]  # [T, 6]
        assert np.all(actions[0] == 0) and np.all(actions[:, num_actions:] == 0)
        # "extremes": every component at a bound, each action held for 2 frames.
        assert np.all(np.abs(actions[1:, :num_actions]) == 1)
        np.testing.assert_array_equal(actions[1], actions[2])
        np.testing.assert_array_equal(actions[3], actions[4])
        rewards = records["rewards"][0]
        assert rewards[0] == 0 and np.all((rewards >= 0) & (rewards <= 1))
        positions = records["positions"][0]  # [T, 7, 2]
        assert np.all(np.isnan(positions[:, num_bodies:]))
        assert np.all(np.abs(positions[:, :num_bodies]) < 1)
        first_frames[(shard["split"], shard["domain"], shard["first_episode"])] = records["frames"][
            0, 0
        ]
    assert manifest["action_repeat"] == {"cartpole/balance": 4, "walker/walk": 4}
    for split in dmcs.SPLITS:
        for domain in tiny_dmcs["domains"]:
            parts = [
                dmcs.open_shard(path, manifest, s)
                for s in manifest["shards"]
                if s["split"] == split and s["domain"] == domain
            ]
            expected = dmcs.motion_statistics(
                np.concatenate([p["positions"] for p in parts]),
                np.concatenate([p["rewards"] for p in parts]),
            )
            assert manifest["statistics"][split][domain] == expected
    # Disjoint seeds: no two episodes start in the same state.
    frames = list(first_frames.values())
    assert all(not np.array_equal(a, b) for i, a in enumerate(frames) for b in frames[i + 1 :])


@pytest.mark.needs_mujoco_gl
def test_content_depends_only_on_seed(tiny_dataset, tmp_path, tiny_dmcs):
    path, manifest = tiny_dataset
    other = dmcs.generate(str(tmp_path), num_workers=1, **dict(tiny_dmcs, episodes_per_shard=2))
    for split in dmcs.SPLITS:
        records = [
            np.concatenate(
                [dmcs.open_shard(directory, m, s) for s in m["shards"] if s["split"] == split]
            )
            for directory, m in ((path, manifest), (str(tmp_path), other))
        ]
        assert records[0].tobytes() == records[1].tobytes()


@pytest.mark.needs_mujoco_gl
def test_rerun_skips_finished_shards(tiny_dataset, tiny_dmcs):
    path, manifest = tiny_dataset
    mtimes = {
        n: os.stat(os.path.join(path, n)).st_mtime_ns
        for n in os.listdir(path)
        if n.endswith(".npy")
    }
    assert dmcs.generate(path, num_workers=1, **tiny_dmcs) == manifest
    assert mtimes == {
        n: os.stat(os.path.join(path, n)).st_mtime_ns
        for n in os.listdir(path)
        if n.endswith(".npy")
    }


@pytest.mark.needs_mujoco_gl
def test_rerun_with_other_parameters_fails(tiny_dataset, tiny_dmcs):
    path, _ = tiny_dataset
    with pytest.raises(ValueError, match="other parameters.*seed: 3 before, 4 now"):
        dmcs.generate(path, num_workers=1, **dict(tiny_dmcs, seed=4))


@pytest.mark.needs_mujoco_gl
def test_the_script_names_other_parameters_in_one_line(tiny_dataset):
    path, _ = tiny_dataset
    script = os.path.join(_REPO_ROOT, "datasets", "generate_dmcs.py")
    result = subprocess.run(
        [
            sys.executable,
            script,
            f"--output_dir={path}",
            "--domains=cartpole/balance,walker/walk",
            "--train_episodes=2",
            "--test_episodes=2",
            "--episodes_per_shard=1",
            "--seed=3",
            "--episode_length=6",
        ],
        env=dict(os.environ, PYTHONPATH=_REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("generate_dmcs.py: error: ") and "other parameters" in last, last
    assert "episode_length: 5 before, 6 now" in last
    assert "Traceback" not in result.stderr and "--episodes_per_shard" not in result.stderr


@pytest.mark.needs_mujoco_gl
def test_rerun_with_another_gl_backend_fails(tiny_dataset, monkeypatch, tiny_dmcs):
    path, manifest = tiny_dataset
    other = next(b for b in dmcs.GL_BACKENDS if b != manifest["gl_backend"])
    monkeypatch.setenv("MUJOCO_GL", other)
    with pytest.raises(ValueError, match=f"gl_backend.*set MUJOCO_GL={manifest['gl_backend']}"):
        dmcs.generate(path, num_workers=1, **tiny_dmcs)


@pytest.mark.needs_mujoco_gl
def test_size_differences_name_the_existing_sizes(tiny_dataset):
    _, manifest = tiny_dataset
    assert dmcs.size_differences(manifest, 2, 2, 5) is None
    assert (
        dmcs.size_differences(manifest, 20, 2, 100)
        == "train_episodes 2 (not 20), episode_length 5 (not 100)"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"domains": ["walker/run"]}, "walker/run"),
        ({"domains": []}, "domains"),
        ({"episode_length": 0}, "episode_length"),
        ({"episodes_per_shard": 0}, "episodes_per_shard"),
        ({"seed": -1}, "seed"),
        ({"action_repeat": 1.5}, "action_repeat"),
        ({"action_hold": 0}, "action_hold"),
        ({"action_distribution": "gaussian"}, "action_distribution"),
    ],
)
def test_generate_rejects_bad_arguments(tmp_path, kwargs, match, tiny_dmcs):
    with pytest.raises(ValueError, match=match):
        dmcs.generate(str(tmp_path / "out"), **dict(tiny_dmcs, **kwargs))
    assert not os.path.exists(tmp_path / "out")
