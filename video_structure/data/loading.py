"""The tf.data pipelines of the datasets of `video_structure.data.registry`, and their checks.

`load` gives a run its training and test streams, `load_split` one split,
`take_sequences` the first sequences of a split as numpy batches for
measurements; `check_splits` and `check_batch` name data that does not fit
the model. Batches are the dicts of video_structure/data/__init__.py.
"""

from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from absl import logging

from video_structure import config as config_lib
from video_structure.data import registry, synthetic, windows


def load_split(
    name: str,
    split: str,
    config: config_lib.Config,
    batch_size: int,
    data_dir: str | None = None,
    seed: int = 0,
    num_sequences: int = 2000,
    shuffle: bool = True,
    repeat: bool = True,
    start_batch: int = 0,
    window_stride: int | None = None,
) -> tuple[tf.data.Dataset, int]:
    """One split of dataset `name`, cut to the config's sequence length.

    Args:
        name: a key of `registry.DATASETS`.
        split: "train" or "test".
        config: hyperparameters; set sequence length and image size.
        batch_size: sequences per batch.
        data_dir: directory of file-based datasets; None: the spec's default.
        seed: shuffling and generation seed.
        num_sequences: sequences of generated datasets.
        shuffle: shuffle sequences.
        repeat: repeat forever.
        start_batch: index of the first batch of a repeating stream; batch b
            is the same whatever the start, so a resumed run passes its step.
        window_stride: file-based datasets: windows start every this many
            frames of a sequence; None: every frame for training, without
            overlap for testing.

    Returns:
        (dataset of dicts as described in video_structure/data/__init__.py,
        action size).

    Raises:
        ValueError: for an unknown dataset.
    """
    scene = registry.spec(name).scene
    if scene is not None:
        data = generated(
            scene,
            split,
            num_sequences,
            config.sequence_length,
            batch_size,
            config.image_size,
            seed=seed,
            shuffle=shuffle,
            repeat=repeat,
            start_batch=start_batch,
        )
        return data, 0
    data_dir = data_dir or registry.spec(name).default_dir
    if not data_dir:
        raise ValueError(f"The {name} dataset needs --data_dir.")
    if window_stride is None:
        # Test windows do not overlap, so that every evaluated sequence is new.
        window_stride = config.sequence_length if split == "test" else 1
    common = dict(
        seq_len=config.sequence_length,
        batch_size=batch_size,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        image_size=config.image_size,
        start_batch=start_batch,
        window_stride=window_stride,
    )
    data = registry.spec(name).reader(data_dir, split, **common)
    actions = data.element_spec.get("actions")
    return data, int(actions.shape[-1]) if actions is not None else 0


def load(
    name: str,
    config: config_lib.Config,
    data_dir: str | None = None,
    seed: int = 0,
    num_sequences: int = 2000,
    start_step: int = 0,
) -> tuple[tf.data.Dataset, tf.data.Dataset, int]:
    """Shuffled, repeating training and test pipelines of dataset `name`.

    Both splits are checked against the config and against each other, so that
    a mismatch fails here rather than inside training.

    Args:
        name: a key of `registry.DATASETS`.
        config: hyperparameters; set sequence length, batch size and image size.
        data_dir: directory of file-based datasets.
        seed: shuffling and generation seed.
        num_sequences: training sequences of generated datasets (the test split
            gets a quarter).
        start_step: the training step the train stream starts at.

    Returns:
        (train dataset, test dataset, action size).

    Raises:
        ValueError: as `load_split`, or splits that differ from each other or
            from the config.
    """
    common = dict(config=config, batch_size=config.batch_size, data_dir=data_dir, seed=seed)
    train, action_size = load_split(
        name, "train", num_sequences=num_sequences, start_batch=start_step, **common
    )
    test, _ = load_split(
        name, "test", num_sequences=max(num_sequences // 4, config.batch_size), **common
    )
    check_splits(train.element_spec, test.element_spec, config, name)
    return train, test, action_size


def check_splits(train_spec, test_spec, config: config_lib.Config, name: str) -> None:
    """Raises ValueError unless both splits have the same arrays and fit the model.

    Args:
        train_spec: element_spec of the train split.
        test_spec: element_spec of the test split.
        config: the model's hyperparameters.
        name: the dataset, for the message.
    """

    def shapes(spec):
        return {key: tuple(value.shape[1:]) for key, value in sorted(spec.items())}

    if shapes(train_spec) != shapes(test_spec):
        raise ValueError(
            f"The {name} train and test splits differ: train has "
            f"{shapes(train_spec)}, test has {shapes(test_spec)} (arrays and their "
            "shapes per sequence)."
        )
    channels = train_spec["frames"].shape[-1]
    if channels != config.image_channels:
        raise ValueError(
            f"The {name} frames have {channels} channels, but "
            f"image_channels={config.image_channels}; pass --image_channels="
            f"{channels}."
        )


def take_sequences(
    name: str,
    split: str,
    config: config_lib.Config,
    num_sequences: int,
    batch_size: int,
    data_dir: str | None = None,
    seed: int = 0,
    window_stride: int | None = None,
) -> tuple[Iterator[dict[str, np.ndarray]], int]:
    """The first `num_sequences` sequences of a split, read once in batches.

    The order is shuffled by `seed`: file-based datasets list their windows
    domain by domain, so the first sequences of an unshuffled pass would all
    come from one domain. Every batch is checked (`check_batch`); the last one
    is cut to `num_sequences`.

    Args:
        name: a key of `registry.DATASETS`.
        split: "train" or "test".
        config: hyperparameters; set sequence length and image size.
        num_sequences: sequences to read (fewer, with a warning, if the split
            has fewer).
        batch_size: sequences per batch; at most `num_sequences` are used.
        data_dir: directory of file-based datasets.
        seed: shuffling and generation seed.
        window_stride: as `load_split`.

    Returns:
        (iterator of dicts of numpy arrays as `load_split`'s batches, action
        size). The iterator raises ValueError for a batch that does not fit
        the config.

    Raises:
        ValueError, FileNotFoundError: as `load_split` (which refuses a split
            with fewer sequences than one batch).
    """
    if num_sequences < 1 or batch_size < 1:
        raise ValueError(f"num_sequences={num_sequences} and batch_size={batch_size} must be >= 1.")
    batch_size = min(batch_size, num_sequences)
    # Generated datasets drop a last partial batch: ask for whole batches.
    data, action_size = load_split(
        name,
        split,
        config,
        batch_size,
        data_dir=data_dir,
        seed=seed,
        num_sequences=-(-num_sequences // batch_size) * batch_size,
        shuffle=True,
        repeat=False,
        window_stride=window_stride,
    )
    source = f"the {name} {split} split"

    def batches():
        count = 0
        for batch in data:
            check_batch(batch, config, source)
            take = min(num_sequences - count, int(batch["frames"].shape[0]))
            yield {key: value[:take].numpy() for key, value in batch.items()}
            count += take
            if count >= num_sequences:
                return
        logging.warning(
            "%s has only %d sequences (asked for %d).", source.capitalize(), count, num_sequences
        )

    return batches(), action_size


def check_batch(batch, config: config_lib.Config, source: str) -> None:
    """Raises ValueError if a batch's frames do not fit the model.

    Args:
        batch: a dict with `frames`.
        config: the model's hyperparameters.
        source: names the data in the message.
    """
    frames = batch["frames"]
    expected = (config.sequence_length, config.image_size, config.image_size, config.image_channels)
    if frames.dtype != tf.float32:
        raise ValueError(
            f"Frames of {source} have dtype {frames.dtype.name}; expected float32 in [0, 1]."
        )
    if tuple(frames.shape[1:]) != expected:
        raise ValueError(
            f"Frames of {source} have shape {tuple(frames.shape)}; expected "
            f"[batch, {', '.join(map(str, expected))}] (time = observed_steps + "
            "predicted_steps, height, width, channels)."
        )
    if not np.all(np.isfinite(frames)):
        raise ValueError(f"Frames of {source} contain NaN or infinite values.")
    low, high = float(np.min(frames)), float(np.max(frames))
    if low < 0.0 or high > 1.0:
        raise ValueError(f"Frames of {source} have values in [{low:g}, {high:g}]; expected [0, 1].")


def generated(
    scene: str,
    split: str,
    num_sequences: int,
    sequence_length: int,
    batch_size: int,
    image_size: int = 32,
    num_blobs: int = 3,
    seed: int = 0,
    shuffle: bool = True,
    repeat: bool = True,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """A tf.data pipeline over sequences of `synthetic.generate`, generated now.

    Batches follow `video_structure.data.windows.window_dataset`: batch b
    is a function of b and the seed alone.

    Args:
        scene: one of `synthetic.SCENES`.
        split: "train" or "test".
        num_sequences: sequences to generate (held in memory as uint8).
        sequence_length: frames per sequence.
        batch_size: sequences per batch; the last partial batch is dropped.
        image_size: height and width.
        num_blobs: blobs per sequence.
        seed: random seed of generation and shuffling.
        shuffle: shuffle the sequences every epoch.
        repeat: repeat forever.
        start_batch: index of the first batch of a repeating stream.

    Returns:
        A tf.data.Dataset of dicts with `frames` float32 [batch, time, H, W, 3]
        in [0, 1] and `positions` float32 [batch, time, num_blobs, 2].

    Raises:
        ValueError: as `synthetic.generate`, or fewer sequences than batch_size.
    """
    frames, positions = synthetic.generate(
        num_sequences, sequence_length, image_size, num_blobs, seed=seed, split=split, scene=scene
    )
    specs = {"frames": (np.uint8, frames.shape[1:]), "positions": (np.float32, positions.shape[1:])}
    return windows.window_dataset(
        [sequence_length] * num_sequences,
        lambda index, start, length: {"frames": frames[index], "positions": positions[index]},
        specs,
        sequence_length,
        batch_size,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        window_stride=1,
        source=f"the synthetic {scene} {split} split",
        names=[f"synthetic {scene} {split} sequence {i}" for i in range(num_sequences)],
        start_batch=start_batch,
    )
