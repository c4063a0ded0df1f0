"""Tests for video_structure.data.npz."""

import re

import numpy as np
import pytest
import tensorflow as tf

from video_structure.data import npz


def test_npz_dataset_passes_authors_arrays_through(tmp_path, write_npz):
    written = [write_npz(tmp_path / f"{i:03d}.npz", 5, seed=i) for i in range(2)]
    dataset = npz.npz_dataset(str(tmp_path), seq_len=5, batch_size=2, shuffle=False, repeat=False)
    (batch,) = list(dataset)
    assert sorted(batch) == ["actions", "frames", "positions", "rewards"]
    assert batch["positions"].dtype == tf.float32
    for i, arrays in enumerate(written):
        np.testing.assert_allclose(batch["frames"][i], arrays["image"] / 255, atol=1e-7)
        np.testing.assert_allclose(batch["positions"][i], arrays["true_object_pos"], atol=1e-7)
        np.testing.assert_array_equal(batch["actions"][i], arrays["action"])
        np.testing.assert_allclose(batch["rewards"][i], arrays["reward"], atol=1e-6)


def test_npz_dataset_accepts_no_objects(tmp_path, write_npz):
    # The authors' example file has true_object_pos of shape [T, 0, 2].
    arrays = write_npz(tmp_path / "a.npz", 4, keys=("image",))
    np.savez(tmp_path / "a.npz", true_object_pos=np.zeros((4, 0, 2)), **arrays)
    dataset = npz.npz_dataset(str(tmp_path), seq_len=2, batch_size=3, shuffle=False, repeat=False)
    (batch,) = list(dataset)
    assert batch["positions"].shape == (3, 2, 0, 2)
    np.testing.assert_allclose(batch["frames"][2], arrays["image"][2:4] / 255, atol=1e-7)


# A cache of 0 bytes decodes the file again for each of its 5 windows.
@pytest.mark.parametrize("cache_bytes,decodes", [(0, 5), (2**29, 1)])
def test_npz_dataset_windows(tmp_path, monkeypatch, cache_bytes, decodes, write_npz):
    arrays = write_npz(tmp_path / "a.npz", 7, keys=("image",))
    dataset = npz.npz_dataset(
        str(tmp_path),
        seq_len=3,
        batch_size=5,
        shuffle=False,
        repeat=False,
        cache_bytes=cache_bytes,
    )
    loads = []
    load = np.load

    def counting_load(*args, **kwargs):
        loads.append(args[0])
        return load(*args, **kwargs)

    monkeypatch.setattr(np, "load", counting_load)
    (batch,) = list(dataset)
    assert len(loads) == decodes
    assert sorted(batch) == ["frames"]
    for start in range(5):
        np.testing.assert_allclose(
            batch["frames"][start], arrays["image"][start : start + 3] / 255, atol=1e-7
        )


def test_npz_dataset_rejects_bad_files(tmp_path, write_npz):
    write_npz(tmp_path / "a.npz", 4)
    bad = tmp_path / "b.npz"
    write_npz(bad, 4, keys=("action", "reward"))
    with pytest.raises(ValueError, match=re.escape(f"{bad} has no `image`")):
        npz.npz_dataset(str(tmp_path), 2, 1)
    write_npz(bad, 4, size=32)
    with pytest.raises(ValueError, match=re.escape(f"{bad}: `image` has shape")):
        npz.npz_dataset(str(tmp_path), 2, 1)
    write_npz(bad, 4, keys=("image",))
    with pytest.raises(ValueError, match=re.escape(f"{bad} has arrays")):
        npz.npz_dataset(str(tmp_path), 2, 1)
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable")):
        npz.npz_dataset(str(tmp_path), 2, 1)


@pytest.mark.parametrize(
    "key, shape, expected",
    [
        ("reward", (4, 1), "[T]"),
        ("action", (4,), "[T, A]"),
        ("action", (3, 2), "[T, A]"),
        ("true_object_pos", (4, 3), "[T, N, 2]"),
        ("true_object_pos", (4, 3, 3), "[T, N, 2]"),
    ],
)
def test_npz_dataset_rejects_arrays_of_other_shapes(tmp_path, key, shape, expected, write_npz):
    arrays = write_npz(tmp_path / "a.npz", 4)
    arrays[key] = np.zeros(shape, np.float32)
    np.savez(tmp_path / "a.npz", **arrays)
    message = f"{tmp_path / 'a.npz'}: `{key}` has shape {shape}, expected {expected} with T = 4"
    with pytest.raises(ValueError, match=re.escape(message)):
        npz.npz_dataset(str(tmp_path), 2, 1)


def test_npz_dataset_rejects_corrupt_or_unusable_arrays(tmp_path, write_npz):
    path = tmp_path / "a.npz"
    arrays = write_npz(path, 4, keys=("image",))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # Inside image.npy: only its CRC shows it.
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(f"{path}: `image` is corrupt: BadZipFile")):
        npz.npz_dataset(str(tmp_path), 2, 1)
    np.savez(path, action=np.array([[None, 1]] * 4, dtype=object), **arrays)
    with pytest.raises(ValueError, match=re.escape(f"{path}: `action` has dtype object")):
        npz.npz_dataset(str(tmp_path), 2, 1)
    np.savez(path, action=np.full((4, 2), np.nan, np.float32), **arrays)
    with pytest.raises(ValueError, match=re.escape(f"{path}: `action` contains NaN")):
        npz.npz_dataset(str(tmp_path), 2, 1)


def test_npz_dataset_gives_each_window_its_file_label(tmp_path, write_npz):
    for i, label in enumerate([3, 7]):
        arrays = write_npz(tmp_path / f"{i}.npz", 4, keys=("image",), seed=i)
        np.savez(tmp_path / f"{i}.npz", action_label=np.int32(label), **arrays)
    dataset = npz.npz_dataset(str(tmp_path), seq_len=2, batch_size=6, shuffle=False, repeat=False)
    (batch,) = list(dataset)
    assert batch["label"].dtype == tf.int32
    np.testing.assert_array_equal(batch["label"], [3, 3, 3, 7, 7, 7])
    np.savez(tmp_path / "1.npz", action_label=np.int32([7, 7]), **arrays)
    with pytest.raises(ValueError, match=r"`action_label` has shape \(2,\), expected one number"):
        npz.npz_dataset(str(tmp_path), seq_len=2, batch_size=6)
