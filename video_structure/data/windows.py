"""The shared tf.data pipeline of every reader: batches of fixed-length video windows.

The readers (dmcs_reader.py, npz.py, video_folders.py and synthetic.py) list
their sequences and hand `window_dataset` a function that reads one window.
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
import re

import numpy as np
import tensorflow as tf
from absl import logging


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
