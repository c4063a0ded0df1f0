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
