import numpy as np
import pytest
import tensorflow as tf

from video_structure import config
from video_structure.data import registry

CONFIG = config.get_preset("synthetic", batch_size=2, observed_steps=2, predicted_steps=1)


def test_synthetic_dataset_fits_the_config():
    train, test, action_size = registry.load("synthetic", CONFIG, num_sequences=8)
    assert action_size == 0
    for data in (train, test):
        batch = next(iter(data))
        registry.check_batch(batch, CONFIG, "test data")
        assert batch["frames"].shape == (2, 3, 32, 32, 3)


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        registry.load("nope", CONFIG)


@pytest.mark.parametrize("frames,message", [
    (np.zeros([2, 3, 16, 16, 3], np.float32), r"shape \(2, 3, 16, 16, 3\)"),
    (np.zeros([2, 4, 32, 32, 3], np.float32), r"shape \(2, 4, 32, 32, 3\)"),
    (np.full([2, 3, 32, 32, 3], 255.0, np.float32), r"values in \[255, 255\]"),
    (np.full([2, 3, 32, 32, 3], np.nan, np.float32), "NaN"),
    (np.zeros([2, 3, 32, 32, 3], np.uint8), "dtype uint8"),
])
def test_bad_frames_are_named(frames, message):
    with pytest.raises(ValueError, match=message):
        registry.check_batch({"frames": tf.constant(frames)}, CONFIG, "my data")


def write_npz_split(directory, num_files=2, length=6, size=32, with_actions=True):
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(num_files):
        arrays = {"image": rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)}
        if with_actions:
            arrays["action"] = rng.uniform(size=(length, 2)).astype(np.float32)
        np.savez(directory / f"seq{i}.npz", **arrays)


def test_npz_dataset_reads_split_folders_and_finds_the_action_size(tmp_path):
    write_npz_split(tmp_path / "train")
    write_npz_split(tmp_path / "test")
    data, action_size = registry.load_split("npz", "test", CONFIG, 2, data_dir=str(tmp_path),
                                            repeat=False)
    batch = next(iter(data))
    registry.check_batch(batch, CONFIG, "npz")
    assert action_size == 2 and batch["actions"].shape == (2, 3, 2)


@pytest.mark.parametrize("name", ["npz", "videos"])
def test_file_datasets_name_what_is_missing(tmp_path, name):
    with pytest.raises(ValueError, match="--data_dir"):
        registry.load_split(name, "train", CONFIG, 2)
    with pytest.raises(FileNotFoundError, match="train"):
        registry.load_split(name, "train", CONFIG, 2, data_dir=str(tmp_path))
