"""The spawn worker processes that render and write DMCS shards.

MuJoCo rendering and TensorFlow in one process segfault, so shards are
rendered in `multiprocessing` "spawn" workers that import only this package,
numpy and dm-control, and write their shard files themselves.
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import threading
import time
import types

import numpy as np

from video_structure import files
from video_structure.data.dmcs.episodes import episode_seed, generate_episode, load_env


def _init_worker(gl_backend):
    """Runs first in every rendering worker."""
    os.environ["MUJOCO_GL"] = gl_backend
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _exit_when_orphaned(parent_pid):
    """Ends this worker once its parent has died (e.g. of SIGKILL).

    An orphaned worker would otherwise wait for tasks forever, or keep
    rendering while a rerun rewrites the same shards.
    """
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    os._exit(1)


def _check_worker_is_tf_free():
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "A DMCS rendering worker has imported TensorFlow, which crashes "
            "MuJoCo rendering; generate from a process whose startup does "
            "not import it (e.g. datasets/generate_dmcs.py)."
        )


@contextlib.contextmanager
def workers_skip_main_module():
    """Keeps spawn workers started inside from re-importing the caller's __main__.

    A spawn worker normally re-imports the script that started it, so a
    training script that imports TensorFlow would load it into every rendering
    worker. Worker functions live in this package, so the workers do not need
    __main__; while workers start, a bare stand-in (no __file__, no __spec__)
    hides the real one from multiprocessing.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@contextlib.contextmanager
def worker_pool(num_workers, gl_backend, output_dir):
    """A pool of spawn rendering workers; a dead worker raises a clear error.

    concurrent.futures notices a worker that dies (SIGKILL, out of memory) and
    fails every pending task with BrokenProcessPool, where multiprocessing.Pool
    would lose the task and wait forever. ProcessPoolExecutor starts spawn
    workers lazily in submit(), so callers submit under
    `workers_skip_main_module`.

    Args:
        num_workers: maximum number of worker processes.
        gl_backend: MUJOCO_GL for the workers.
        output_dir: the dataset directory, named in the error.

    Yields:
        A concurrent.futures.ProcessPoolExecutor.

    Raises:
        RuntimeError: a worker died.
    """
    pool = concurrent.futures.ProcessPoolExecutor(
        num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(gl_backend,),
    )
    try:
        yield pool
    except concurrent.futures.process.BrokenProcessPool as e:
        raise RuntimeError(
            f"A DMCS rendering worker died unexpectedly (killed, or out of memory): {e}. "
            f"Finished shards in {output_dir} are kept; rerun with the same parameters to "
            "resume generation."
        ) from e
    finally:
        # Without cancelling, an error (or Ctrl-C) would wait for every queued shard.
        pool.shutdown(wait=True, cancel_futures=True)


_worker_envs = {}


def generate_shard(task):
    """Renders one shard in a worker and writes it atomically."""
    _check_worker_is_tf_free()
    env = _worker_envs.get(task["domain"])
    if env is None:
        env = _worker_envs[task["domain"]] = load_env(task["domain"])
    records = np.zeros(task["num_episodes"], dtype=np.dtype(task["dtype"]))
    for i, record in enumerate(records):
        seed_sequence = episode_seed(
            task["seed"], task["split"], task["domain"], task["first_episode"] + i
        )
        generate_episode(
            env,
            seed_sequence,
            task["episode_length"],
            task["image_size"],
            task["action_repeat"],
            task["action_hold"],
            task["action_distribution"],
            record,
        )
        record["domain"] = task["domain_index"]
    files.atomic_write(task["path"], lambda f: np.save(f, records))
    return task["num_episodes"]


def available_cpus():
    """CPUs this process may run on (fewer than os.cpu_count() under taskset or cpusets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
