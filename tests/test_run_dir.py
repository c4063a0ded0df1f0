"""Tests for video_structure.run_dir: lock, leftovers, checkpoint fallback, saved settings."""

import json
import os

import pytest
import tensorflow as tf

from video_structure import config, run_dir


def test_a_second_lock_is_refused_with_the_holders_pid(tmp_path):
    lock = run_dir.Lock(str(tmp_path))
    assert lock.previous_holder is None
    with pytest.raises(
        run_dir.RunDirError, match=f"in use by another training run \\(PID {os.getpid()}\\)"
    ):
        run_dir.Lock(str(tmp_path))
    lock.release()
    lock.release()  # Again: nothing happens.
    run_dir.Lock(str(tmp_path)).release()


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    # What a run killed while holding the lock leaves: its PID, and no flock.
    (tmp_path / run_dir.LOCK_NAME).write_text("4242\n")
    lock = run_dir.Lock(str(tmp_path))
    assert lock.previous_holder == "4242"
    assert (tmp_path / run_dir.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    lock.release()


def test_leftovers_are_removed_and_nothing_else(tmp_path):
    checkpoints = tmp_path / run_dir.CHECKPOINTS
    leftovers = [
        checkpoints / "ckpt-4_temp",
        tmp_path / ".export-abc",
        tmp_path / ".old-export-def",
    ]
    for directory in leftovers:
        os.makedirs(directory / "inside")
    for name in ("samples.gif.tmp-x1", "config.json.tmp-y2"):
        (tmp_path / name).write_text("half")
        leftovers.append(tmp_path / name)
    (checkpoints / "checkpoint.tmp5a").write_text("half")
    leftovers.append(checkpoints / "checkpoint.tmp5a")
    kept = [checkpoints / "ckpt-2.index", checkpoints / "checkpoint", tmp_path / "samples.gif"]
    for path in kept:
        path.write_text("done")
    assert run_dir.remove_leftovers(str(tmp_path)) == sorted(map(str, leftovers))
    assert all(not os.path.exists(p) for p in leftovers)
    assert all(os.path.exists(p) for p in kept)


def _write_checkpoints(directory, steps):
    variable = tf.Variable(tf.zeros([1000]))
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(directory, "checkpoints"), 3)
    for step in steps:
        variable.assign(tf.fill([1000], float(step)))
        manager.save(checkpoint_number=step)
    return os.path.join(directory, "checkpoints")


def _cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def test_the_newest_intact_checkpoint_is_found_past_damaged_ones(tmp_path):
    checkpoints = _write_checkpoints(str(tmp_path), [2, 4, 6])
    assert run_dir.newest_intact_checkpoint(str(tmp_path)) == (f"{checkpoints}/ckpt-6", [])
    _cut(f"{checkpoints}/ckpt-6.index", 0)
    data = f"{checkpoints}/ckpt-4.data-00000-of-00001"
    _cut(data, os.path.getsize(data) // 2)
    found, damaged = run_dir.newest_intact_checkpoint(str(tmp_path))
    assert found == f"{checkpoints}/ckpt-2"
    assert [line.split(":")[0] for line in damaged] == [
        f"{checkpoints}/ckpt-6",
        f"{checkpoints}/ckpt-4",
    ]
    data = f"{checkpoints}/ckpt-2.data-00000-of-00001"
    with open(data, "r+b") as f:  # A flipped bit inside the tensor: only its CRC shows it.
        f.seek(os.path.getsize(data) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    assert run_dir.newest_intact_checkpoint(str(tmp_path))[0] is None
    assert run_dir.newest_intact_checkpoint(str(tmp_path / "new")) == (None, [])


def test_a_resumed_run_must_keep_its_settings_and_steps(tmp_path):
    run = {"num_steps": 80, "seed": 0, "kl_scale": 0.1}
    run_dir.check_config(str(tmp_path), run, 0)
    run_dir.check_config(str(tmp_path), {**run, "num_steps": 100}, 80)  # More steps extend it.
    assert run_dir.load_config(str(tmp_path)) == config.Config(num_steps=100, kl_scale=0.1)
    with pytest.raises(run_dir.RunDirError, match=r"seed: 0 -> 1"):
        run_dir.check_config(str(tmp_path), {**run, "seed": 1}, 80)
    with pytest.raises(run_dir.RunDirError, match="trained 80 steps; --steps=30"):
        run_dir.check_config(str(tmp_path), {**run, "num_steps": 30}, 80)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == {**run, "num_steps": 100}
    # Nothing trained yet: other settings replace the saved ones.
    run_dir.check_config(str(tmp_path), {**run, "seed": 1}, 0)
    (tmp_path / "config.json").write_text('{"num_steps": 8')
    with pytest.raises(run_dir.RunDirError, match="config.json is unreadable"):
        run_dir.check_config(str(tmp_path), run, 80)
