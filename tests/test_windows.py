"""Tests for video_structure.data.windows, through the readers built on it."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from video_structure.data import dmcs_reader, npz, video_folders, windows


@pytest.mark.parametrize(
    "reader", [dmcs_reader.dmcs_dataset, npz.npz_dataset, video_folders.video_dataset]
)
def test_empty_or_missing_directory(tmp_path, reader):
    args = ("train",) if reader is dmcs_reader.dmcs_dataset else ()
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
            reader(str(path), *args, 2, 1)


def test_a_single_pass_ends_with_a_partial_batch(tmp_path, write_npz):
    arrays = write_npz(tmp_path / "a.npz", 7, keys=("image",))
    dataset = npz.npz_dataset(str(tmp_path), seq_len=3, batch_size=2, shuffle=False, repeat=False)
    batches = list(dataset)
    # 5 windows: two full batches and the last window alone, none dropped.
    assert [len(b["frames"]) for b in batches] == [2, 2, 1]
    np.testing.assert_allclose(batches[-1]["frames"][0], arrays["image"][4:7] / 255, atol=1e-7)


def _frames(length, size=64):
    # Few distinct colours, so GIF palettes reproduce them exactly.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    frames = np.zeros((length, size, size, 3), np.uint8)
    for t in range(length):
        frames[t] = colours[t % 4]
        frames[t, t : t + 8, 10:20] = colours[(t + 1) % 4]
    return frames


def _png_folder(root, name, length, size=64):
    os.makedirs(root / name)
    for t, frame in enumerate(_frames(length, size)):
        Image.fromarray(frame).save(root / name / f"{t:03d}.png")
    return root / name


def _cut_short(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_short_sequences_are_skipped_with_a_warning(tmp_path, caplog, write_npz):
    write_npz(tmp_path / "long.npz", 4, keys=("image",))
    write_npz(tmp_path / "short.npz", 2, keys=("image",))
    dataset = npz.npz_dataset(str(tmp_path), 3, 2, shuffle=False, repeat=False)
    assert len(list(dataset)) == 1
    assert f"Skipping 1 of 2 sequences of {tmp_path} shorter than seq_len=3 frames" in caplog.text
    assert str(tmp_path / "short.npz") in caplog.text


def test_a_batch_larger_than_the_data_is_refused(tmp_path, write_npz):
    write_npz(tmp_path / "a.npz", 4, keys=("image",))
    # 3 windows: a repeating batch of 4 would hold one of them twice.
    with pytest.raises(ValueError, match="3 windows of 2 frames, fewer than batch_size=4"):
        npz.npz_dataset(str(tmp_path), 2, 4, repeat=True)


def test_a_file_damaged_after_validation_is_named_when_read(tmp_path):
    bad = _png_folder(tmp_path, "clip", 4) / "001.png"
    dataset = video_folders.video_dataset(str(tmp_path), 4, 1, repeat=False)
    _cut_short(bad)
    with pytest.raises(tf.errors.OpError) as raised:
        list(dataset)
    message = windows.read_error_message(raised.value)
    assert message == f"{bad}: OSError: image file is truncated"
    assert windows.read_error_message(tf.errors.UnknownError(None, None, "other")) is None


@pytest.mark.parametrize("shuffle", [True, False])
def test_batch_b_of_a_stream_does_not_depend_on_where_it_starts(tmp_path, shuffle, write_npz):
    for i in range(2):
        write_npz(tmp_path / f"{i}.npz", 4, keys=("image",), seed=i)

    def frames(start_batch, count, seed=3):
        dataset = npz.npz_dataset(
            str(tmp_path), 2, 2, shuffle=shuffle, seed=seed, start_batch=start_batch
        )
        return np.stack([b["frames"].numpy() for b in dataset.take(count)])

    # 6 windows, 3 batches an epoch: batches 2-4 span epochs 0 and 1.
    whole = frames(0, 5)
    np.testing.assert_array_equal(frames(2, 3), whole[2:])
    epochs = whole[:3].reshape(6, -1), frames(3, 3).reshape(6, -1)
    # Each epoch visits every window once, in a new order when shuffling.
    assert sorted(map(bytes, epochs[0])) == sorted(map(bytes, epochs[1]))
    assert np.array_equal(epochs[0], epochs[1]) != shuffle
    assert not shuffle or not np.array_equal(frames(0, 3, seed=4), whole[:3])
