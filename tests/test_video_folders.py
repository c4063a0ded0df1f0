"""Tests for video_structure.data.video_folders."""

import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from video_structure.data import video_folders


def _frames(length, size=64):
    # Few distinct colours, so GIF palettes reproduce them exactly.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    frames = np.zeros((length, size, size, 3), np.uint8)
    for t in range(length):
        frames[t] = colours[t % 4]
        frames[t, t : t + 8, 10:20] = colours[(t + 1) % 4]
    return frames


def test_video_dataset_reads_folders_and_gifs(tmp_path):
    folder_frames, gif_frames = _frames(4), _frames(5)[::-1]
    os.mkdir(tmp_path / "clip")
    for t, frame in enumerate(folder_frames):
        Image.fromarray(frame).save(tmp_path / "clip" / f"frame_{t:02d}.png")
    images = [Image.fromarray(f) for f in gif_frames]
    images[0].save(
        tmp_path / "other.gif", save_all=True, append_images=images[1:], duration=40, loop=0
    )
    dataset = video_folders.video_dataset(
        str(tmp_path), seq_len=4, batch_size=3, shuffle=False, repeat=False
    )
    (batch,) = list(dataset)
    assert sorted(batch) == ["frames"]
    frames = np.round(batch["frames"].numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(frames[0], folder_frames)
    np.testing.assert_array_equal(frames[1], gif_frames[:4])
    np.testing.assert_array_equal(frames[2], gif_frames[1:])


def test_video_dataset_rejects_bad_frames(tmp_path):
    os.mkdir(tmp_path / "clip")
    Image.fromarray(_frames(1)[0]).save(tmp_path / "clip" / "0.png")
    bad = tmp_path / "clip" / "1.png"
    Image.fromarray(_frames(1, size=48)[0]).save(bad)
    with pytest.raises(ValueError, match=re.escape(f"{bad} is 48x48 pixels")):
        video_folders.video_dataset(str(tmp_path), 1, 1)
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable image")):
        video_folders.video_dataset(str(tmp_path), 1, 1)


def _png_folder(root, name, length, size=64):
    os.makedirs(root / name)
    for t, frame in enumerate(_frames(length, size)):
        Image.fromarray(frame).save(root / name / f"{t:03d}.png")
    return root / name


def _cut_short(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_video_dataset_rejects_truncated_pixel_data(tmp_path):
    bad = _png_folder(tmp_path, "clip", 4) / "002.png"
    _cut_short(bad)  # The header stays readable.
    with pytest.raises(ValueError, match=re.escape(f"{bad} has unreadable pixel data")):
        video_folders.video_dataset(str(tmp_path), 2, 1)
    shutil.rmtree(tmp_path / "clip")
    images = [
        Image.fromarray(f)
        for f in np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), np.uint8)
    ]
    gif = tmp_path / "clip.gif"
    images[0].save(gif, save_all=True, append_images=images[1:])
    _cut_short(gif, 0.6)
    with pytest.raises(ValueError, match=re.escape(f"{gif} has unreadable pixel data")):
        video_folders.video_dataset(str(tmp_path), 2, 1)
