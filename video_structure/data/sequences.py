"""tf.data pipelines that yield batches of fixed-length video windows.

All readers yield the batch dict of video_structure/data/__init__.py: `frames` float32
[batch, time, H, W, C] in [0, 1] and, where the source has them, `actions`
float32 [batch, time, A], `rewards` float32 [batch, time], `positions` float32
[batch, time, N, 2] and `domain` int32 [batch].

Each source is a list of sequences (episodes, npz files, videos). A window is
`seq_len` consecutive frames of one sequence starting at a multiple of
`window_stride`, so windows never cross sequence boundaries. The pipeline
enumerates batch indices, maps each to its windows (an epoch visits each
window once, in an order drawn from the seed and the epoch; see
`window_dataset`) and reads each batch with one `tf.numpy_function` call,
run in parallel with prefetching. Sources are validated when the dataset is
built, pixel data included, so that bad files fail before training; a file
that fails later raises DataReadError naming it.
"""

import functools
import os
import re
import zipfile

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from video_structure.data import dmcs

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_NPZ_KEYS = {  # Authors' npz key -> (batch key, dtype, shape: names are free, ints fixed).
    "image": ("frames", np.uint8, ("T", "H", "W", "C")),
    "true_object_pos": ("positions", np.float32, ("T", "N", 2)),
    "action": ("actions", np.float32, ("T", "A")),
    "reward": ("rewards", np.float32, ("T",)),
}


class DataReadError(Exception):
    """A data file could not be read while the pipeline ran; the message names it."""


def read_error_message(error: tf.errors.OpError) -> str | None:
    """The message of a DataReadError that stopped a pipeline, or None.

    TensorFlow wraps an exception raised inside `tf.numpy_function` in an
    OpError whose text holds the whole Python traceback; the user needs only
    the line that names the file.

    Args:
        error: what iterating the dataset raised.

    Returns:
        "path: reason", or None if the error came from elsewhere.
    """
    match = re.search(r"DataReadError: (.*)", error.message)
    return match.group(1).strip() if match else None


def window_dataset(
    lengths,
    read_window,
    specs,
    seq_len,
    batch_size,
    *,
    shuffle,
    repeat,
    seed,
    window_stride,
    source,
    names,
    start_batch=0,
):
    """Builds the shared windowing pipeline over a list of sequences.

    The stream of windows is the concatenation of epochs, each visiting every
    window once (in an order drawn from `seed` and the epoch number when
    shuffling), and batch b is its windows [b * batch_size, (b + 1) *
    batch_size). A batch is thus a function of its index alone, so a resumed
    training run that starts the stream at its step reads what the
    interrupted run would have read. A stream that does not repeat visits
    every window once and ends with a partial batch if the windows do not
    fill the last one.

    Args:
        lengths: number of frames of each sequence.
        read_window: fn(sequence index, start, seq_len) -> dict of numpy arrays
            with the keys and per-window shapes of `specs`.
        specs: {key: (numpy dtype, per-window shape)}; 'frames' is uint8.
        seq_len: frames per window.
        batch_size: windows per batch.
        shuffle: whether to shuffle windows (reshuffled every epoch).
        repeat: whether to repeat forever.
        seed: shuffle seed, or None for a nondeterministic order.
        window_stride: windows start at multiples of this.
        source: description of the data for error messages.
        names: the file (or folder) of each sequence, for messages.
        start_batch: index of the first batch (a repeating stream only).

    Returns:
        A tf.data.Dataset of batch dicts.

    Raises:
        ValueError: bad seq_len, batch_size or window_stride, or too few
            windows.
    """
    for name, value in [
        ("seq_len", seq_len),
        ("batch_size", batch_size),
        ("window_stride", window_stride),
    ]:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = np.where(lengths >= seq_len, (lengths - seq_len) // window_stride + 1, 0)
    num_windows = int(counts.sum())
    if num_windows == 0:
        raise ValueError(
            f"No sequence in {source} has seq_len={seq_len} "
            f"frames (the longest has {lengths.max()})"
        )
    short = [names[i] for i in np.flatnonzero(counts == 0)]
    if short:
        logging.warning(
            "Skipping %d of %d sequences of %s shorter than seq_len=%d frames: %s%s",
            len(short),
            len(names),
            source,
            seq_len,
            ", ".join(short[:3]),
            ", ..." if len(short) > 3 else "",
        )
    # Fewer windows than a batch would repeat sequences within every batch.
    if num_windows < batch_size:
        raise ValueError(
            f"{source} has {num_windows} windows of {seq_len} "
            f"frames, fewer than batch_size={batch_size}"
        )
    offsets = np.concatenate([[0], np.cumsum(counts)])
    keys = sorted(specs)
    if seed is None:
        seed = np.random.SeedSequence().entropy

    @functools.lru_cache(maxsize=2)  # A batch spans at most two epochs.
    def epoch_order(epoch):
        if not shuffle:
            return np.arange(num_windows)
        return np.random.default_rng([seed, epoch]).permutation(num_windows)

    def read_batch(batch_index):
        positions = batch_index * batch_size + np.arange(batch_size)
        if not repeat:
            positions = positions[positions < num_windows]
        window_ids = np.array(
            [epoch_order(int(p // num_windows))[p % num_windows] for p in positions]
        )
        sequences = np.searchsorted(offsets, window_ids, side="right") - 1
        starts = (window_ids - offsets[sequences]) * window_stride
        windows = []
        for i, start in zip(sequences, starts):
            try:
                windows.append(read_window(int(i), int(start), seq_len))
            except DataReadError:
                raise
            except Exception as e:  # Any failure: the user needs the file it came from.
                raise DataReadError(f"{names[i]}: {type(e).__name__}: {e}") from e
        return [
            np.stack([w[key] for w in windows]).astype(specs[key][0], copy=False) for key in keys
        ]

    def to_batch(*arrays):
        batch = {}
        for key, array in zip(keys, arrays):
            array.set_shape((batch_size if repeat else None,) + specs[key][1])
            batch[key] = array
        batch["frames"] = tf.cast(batch["frames"], tf.float32) / 255.0
        return batch

    if repeat:
        dataset = tf.data.Dataset.counter(start_batch)
    elif start_batch:
        raise ValueError("start_batch needs a repeating stream")
    else:
        dataset = tf.data.Dataset.range(-(-num_windows // batch_size))
    out_types = [tf.as_dtype(specs[key][0]) for key in keys]
    dataset = dataset.map(
        lambda index: tf.numpy_function(read_batch, [index], out_types, stateful=False),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = dataset.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def dmcs_dataset(
    data_dir,
    split,
    seq_len,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=None,
    domains=None,
    window_stride=1,
    image_size=64,
    verify_checksums=True,
    start_batch=0,
):
    """Reads a dataset written by `video_structure.data.dmcs.generate`.

    Args:
        data_dir: the dataset directory (with manifest.json).
        split: 'train' or 'test'.
        seq_len: frames per window.
        batch_size: windows per batch (incomplete batches are dropped).
        shuffle: whether to shuffle windows.
        repeat: whether to repeat forever.
        seed: shuffle seed, or None.
        domains: 'domain/task' names to read; None reads all. `domain` in the
            batch is always the index into the manifest's `domains` list.
        window_stride: windows start at multiples of this frame count.
        image_size: expected frame height and width.
        verify_checksums: compare each shard's SHA-256 with the manifest
            (reads every shard once).
        start_batch: index of the first batch of a repeating stream (see
            `window_dataset`).

    Returns:
        A tf.data.Dataset of dicts with `frames` [batch, seq_len, H, W, 3],
        `actions` [batch, seq_len, A] (zero-padded to the largest action size
        of the dataset), `rewards` [batch, seq_len], `positions`
        [batch, seq_len, N, 2] (NaN for bodies a domain does not have) and
        `domain` [batch] and `episode` [batch] (the episode's index within
        the split: shards in manifest order, records in shard order).

    Raises:
        FileNotFoundError: missing directory, manifest or shard.
        ValueError: unknown split or domain, wrong image size, or a shard that
            is truncated, corrupt or does not match the manifest.
    """
    if split not in dmcs.SPLITS:
        raise ValueError(f"split must be one of {dmcs.SPLITS}, got {split!r}")
    manifest = dmcs.load_manifest(data_dir)
    if manifest["image_size"] != image_size:
        raise ValueError(
            f"{data_dir} holds {manifest['image_size']}x"
            f"{manifest['image_size']} frames, expected {image_size}x"
            f"{image_size}"
        )
    domains = manifest["domains"] if domains is None else list(domains)
    unknown = [d for d in domains if d not in manifest["domains"]]
    if unknown:
        raise ValueError(f"Unknown domain(s) {unknown}: {data_dir} holds {manifest['domains']}")
    shards = [s for s in manifest["shards"] if s["split"] == split and s["domain"] in domains]
    if not shards:
        raise ValueError(f"{data_dir} has no {split} episodes of {domains}")
    fields = manifest["dtype"].names
    episodes = []  # (field views of a memory-mapped shard, episode index).
    names = []
    for shard in shards:
        records = dmcs.open_shard(data_dir, manifest, shard, verify_checksums)
        views = {name: records[name] for name in fields}
        episodes.extend((views, i) for i in range(len(records)))
        path = os.path.join(data_dir, shard["file"])
        names.extend(f"{path} (episode {i})" for i in range(len(records)))
    dtype = manifest["dtype"]
    specs = {
        name: (
            dtype[name].base.type,
            (seq_len,) + dtype[name].shape[1:] if dtype[name].shape else (),
        )
        for name in fields
    }
    specs["episode"] = (np.int32, ())

    def read_window(index, start, length):
        views, episode = episodes[index]
        window = {
            name: views[name][episode, start : start + length]
            for name in fields
            if name != "domain"
        }
        window["domain"] = views["domain"][episode]
        window["episode"] = index
        return window

    return window_dataset(
        [manifest["episode_length"]] * len(episodes),
        read_window,
        specs,
        seq_len,
        batch_size,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        window_stride=window_stride,
        source=f"{data_dir} ({split})",
        names=names,
        start_batch=start_batch,
    )


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
    fits = len(shape) == len(expected) and shape[0] == num_frames
    if fits and all(s == e for s, e in zip(shape, expected) if isinstance(e, int)):
        return
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
    `true_object_pos` [T, N, 2], `action` [T, A] and `reward` [T]. The
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
        them, `positions`, `actions` and `rewards`.

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
    specs = {_NPZ_KEYS[k][0]: (_NPZ_KEYS[k][1], (seq_len,) + s) for k, s in reference.items()}
    names = paths

    @functools.lru_cache(maxsize=cache_bytes // max(file_bytes, 1))
    def read_file(index):
        with np.load(paths[index]) as arrays:
            return {_NPZ_KEYS[k][0]: arrays[k] for k in reference}

    def read_window(index, start, length):
        return {key: array[start : start + length] for key, array in read_file(index).items()}

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


def _open_image(path, image_size):
    """Opens an image lazily after checking its size."""
    try:
        image = Image.open(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable image: {e}") from e
    if image.size != (image_size, image_size):
        raise ValueError(
            f"{path} is {image.size[0]}x{image.size[1]} pixels, expected {image_size}x{image_size}"
        )
    return image


def _decode_all(image, path):
    """Decodes every frame of an opened image: a header can be intact over truncated pixels."""
    try:
        for t in range(getattr(image, "n_frames", 1)):
            image.seek(t)
            image.load()
    # PIL signals damage with any of these (IndexError: a GIF cut short).
    except (OSError, ValueError, EOFError, IndexError, SyntaxError) as e:
        raise ValueError(f"{path} has unreadable pixel data: {type(e).__name__}: {e}") from e


def video_dataset(
    data_dir,
    seq_len,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=None,
    window_stride=1,
    image_size=64,
    start_batch=0,
):
    """Reads user videos: frame folders and animated GIFs.

    Every sub-folder of data_dir is one video whose frames are its .png/.jpg
    files in name order; every .gif file in data_dir is one video. Frames are
    converted to RGB and must already be image_size x image_size.

    Args:
        data_dir: directory with video folders and/or GIFs.
        seq_len: frames per window.
        batch_size: windows per batch (incomplete batches are dropped).
        shuffle: whether to shuffle windows.
        repeat: whether to repeat forever.
        seed: shuffle seed, or None.
        window_stride: windows start at multiples of this frame count.
        image_size: expected frame height and width.
        start_batch: index of the first batch of a repeating stream (see
            `window_dataset`).

    Returns:
        A tf.data.Dataset of dicts with `frames` [batch, seq_len, H, W, 3].

    Raises:
        FileNotFoundError: missing directory, or no videos in it.
        ValueError: an unreadable or truncated image, a frame of another
            size, or too few windows for a batch.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"Video directory {data_dir} does not exist")
    videos = []  # (frame paths, None) or (None, gif path).
    lengths = []
    for name in sorted(os.listdir(data_dir)):
        path = os.path.join(data_dir, name)
        if os.path.isdir(path):
            frames = sorted(
                os.path.join(path, n)
                for n in os.listdir(path)
                if n.lower().endswith(_IMAGE_SUFFIXES)
            )
            if not frames:
                continue
            for frame in frames:
                with _open_image(frame, image_size) as image:
                    _decode_all(image, frame)
            videos.append((frames, None))
            lengths.append(len(frames))
        elif name.lower().endswith(".gif"):
            with _open_image(path, image_size) as gif:
                _decode_all(gif, path)
                lengths.append(getattr(gif, "n_frames", 1))
            videos.append((None, path))
    if not videos:
        raise FileNotFoundError(
            f"{data_dir} contains no videos (sub-folders of .png/.jpg frames or .gif files)"
        )

    def read_window(index, start, length):
        frames, gif_path = videos[index]
        images = []
        if frames is not None:
            for path in frames[start : start + length]:
                try:
                    with Image.open(path) as image:
                        images.append(np.asarray(image.convert("RGB")))
                except (OSError, ValueError) as e:
                    raise DataReadError(f"{path}: {type(e).__name__}: {e}") from e
        else:
            with Image.open(gif_path) as gif:
                for t in range(start, start + length):
                    gif.seek(t)
                    images.append(np.asarray(gif.convert("RGB")))
        return {"frames": np.stack(images)}

    specs = {"frames": (np.uint8, (seq_len, image_size, image_size, 3))}
    names = [os.path.dirname(frames[0]) if frames else gif for frames, gif in videos]
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
