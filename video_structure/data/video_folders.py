"""The tf.data reader of user videos: folders of frame images and animated GIFs.

Every frame is decoded once when the dataset is built, so that a truncated
image fails before training; a frame that fails later raises DataReadError.
"""

import os

import numpy as np
from PIL import Image

from video_structure.data.windows import DataReadError, window_dataset

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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
