"""Tiny synthetic video datasets generated in-process: coloured objects bouncing in a box.

Each sequence shows `num_blobs` objects of fixed colours moving at constant
speed and bouncing off the walls. Two scenes:

- "blobs": discs over a static grey gradient, the same in every sequence;
- "sprites": a square, a triangle and a ring (repeating for more objects) over
  a smooth multicoloured background that differs from sequence to sequence,
  so that the image loss cannot be lowered by learning one background, and
  most of it lies in pixels no object covers (the case in which a detector
  can collapse onto the background, docs/fidelity.md).

Ground-truth object centres come with every frame, in the keypoint convention
of `video_structure.keypoint_ops`, so tests and demos can check that keypoints
track objects without any external data. Generation is numpy only and
deterministic for a seed; train and test splits use disjoint seed streams.
"""

import numpy as np

SPLITS = ("train", "test")
SCENES = ("blobs", "sprites")
# Object n of the sprites scene has shape SPRITE_SHAPES[n % 3].
SPRITE_SHAPES = ("square", "triangle", "ring")
# Fixed, well separated colours so that each blob is its own object.
BLOB_COLORS = np.array(
    [
        [0.95, 0.2, 0.2],
        [0.2, 0.85, 0.25],
        [0.25, 0.35, 0.95],
        [0.95, 0.85, 0.15],
        [0.85, 0.3, 0.9],
        [0.2, 0.9, 0.9],
    ],
    dtype=np.float32,
)


def generate(
    num_sequences: int,
    sequence_length: int,
    image_size: int = 32,
    num_blobs: int = 3,
    blob_radius: float = 2.5,
    max_speed: float = 1.5,
    seed: int = 0,
    split: str = "train",
    scene: str = "blobs",
):
    """Generates videos of bouncing objects.

    Args:
        num_sequences: number of sequences.
        sequence_length: frames per sequence.
        image_size: height and width in pixels.
        num_blobs: blobs per sequence, at most len(BLOB_COLORS).
        blob_radius: disc radius in pixels; half the side of a square, the
            outer radius of a ring, and the circumradius over 1.2 of a triangle.
        max_speed: maximal speed in pixels per frame.
        seed: random seed.
        split: "train" or "test"; the splits draw from disjoint seed streams.
        scene: one of SCENES (module docstring).

    Returns:
        frames: uint8 [num_sequences, sequence_length, image_size, image_size, 3].
        positions: float32 [num_sequences, sequence_length, num_blobs, 2] blob
            centres (x, y) in keypoint coordinates.

    Raises:
        ValueError: for an unknown split or scene, or out-of-range sizes.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}.")
    if scene not in SCENES:
        raise ValueError(f"Unknown scene {scene!r}; choose one of {SCENES}.")
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
    # [n, H, W, 3]; drawn after the motion so that both scenes share trajectories.
    backgrounds = (
        _smooth_backgrounds(rng, num_sequences, image_size)
        if scene == "sprites"
        else np.broadcast_to(
            _grey_background(image_size), (num_sequences, image_size, image_size, 3)
        )
    )
    shapes = (
        ["disc"] * num_blobs
        if scene == "blobs"
        else [SPRITE_SHAPES[n % len(SPRITE_SHAPES)] for n in range(num_blobs)]
    )
    frames = np.empty((num_sequences, sequence_length, image_size, image_size, 3), np.uint8)
    for start_index in range(0, num_sequences, 64):  # Bounds memory use.
        chunk = pixels[start_index : start_index + 64].astype(np.float32)
        dx = grid[None, None, None, None, :] - chunk[..., 0, None, None]  # [n, t, b, H, W]
        dy = grid[None, None, None, :, None] - chunk[..., 1, None, None]
        image = np.repeat(
            backgrounds[start_index : start_index + 64, None], sequence_length, axis=1
        ).astype(np.float32)  # [n, t, H, W, 3]
        for blob in range(num_blobs):  # Later objects are drawn on top.
            alpha = shape_coverage(shapes[blob], dx[:, :, blob], dy[:, :, blob], blob_radius)
            image = (1 - alpha[..., None]) * image + alpha[..., None] * BLOB_COLORS[blob]
        frames[start_index : start_index + 64] = np.round(image * 255).astype(np.uint8)

    positions = np.stack(
        [(2 * pixels[..., 0] + 1) / image_size - 1, 1 - (2 * pixels[..., 1] + 1) / image_size],
        axis=-1,
    )
    return frames, positions.astype(np.float32)


def shape_coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at offset 0.

    Each shape is a signed distance d (pixels, negative inside); coverage
    falls from 1 to 0 across the pixel around the rim: clip(0.5 - d, 0, 1).

    Args:
        shape: "disc", "square", "triangle" or "ring".
        dx, dy: pixel offsets from the centre, x right and y down.
        radius: see `generate`'s blob_radius.

    Returns:
        Coverage of the same shape as dx.
    """
    if shape == "disc":
        distance = np.sqrt(dx**2 + dy**2) - radius
    elif shape == "square":
        distance = np.maximum(np.abs(dx), np.abs(dy)) - radius
    elif shape == "ring":
        # A ring as wide as half its outer radius.
        distance = np.abs(np.sqrt(dx**2 + dy**2) - 0.75 * radius) - 0.25 * radius
    elif shape == "triangle":
        # An equilateral triangle with a flat top: the most outside of its three
        # edges' half-planes; the inradius is half the circumradius 1.2 * radius.
        angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
        normals = np.stack([np.cos(angles), -np.sin(angles)], axis=-1)  # [3, 2], y down
        distance = (
            np.max(dx[..., None] * normals[:, 0] + dy[..., None] * normals[:, 1], axis=-1)
            - 0.6 * radius
        )
    else:
        raise ValueError(f"Unknown shape {shape!r}.")
    return np.clip(0.5 - distance, 0.0, 1.0)


def _grey_background(image_size: int) -> np.ndarray:
    """A static grey background with a soft diagonal gradient, [H, W, 3] in [0, 1]."""
    ramp = np.linspace(0.25, 0.45, image_size, dtype=np.float32)
    grey = 0.5 * (ramp[:, None] + ramp[None, :])
    return np.repeat(grey[..., None], 3, axis=-1)


def _smooth_backgrounds(rng: np.random.Generator, num: int, image_size: int) -> np.ndarray:
    """Smooth multicoloured backgrounds, one per sequence, [num, H, W, 3] in [0.1, 0.9].

    Each channel is a mid-grey plus three plane waves of at most 1.5 cycles
    per image, random in direction, phase and amplitude.
    """
    waves = 3
    coordinates = np.arange(image_size, dtype=np.float64) / image_size
    frequency = rng.uniform(0.3, 1.5, size=(num, 3, waves, 1, 1))  # cycles per image
    direction = rng.uniform(0, 2 * np.pi, size=(num, 3, waves, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(num, 3, waves, 1, 1))
    amplitude = rng.uniform(0.05, 0.15, size=(num, 3, waves, 1, 1))
    along = (
        np.cos(direction) * coordinates[None, :] + np.sin(direction) * coordinates[:, None]
    )  # [num, 3, waves, H, W]
    channels = 0.5 + np.sum(amplitude * np.cos(2 * np.pi * frequency * along + phase), axis=2)
    return np.clip(np.moveaxis(channels, 1, -1), 0.1, 0.9).astype(np.float32)
