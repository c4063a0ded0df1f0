"""A tiny synthetic video dataset generated in-process: coloured blobs bouncing in a box.

Each sequence shows `num_blobs` discs of fixed colours moving at constant
speed over a static background and bouncing off the walls. Ground-truth blob
centres come with every frame, in the keypoint convention of
`video_structure.keypoint_ops`, so tests and demos can check that keypoints
track objects without any external data. Generation is numpy only and
deterministic for a seed; train and test splits use disjoint seed streams.
"""

import numpy as np

from video_structure.data import sequences

SPLITS = ("train", "test")
# Fixed, well separated colours so that each blob is its own object.
BLOB_COLORS = np.array([
    [0.95, 0.2, 0.2], [0.2, 0.85, 0.25], [0.25, 0.35, 0.95], [0.95, 0.85, 0.15],
    [0.85, 0.3, 0.9], [0.2, 0.9, 0.9]], dtype=np.float32)


def generate(num_sequences: int, sequence_length: int, image_size: int = 32, num_blobs: int = 3,
             blob_radius: float = 2.5, max_speed: float = 1.5, seed: int = 0,
             split: str = "train"):
    """Generates bouncing-blob videos.

    Args:
        num_sequences: number of sequences.
        sequence_length: frames per sequence.
        image_size: height and width in pixels.
        num_blobs: blobs per sequence, at most len(BLOB_COLORS).
        blob_radius: disc radius in pixels.
        max_speed: maximal speed in pixels per frame.
        seed: random seed.
        split: "train" or "test"; the splits draw from disjoint seed streams.

    Returns:
        frames: uint8 [num_sequences, sequence_length, image_size, image_size, 3].
        positions: float32 [num_sequences, sequence_length, num_blobs, 2] blob
            centres (x, y) in keypoint coordinates.

    Raises:
        ValueError: for an unknown split or out-of-range sizes.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}.")
    if not 1 <= num_blobs <= len(BLOB_COLORS):
        raise ValueError(f"num_blobs={num_blobs} must be in [1, {len(BLOB_COLORS)}].")
    if image_size < 4 * blob_radius:
        raise ValueError(f"image_size={image_size} is too small for blob_radius={blob_radius}.")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    low, high = blob_radius, image_size - 1 - blob_radius
    # Pixel positions: (column, row), pixel centres at integers.
    start = rng.uniform(low, high, size=(num_sequences, num_blobs, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(num_sequences, num_blobs))
    speed = rng.uniform(0.3 * max_speed, max_speed, size=(num_sequences, num_blobs))
    velocity = speed[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    steps = np.arange(sequence_length)[None, :, None, None]
    # Unfolding the motion on a line and reflecting it into [low, high] gives
    # exact elastic bounces without simulating them step by step.
    unfolded = start[:, None] + steps * velocity[:, None] - low
    period = 2 * (high - low)
    phase = np.mod(unfolded, period)
    pixels = low + np.where(phase > high - low, period - phase, phase)  # [n, t, blobs, 2]

    grid = np.arange(image_size, dtype=np.float32)
    background = _background(image_size)
    frames = np.empty((num_sequences, sequence_length, image_size, image_size, 3), np.uint8)
    for start_index in range(0, num_sequences, 64):  # Bounds memory use.
        chunk = pixels[start_index:start_index + 64].astype(np.float32)
        dx = grid[None, None, None, None, :] - chunk[..., 0, None, None]
        dy = grid[None, None, None, :, None] - chunk[..., 1, None, None]
        # Anti-aliased discs: coverage falls from 1 to 0 across one pixel at the rim.
        coverage = np.clip(blob_radius + 0.5 - np.sqrt(dx**2 + dy**2), 0.0, 1.0)  # [n, t, b, H, W]
        image = np.broadcast_to(background, chunk.shape[:2] + background.shape).copy()
        for blob in range(num_blobs):  # Later blobs are drawn on top.
            alpha = coverage[:, :, blob, :, :, None]
            image = (1 - alpha) * image + alpha * BLOB_COLORS[blob]
        frames[start_index:start_index + 64] = np.round(image * 255).astype(np.uint8)

    positions = np.stack([(2 * pixels[..., 0] + 1) / image_size - 1,
                          1 - (2 * pixels[..., 1] + 1) / image_size], axis=-1)
    return frames, positions.astype(np.float32)


def _background(image_size: int) -> np.ndarray:
    """A static grey background with a soft diagonal gradient, [H, W, 3] in [0, 1]."""
    ramp = np.linspace(0.25, 0.45, image_size, dtype=np.float32)
    grey = 0.5 * (ramp[:, None] + ramp[None, :])
    return np.repeat(grey[..., None], 3, axis=-1)


def dataset(split: str, num_sequences: int, sequence_length: int, batch_size: int,
            image_size: int = 32, num_blobs: int = 3, seed: int = 0, shuffle: bool = True,
            repeat: bool = True, start_batch: int = 0):
    """A tf.data pipeline over freshly generated sequences.

    Batches follow `video_structure.data.sequences.window_dataset`: batch b
    is a function of b and the seed alone.

    Args:
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
        ValueError: as `generate`, or fewer sequences than batch_size.
    """
    frames, positions = generate(num_sequences, sequence_length, image_size, num_blobs,
                                 seed=seed, split=split)
    specs = {"frames": (np.uint8, frames.shape[1:]), "positions": (np.float32, positions.shape[1:])}
    return sequences.window_dataset(
        [sequence_length] * num_sequences,
        lambda index, start, length: {"frames": frames[index], "positions": positions[index]},
        specs, sequence_length, batch_size, shuffle=shuffle, repeat=repeat, seed=seed,
        window_stride=1, source=f"the synthetic {split} split",
        names=[f"synthetic {split} sequence {i}" for i in range(num_sequences)],
        start_batch=start_batch)
