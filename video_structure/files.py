"""Atomic file writes and checksums.

Imports nothing heavy: TensorFlow-free dataset workers use it.
"""

import hashlib
import json
import math
import os
import tempfile

# Temporary files carry this in their name, so interrupted runs can find and
# remove them; no finished file ever does.
TMP_MARKER = ".tmp-"


def atomic_write(path: str, write_fn, mode: str = "wb") -> None:
    """Writes a file so that it is either complete or absent, never half-written.

    Calls `write_fn(f)` on a temporary file in the same directory, syncs it to
    disk and renames it to `path` (an atomic replace on POSIX file systems).

    Args:
        path: the destination.
        write_fn: called with the open temporary file.
        mode: "wb" or "w".
    """
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=name + TMP_MARKER)
    try:
        with os.fdopen(handle, mode) as f:
            write_fn(f)
            f.flush()
            # mkstemp creates 0600 files; outputs are meant to be shared.
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def _finite(data):
    """`data` with every non-finite float replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


def write_json(path: str, data) -> None:
    """Writes `data` as indented, key-sorted JSON, atomically.

    JSON has no NaN or infinity (Python's `json` would write `NaN`, which
    strict parsers reject): non-finite floats, undefined values such as the
    mean of an empty set, are written as null.
    """
    text = json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text), mode="w")


def sha256_of_file(path: str) -> str:
    """The hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
