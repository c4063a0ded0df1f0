"""Tests for video_structure.data.dmcs.workers (no TensorFlow in this file)."""

import contextlib
import filecmp
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from video_structure import files
from video_structure.data import dmcs

# Both tests generate datasets.
pytestmark = pytest.mark.needs_mujoco_gl

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_workers_do_not_reimport_the_main_script(tmp_path, mujoco_gl):
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
def test_killed_generation_resumes_byte_identical(tmp_path, tiny_dmcs, mujoco_gl):
    kwargs = dict(tiny_dmcs, train_episodes=4, test_episodes=2, episode_length=8)
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
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT, MUJOCO_GL=mujoco_gl)
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
        assert json.load(f)["seed"] == tiny_dmcs["seed"]
