"""Tests for video_structure.data.dmcs (no TensorFlow in this file)."""

import contextlib
import filecmp
import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from video_structure import files
from video_structure.data import dmcs

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TINY = dict(
    domains=["cartpole/balance", "walker/walk"],
    train_episodes=2,
    test_episodes=2,
    episode_length=5,
    episodes_per_shard=1,
    seed=3,
    progress=False,
)


def _run_python(code, **kwargs):
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT)
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def test_loading_the_cheetah_logs_no_mujoco_deprecation_notice():
    # MuJoCo 3 warns through absl that dm-control's cheetah.xml uses the
    # deprecated settotalmass; the filter drops that notice and no other record.
    result = _run_python("""
        import logging
        from video_structure.data import dmcs
        logging.basicConfig(format="%(message)s")
        dmcs.load_env("cheetah/run")
        logging.getLogger("absl").warning("another warning")
    """)
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr
    assert "another warning" in result.stderr


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("dmcs"))
    manifest = dmcs.generate(path, num_workers=2, **_TINY)
    return path, manifest


def test_module_does_not_import_tensorflow():
    result = _run_python("""
        import sys
        from video_structure.data import dmcs
        assert 'tensorflow' not in sys.modules, 'tensorflow imported'
        assert 'dm_control' not in sys.modules, 'dm_control imported eagerly'
    """)
    assert result.returncode == 0, result.stderr


_SCRIPT_IMPORTED_BY_WORKERS = """
import os
import sys
from video_structure.data import dmcs

if __name__ == '__main__':
    # Two shards for two workers: the second worker starts at the second
    # shard's submit, after the first has rendered the domain's info.
    dmcs.generate(sys.argv[1], domains=['reacher/easy'], train_episodes=2,
                  test_episodes=0, episode_length=2, episodes_per_shard=1,
                  num_workers=2, progress=False)
else:
    # Only a spawn worker re-importing this script gets here; a script that
    # imports TensorFlow would load it into the worker the same way.
    open(sys.argv[1] + '.reimported', 'w').close()
"""


def test_workers_do_not_reimport_the_main_script(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT_IMPORTED_BY_WORKERS)
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(script), str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=_REPO_ROOT),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.exists(output / dmcs.MANIFEST_NAME)
    assert not os.path.exists(str(output) + ".reimported")


@pytest.mark.parametrize(
    "uv, expected",
    [
        ((0, 0), (-1 + 1 / 64, 1 - 1 / 64)),
        ((63, 63), (1 - 1 / 64, -1 + 1 / 64)),
        ((31.5, 31.5), (0.0, 0.0)),
        ((-0.5, 63.5), (-1.0, -1.0)),
    ],
)
def test_pixels_to_keypoints(uv, expected):
    np.testing.assert_allclose(dmcs.pixels_to_keypoints(uv, 64, 64), expected, atol=1e-12)


def test_episode_seeds_differ_across_split_domain_and_episode():
    states = {
        (split, domain, episode): tuple(
            dmcs.episode_seed(0, split, domain, episode).generate_state(4)
        )
        for split in dmcs.SPLITS
        for domain in dmcs.DOMAINS
        for episode in range(3)
    }
    assert len(set(states.values())) == len(states)
    assert states[("train", "walker/walk", 1)] == tuple(
        dmcs.episode_seed(0, "train", "walker/walk", 1).generate_state(4)
    )


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


def test_tiny_generation(tiny_dataset):
    path, manifest = tiny_dataset
    assert manifest["dtype"] == dmcs.record_dtype(5, 64, 6, 7)
    assert manifest["action_sizes"] == {"cartpole/balance": 1, "walker/walk": 6}
    assert [len(manifest["body_names"][d]) for d in _TINY["domains"]] == [2, 7]
    assert manifest["body_names"]["cartpole/balance"] == ["cart", "pole_1"]
    assert set(manifest["versions"]) == {"dm-control", "mujoco", "numpy"}
    assert len(manifest["shards"]) == 8
    assert sorted(os.listdir(path)) == sorted(
        [s["file"] for s in manifest["shards"]] + [dmcs.MANIFEST_NAME, dmcs.SPEC_NAME]
    )
    first_frames = {}
    for shard in manifest["shards"]:
        records = dmcs.open_shard(path, manifest, shard)
        domain_index = _TINY["domains"].index(shard["domain"])
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
        for domain in _TINY["domains"]:
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


def test_content_depends_only_on_seed(tiny_dataset, tmp_path):
    path, manifest = tiny_dataset
    other = dmcs.generate(str(tmp_path), num_workers=1, **dict(_TINY, episodes_per_shard=2))
    for split in dmcs.SPLITS:
        records = [
            np.concatenate(
                [dmcs.open_shard(directory, m, s) for s in m["shards"] if s["split"] == split]
            )
            for directory, m in ((path, manifest), (str(tmp_path), other))
        ]
        assert records[0].tobytes() == records[1].tobytes()


def test_rerun_skips_finished_shards(tiny_dataset):
    path, manifest = tiny_dataset
    mtimes = {
        n: os.stat(os.path.join(path, n)).st_mtime_ns
        for n in os.listdir(path)
        if n.endswith(".npy")
    }
    assert dmcs.generate(path, num_workers=1, **_TINY) == manifest
    assert mtimes == {
        n: os.stat(os.path.join(path, n)).st_mtime_ns
        for n in os.listdir(path)
        if n.endswith(".npy")
    }


def test_rerun_with_other_parameters_fails(tiny_dataset):
    path, _ = tiny_dataset
    with pytest.raises(ValueError, match="other parameters.*seed: 3 before, 4 now"):
        dmcs.generate(path, num_workers=1, **dict(_TINY, seed=4))


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


def test_rerun_with_another_gl_backend_fails(tiny_dataset, monkeypatch):
    path, manifest = tiny_dataset
    other = next(b for b in dmcs.GL_BACKENDS if b != manifest["gl_backend"])
    monkeypatch.setenv("MUJOCO_GL", other)
    with pytest.raises(ValueError, match=f"gl_backend.*set MUJOCO_GL={manifest['gl_backend']}"):
        dmcs.generate(path, num_workers=1, **_TINY)


def test_size_differences_name_the_existing_sizes(tiny_dataset):
    _, manifest = tiny_dataset
    assert dmcs.size_differences(manifest, 2, 2, 5) is None
    assert (
        dmcs.size_differences(manifest, 20, 2, 100)
        == "train_episodes 2 (not 20), episode_length 5 (not 100)"
    )


def test_motion_statistics_against_numpy():
    rng = np.random.default_rng(0)
    positions = rng.uniform(-1, 1, size=(2, 20, 3, 2))
    positions[:, :, 2] = np.nan  # a body this domain does not have
    rewards = np.zeros((2, 20))
    rewards[1, 10] = 0.5  # varies in the windows of episode 1 that hold step 10
    stats = dmcs.motion_statistics(positions, rewards, window=4)
    moved, varies = [], []
    for e in range(2):
        for start in range(1, 17):
            last = start + 3
            moved.append(
                np.mean(np.linalg.norm(positions[e, last, :2] - positions[e, start, :2], axis=-1))
            )
            varies.append(e == 1 and start <= 10 <= last)
    assert stats["windows"] == 32
    np.testing.assert_allclose(stats["displacement_heatmap_pixels"], np.mean(moved) / 0.125)
    np.testing.assert_allclose(stats["reward_varies"], np.mean(varies))
    np.testing.assert_allclose(stats["reward_mean"], 0.5 / 38)


@pytest.mark.parametrize("distribution", dmcs.ACTION_DISTRIBUTIONS)
def test_random_actions_lie_in_the_spec(distribution):
    spec = types.SimpleNamespace(
        minimum=np.array([-1.0, 0.0]), maximum=np.array([1.0, 2.0]), shape=(2,)
    )
    actions = np.stack(
        [dmcs.random_action(np.random.default_rng(i), spec, distribution) for i in range(200)]
    )
    assert actions.dtype == np.float32
    assert np.all((actions >= spec.minimum) & (actions <= spec.maximum))
    at_bounds = np.isin(actions, np.concatenate([spec.minimum, spec.maximum]))
    assert at_bounds.all() == (distribution == "extremes")
    assert 0.35 < np.mean(actions[:, 0] > 0) < 0.65  # both signs, about equally often


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
def test_generate_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dmcs.generate(str(tmp_path / "out"), **dict(_TINY, **kwargs))
    assert not os.path.exists(tmp_path / "out")


def test_missing_gl_backend_names_debian_packages(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(dmcs, "GL_BACKENDS", ("no_such_backend",))
    with pytest.raises(RuntimeError, match="libosmesa6"):
        dmcs.select_gl_backend()


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


# Replays a generated episode of every domain from its stored actions and
# checks, at every frame, that the replay renders the stored frame, that the
# camera matrix equals dm_control's, and that every body's stored position
# lies on that body: inside its segmentation mask or within 2 px of the mask's
# centroid. Each body is rendered alone (the other bodies' geoms moved to a
# hidden geom group), because a walker's left leg is often behind its right
# one, and the position of a hidden part still belongs on the body.
_POSITIONS_ON_BODIES = """
import mujoco
import numpy as np
from dm_control.mujoco import engine
from video_structure.data import dmcs

T, SIZE, HIDDEN_GROUP = 3, 64, 5
checked = 0
for domain in dmcs.DOMAINS:
    env = dmcs.load_env(domain)
    model = env.physics.model
    record = np.zeros((), dmcs.record_dtype(T, SIZE, 6, 7))
    seed_sequence = dmcs.episode_seed(0, 'test', domain, 0)
    repeat = dmcs.DEFAULT_ACTION_REPEAT[domain]
    dmcs.generate_episode(env, seed_sequence, T, SIZE, repeat, 2, 'extremes', record)
    dmcs.reset_episode(env, seed_sequence)
    num_actions = env.action_spec().shape[0]
    groups = model.geom_group.copy()
    for t in range(T):
        for _ in range(repeat if t > 0 else 0):
            env.step(record['actions'][t, :num_actions])
        physics = env.physics
        frame = physics.render(SIZE, SIZE, camera_id=0)
        assert np.array_equal(frame, record['frames'][t]), (domain, t)
        np.testing.assert_allclose(
            dmcs.camera_matrix(physics, SIZE),
            engine.Camera(physics, SIZE, SIZE, camera_id=0).matrix, rtol=1e-12, atol=1e-9)
        for body_id in range(1, model.nbody):
            model.geom_group[:] = np.where(model.geom_bodyid == body_id, groups, HIDDEN_GROUP)
            seg = physics.render(SIZE, SIZE, camera_id=0, segmentation=True)
            model.geom_group[:] = groups
            is_geom = seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM
            mask = is_geom & (model.geom_bodyid[np.maximum(seg[..., 0], 0)] == body_id)
            if not mask.any():
                continue
            x, y = record['positions'][t, body_id - 1]
            u, v = (x + 1) * SIZE / 2 - 0.5, (1 - y) * SIZE / 2 - 0.5
            centroid_v, centroid_u = np.argwhere(mask).mean(axis=0)
            column, row = int(round(u)), int(round(v))
            inside = 0 <= row < SIZE and 0 <= column < SIZE and mask[row, column]
            near = np.hypot(u - centroid_u, v - centroid_v) <= 2
            assert inside or near, (domain, model.id2name(body_id, 'body'), t, (u, v),
                                    (centroid_u, centroid_v))
            checked += 1
print('checked', checked)
"""


def test_positions_land_on_bodies():
    result = _run_python(_POSITIONS_ON_BODIES, env={"MUJOCO_GL": dmcs.select_gl_backend()})
    assert result.returncode == 0, result.stderr[-3000:]
    # 3 frames x 28 bodies of the six domains: every body is in view.
    assert "checked 84" in result.stdout


def _read_tree(path):
    return sorted(os.listdir(path))


def _spawn_workers(pid):
    """Returns the pids of the multiprocessing spawn workers of process pid."""
    children = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(FileNotFoundError), open(path) as f:
            children += [int(child) for child in f.read().split()]
    workers = []
    for child in children:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                workers.append(child)
    return sorted(workers)


def _is_running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_until(condition, what, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
    reason="finds worker processes through Linux's /proc/<pid>/task/<tid>/children",
)
def test_killed_generation_resumes_byte_identical(tmp_path):
    kwargs = dict(_TINY, train_episodes=4, test_episodes=2, episode_length=8)
    resumed, fresh = str(tmp_path / "resumed"), str(tmp_path / "fresh")
    num_shards = len(dmcs.plan_shards(kwargs["domains"], {"train": 4, "test": 2}, 1))
    code = (
        f"from video_structure.data import dmcs\n"
        f"dmcs.generate({resumed!r}, num_workers=2, **{kwargs!r})\n"
    )
    # The same dataset through the script, whose error must be one line.
    script = [
        os.path.join(_REPO_ROOT, "datasets", "generate_dmcs.py"),
        f"--output_dir={resumed}",
        "--domains=" + ",".join(kwargs["domains"]),
        "--train_episodes=4",
        "--test_episodes=2",
        "--episode_length=8",
        "--episodes_per_shard=1",
        "--seed=3",
        "--workers=2",
    ]
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT, MUJOCO_GL=dmcs.select_gl_backend())
    processes = []

    def start(stderr, arguments=("-c", code)):
        # A new session, so that clean-up can kill whatever is left of it.
        processes.append(
            subprocess.Popen(
                [sys.executable, *arguments],
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )
        )
        return processes[-1]

    def shards():
        return [n for n in os.listdir(resumed) if n.endswith(".npy")]

    try:
        # A worker killed mid-run stops the run with an error that says how to
        # resume, instead of leaving it waiting forever for the lost shard.
        process = start(subprocess.PIPE, script)
        _wait_until(
            lambda: len(_spawn_workers(process.pid)) == 2 and os.path.isdir(resumed) and shards(),
            "two workers and a first shard",
        )
        os.kill(_spawn_workers(process.pid)[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 1
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("generate_dmcs.py: error: "), stderr[-3000:]
        assert "rerun with the same parameters to resume" in last
        assert "Traceback" not in stderr

        # SIGKILL of the parent: the orphaned workers exit on their own. (They
        # would hold a stderr pipe open, so this run writes to /dev/null.)
        done = len(shards())
        process = start(subprocess.DEVNULL)
        _wait_until(
            lambda: len(_spawn_workers(process.pid)) == 2 and len(shards()) > done,
            "two workers and another shard",
        )
        workers = _spawn_workers(process.pid)
        process.kill()
        process.wait()
        _wait_until(lambda: not any(map(_is_running, workers)), "orphaned workers to exit", 30)
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    finished = shards()
    assert not os.path.exists(os.path.join(resumed, dmcs.MANIFEST_NAME))
    assert done < len(finished) < num_shards
    # A killed writer leaves its temporary file behind; the rerun removes it.
    open(os.path.join(resumed, finished[0] + files.TMP_MARKER + "stale"), "w").close()

    dmcs.generate(resumed, num_workers=2, **kwargs)
    dmcs.generate(fresh, num_workers=1, **kwargs)
    names = _read_tree(fresh)
    assert names == _read_tree(resumed)
    assert len(names) == num_shards + 2
    _, mismatch, errors = filecmp.cmpfiles(resumed, fresh, names, shallow=False)
    assert not mismatch and not errors
    with open(os.path.join(fresh, dmcs.MANIFEST_NAME)) as f:
        assert json.load(f)["seed"] == _TINY["seed"]
