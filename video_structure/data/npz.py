"""The tf.data reader of the original authors' format: one .npz file per sequence.

Files are validated when the dataset is built (headers, shapes, dtypes and
every array's data), and the most recently used are kept decoded.
"""

import functools
import os
import zipfile

import numpy as np

from video_structure.data.windows import window_dataset

_NPZ_KEYS = {  # Authors' npz key -> (batch key, dtype, shape: names are free, ints fixed).
    "image": ("frames", np.uint8, ("T", "H", "W", "C")),
    "true_object_pos": ("positions", np.float32, ("T", "N", 2)),
    "action": ("actions", np.float32, ("T", "A")),
    "reward": ("rewards", np.float32, ("T",)),
    # One per file, not per frame: the class of the whole sequence (Human3.6M's action).
    "action_label": ("label", np.int32, ()),
}


def _npz_headers(path):
    """Returns {key: (shape, dtype)} of an npz file without loading arrays."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(f)
                headers[member[: -len(".npy")]] = (shape, dtype)
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from e
    return headers


def _check_npz_data(path, keys):
    """Reads every array of an npz file once, so that a corrupt file fails before training.

    Headers alone do not show a bad CRC or truncated compressed data, and
    non-finite actions or rewards would otherwise surface as a diverged loss.

    Args:
        path: the .npz file.
        keys: its arrays to read (of _NPZ_KEYS).

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    for key in keys:
        try:
            with np.load(path) as arrays:  # allow_pickle=False: object arrays are refused.
                array = arrays[key]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise ValueError(f"{path}: `{key}` is corrupt: {type(e).__name__}: {e}") from e
        if key in ("action", "reward") and not np.all(np.isfinite(array)):
            raise ValueError(f"{path}: `{key}` contains NaN or infinite values")


def _list_files(data_dir, suffixes, what):
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"Data directory {data_dir} does not exist")
    names = sorted(n for n in os.listdir(data_dir) if n.lower().endswith(suffixes))
    if not names:
        raise FileNotFoundError(f"{data_dir} contains no {what}")
    return [os.path.join(data_dir, n) for n in names]


def _check_npz_shape(path, key, shape, num_frames):
    """Raises ValueError unless an npz array has the shape documented in _NPZ_KEYS."""
    expected = _NPZ_KEYS[key][2]
    fits = len(shape) == len(expected) and (not expected or shape[0] == num_frames)
    if fits and all(s == e for s, e in zip(shape, expected) if isinstance(e, int)):
        return
    if not expected:
        raise ValueError(f"{path}: `{key}` has shape {shape}, expected one number (shape ())")
    layout = "[" + ", ".join(map(str, expected)) + "]"
    raise ValueError(
        f"{path}: `{key}` has shape {shape}, expected {layout} with T = {num_frames} "
        "(the frames of `image`)"
    )


def npz_dataset(
    data_dir,
    seq_len,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=None,
    window_stride=1,
    image_size=64,
    cache_bytes=2**29,
    start_batch=0,
):
    """Reads the original authors' format: one .npz file per sequence.

    Each file holds `image` uint8 [T, H, W, C] and optionally
    `true_object_pos` [T, N, 2], `action` [T, A], `reward` [T] and
    `action_label` (an integer scalar, the sequence's class, as `label`). The
    coordinate convention of the authors' `true_object_pos` is not documented,
    so it is passed through unchanged as `positions` (it is NOT converted to
    the keypoint convention of video_structure.keypoint_ops). A window needs
    its whole file decompressed (npz members cannot be sliced), so the most
    recently used files are kept decoded, up to `cache_bytes`; the data need
    not fit in memory.

    Args:
        data_dir: directory with the .npz files (not searched recursively).
        seq_len: frames per window.
        batch_size: windows per batch (incomplete batches are dropped).
        shuffle: whether to shuffle windows.
        repeat: whether to repeat forever.
        seed: shuffle seed, or None.
        window_stride: windows start at multiples of this frame count.
        image_size: expected frame height and width.
        cache_bytes: memory for decoded files (least recently used go first);
            0 decodes a file again for every window.
        start_batch: index of the first batch of a repeating stream (see
            `window_dataset`).

    Returns:
        A tf.data.Dataset of dicts with `frames` and, where the files have
        them, `positions`, `actions`, `rewards` and `label` (int32 [batch]).

    Raises:
        FileNotFoundError: missing or empty directory.
        ValueError: a file is unreadable or corrupt, lacks `image`, has frames
            of another size, an array of another shape or dtype than
            documented above, non-finite actions or rewards, or keys or shapes
            that differ from the first file; too few windows for a batch.
    """
    paths = _list_files(data_dir, (".npz",), ".npz files")
    lengths, reference, file_bytes = [], None, 0
    for path in paths:
        headers = _npz_headers(path)
        if "image" not in headers:
            raise ValueError(f"{path} has no `image` array (keys: {sorted(headers)})")
        shape, dtype = headers["image"]
        if len(shape) != 4 or shape[1:3] != (image_size, image_size):
            raise ValueError(
                f"{path}: `image` has shape {shape}, expected [T, {image_size}, {image_size}, C]"
            )
        if dtype != np.uint8:
            raise ValueError(f"{path}: `image` has dtype {dtype}, expected uint8")
        known = {k: v[0] for k, v in headers.items() if k in _NPZ_KEYS}
        for key in known:
            if headers[key][1].kind not in "biuf":
                raise ValueError(f"{path}: `{key}` has dtype {headers[key][1]}, expected numbers")
        for key, key_shape in known.items():
            _check_npz_shape(path, key, key_shape, shape[0])
        signature = {k: s[1:] for k, s in known.items()}
        if reference is None:
            reference = signature
        elif signature != reference:
            raise ValueError(
                f"{path} has arrays {signature} (shapes without "
                f"time), but {paths[0]} has {reference}"
            )
        _check_npz_data(path, known)
        lengths.append(shape[0])
        file_bytes = max(
            file_bytes,
            sum(int(np.prod(headers[k][0])) * headers[k][1].itemsize for k in reference),
        )
    specs = {
        _NPZ_KEYS[k][0]: (_NPZ_KEYS[k][1], (seq_len,) + s if _NPZ_KEYS[k][2] else ())
        for k, s in reference.items()
    }
    names = paths

    @functools.lru_cache(maxsize=cache_bytes // max(file_bytes, 1))
    def read_file(index):
        with np.load(paths[index]) as arrays:
            return {_NPZ_KEYS[k][0]: arrays[k] for k in reference}

    def read_window(index, start, length):
        return {
            key: array[start : start + length] if array.ndim else array
            for key, array in read_file(index).items()
        }

    return window_dataset(
        lengths,
        read_window,
        specs,
        seq_len,
        batch_size,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        window_stride=window_stride,
        source=data_dir,
        names=names,
        start_batch=start_batch,
    )
