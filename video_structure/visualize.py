"""Pictures of keypoints: frames with keypoints drawn on them, strips and GIFs (numpy + Pillow)."""

import colorsys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from video_structure import files, keypoint_ops


def palette(num_colors: int) -> np.ndarray:
    """`num_colors` distinct saturated RGB colours, uint8 [num_colors, 3]."""
    hues = np.arange(num_colors) / max(num_colors, 1)
    return np.array(
        [[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.9, 1.0)] for h in hues], dtype=np.uint8
    )


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (values outside are clipped) -> uint8."""
    frames = np.nan_to_num(np.asarray(frames, np.float32))
    return np.round(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)


def draw_keypoints(
    frames: np.ndarray,
    keypoints: np.ndarray,
    scale: int = 4,
    min_scale: float = 0.05,
    trail: int = 0,
) -> np.ndarray:
    """Draws keypoints on frames, each keypoint in its own colour.

    Args:
        frames: [time, H, W, C] floats in [0, 1] or uint8.
        keypoints: [time, K, 3] (x, y, mu) in keypoint coordinates.
        scale: integer upscaling of the frames, so dots stay visible.
        min_scale: keypoints with mu below this are not drawn.
        trail: also draw the path over this many previous frames.

    Returns:
        uint8 [time, H * scale, W * scale, 3].
    """
    frames = frames if frames.dtype == np.uint8 else to_uint8(frames)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    time, height, width = frames.shape[:3]
    columns, rows = keypoint_ops.coordinates_to_pixels(np.asarray(keypoints), height, width)
    columns, rows = (columns + 0.5) * scale, (rows + 0.5) * scale
    colors = palette(keypoints.shape[1])
    output = []
    for t in range(time):
        image = Image.fromarray(frames[t]).resize((width * scale, height * scale), Image.NEAREST)
        draw = ImageDraw.Draw(image)
        for k in range(keypoints.shape[1]):
            mu = float(keypoints[t, k, 2])
            if mu < min_scale:
                continue
            color = tuple(int(c) for c in colors[k])
            if trail:
                path = [(columns[s, k], rows[s, k]) for s in range(max(0, t - trail), t + 1)]
                if len(path) > 1:
                    draw.line(path, fill=color, width=1)
            radius = 1.0 + 2.0 * min(mu, 1.0)
            box = [
                columns[t, k] - radius,
                rows[t, k] - radius,
                columns[t, k] + radius,
                rows[t, k] + radius,
            ]
            draw.ellipse(box, fill=color, outline=(0, 0, 0))
        output.append(np.asarray(image))
    return np.stack(output)


def grid(
    rows: Sequence[np.ndarray],
    border: int = 1,
    border_colors: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Tiles rows of frames into one image.

    Args:
        rows: list of uint8 [time, H, W, 3] arrays of equal shape.
        border: border width in pixels around every frame.
        border_colors: optional RGB colour per column (e.g. green for observed
            and red for predicted frames, as in the paper's figures).

    Returns:
        uint8 [rows * (H + 2 border), time * (W + 2 border), 3].
    """
    time = rows[0].shape[0]
    colors = border_colors or [(255, 255, 255)] * time
    tiles = []
    for row in rows:
        padded = []
        for t in range(time):
            frame = np.pad(row[t], ((border, border), (border, border), (0, 0)))
            frame[:border, :] = frame[-border:, :] = colors[t]
            frame[:, :border] = frame[:, -border:] = colors[t]
            padded.append(frame)
        tiles.append(np.concatenate(padded, axis=1))
    return np.concatenate(tiles, axis=0)


def save_png(image: np.ndarray, path: str) -> None:
    """Writes a uint8 [H, W, 3] image atomically."""
    files.atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


def save_gif(frames: np.ndarray, path: str, fps: float = 4.0) -> None:
    """Writes uint8 [time, H, W, 3] frames as a looping GIF, atomically."""
    images = [Image.fromarray(frame) for frame in frames]
    files.atomic_write(
        path,
        lambda f: images[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(1000 / fps),
            loop=0,
        ),
    )
