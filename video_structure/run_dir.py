"""The output directory of a training run: its lock, leftovers, saved flags and checkpoints.

A run directory holds one run. `lock` keeps a second process out while the
first lives; an interrupted run leaves temporary files (`remove_leftovers`)
and possibly a damaged newest checkpoint (`newest_intact_checkpoint`);
`check_config` makes a resumed run the run that was interrupted.
"""

import fcntl
import glob
import json
import os
import re
import shutil
from typing import Any

import tensorflow as tf

from video_structure import config as config_lib
from video_structure import files

LOCK_NAME = ".lock"
CONFIG_NAME = "config.json"
CHECKPOINTS = "checkpoints"
# Keys of config.json that may differ on a resume: more steps extend a run.
RESUMABLE_KEYS = ("num_steps",)


class RunDirError(Exception):
    """A run directory that cannot be used as asked; the message says why and what to do."""


class Lock:
    """An exclusive lock on a run directory, held until `release` or the process ends.

    The lock is a `flock` on `LOCK_NAME`, which the kernel drops when its
    holder dies, so a lock left by a killed run is taken over, never stale;
    the file holds the holder's PID for the message of a refused run.
    """

    def __init__(self, output_dir: str):
        """Takes the lock.

        Args:
            output_dir: the run directory (must exist).

        Raises:
            RunDirError: another live process holds it.
        """
        self.path = os.path.join(output_dir, LOCK_NAME)
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise RunDirError(
                f"{output_dir} is in use by another training run (PID {holder}); "
                "wait for it to end or use another --output_dir."
            ) from e
        self._file.seek(0)
        # A PID left in the file is of a run that died holding the lock.
        self.previous_holder = self._file.read().strip() or None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        """Empties the PID (a clean end) and drops the lock; again, does nothing."""
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.close()


def remove_leftovers(output_dir: str) -> list[str]:
    """Removes the temporary files an interrupted run leaves; call it holding the lock.

    They are: TensorFlow's `ckpt-N_temp/` shard directories and `checkpoint.tmp*`
    state files, the export's `.export-*` and `.old-export-*` directories and
    the `*.tmp-*` files of `files.atomic_write`. None is ever part of a
    finished write.

    Args:
        output_dir: the run directory.

    Returns:
        The removed paths.
    """
    checkpoints = os.path.join(output_dir, CHECKPOINTS)
    patterns = [
        os.path.join(checkpoints, "*_temp"),
        os.path.join(checkpoints, "checkpoint.tmp*"),
        os.path.join(output_dir, ".export-*"),
        os.path.join(output_dir, ".old-export-*"),
        os.path.join(output_dir, f"*{files.TMP_MARKER}*"),
    ]
    removed = sorted({path for pattern in patterns for path in glob.glob(pattern)})
    for path in removed:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return removed


def checkpoint_step(path: str) -> int:
    """The step of a checkpoint `.../ckpt-N` (train.py numbers checkpoints by step)."""
    return int(path.rsplit("-", 1)[1])


def newest_intact_checkpoint(output_dir: str) -> tuple[str | None, list[str]]:
    """Finds the newest checkpoint whose every tensor reads back.

    Every `ckpt-N.index` in the directory is a candidate, newest first, whether
    or not TensorFlow's `checkpoint` state file (itself possibly damaged)
    lists it. Reading every tensor checks the index, the data file's length
    and each tensor's CRC-32C.

    Args:
        output_dir: the run directory.

    Returns:
        (prefix of the newest intact checkpoint or None if there is none,
        one "prefix: reason" line per damaged newer checkpoint).
    """
    indexes = glob.glob(os.path.join(output_dir, CHECKPOINTS, "ckpt-*.index"))
    prefixes = sorted(
        (
            p[: -len(".index")]
            for p in indexes
            if re.fullmatch(r"ckpt-\d+\.index", os.path.basename(p))
        ),
        key=checkpoint_step,
        reverse=True,
    )
    damaged = []
    for prefix in prefixes:
        try:
            reader = tf.train.load_checkpoint(prefix)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        # The reader raises IndexError for a data file cut short.
        except (tf.errors.OpError, ValueError, IndexError) as e:
            reason = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
            damaged.append(f"{prefix}: {reason}")
            continue
        return prefix, damaged
    return None, damaged


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise RunDirError(
            f"{path} is unreadable ({e}); restore it or use another --output_dir."
        ) from e
    if not isinstance(saved, dict):
        raise RunDirError(f"{path} holds no JSON object; restore it or use another --output_dir.")
    return saved


def load_config(output_dir: str) -> config_lib.Config:
    """The hyperparameters in a run directory's config.json, without its other settings.

    Raises:
        RunDirError: config.json is missing or unreadable.
    """
    saved = _read_config(os.path.join(output_dir, CONFIG_NAME))
    names = {field.name for field in config_lib.fields()}
    return config_lib.Config(**{key: value for key, value in saved.items() if key in names})


def check_config(output_dir: str, run: dict[str, Any], trained_step: int) -> None:
    """Saves what defines the run, or checks that a resumed run keeps it.

    Args:
        output_dir: the run directory.
        run: the hyperparameters (with `num_steps`) and the run-defining flags
            such as the seed and the dataset, as JSON values.
        trained_step: the step of the checkpoint resumed, 0 for a new run.

    Raises:
        RunDirError: the saved run differs, config.json is unreadable, or
            `num_steps` is below the trained step.
    """
    path = os.path.join(output_dir, CONFIG_NAME)
    # Without a checkpoint nothing was trained that other settings could spoil.
    if trained_step and os.path.exists(path):
        saved = _read_config(path)
        # Keys an older version did not save cannot be checked.
        changed = {
            key: (saved[key], value)
            for key, value in run.items()
            if key in saved and saved[key] != value and key not in RESUMABLE_KEYS
        }
        if changed:
            details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise RunDirError(
                f"{output_dir} holds a run with other settings ({details}); use "
                "another --output_dir or the same flags."
            )
    if run["num_steps"] < trained_step:
        raise RunDirError(
            f"{output_dir} holds a run trained {trained_step} steps; --steps="
            f"{run['num_steps']} would rewrite its metadata. Pass --steps >= "
            f"{trained_step}."
        )
    files.write_json(path, run)
