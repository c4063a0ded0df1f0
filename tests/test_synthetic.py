import numpy as np
import pytest

from video_structure import keypoint_ops
from video_structure.data import synthetic


def test_generation_is_deterministic_and_splits_differ():
    a = synthetic.generate(3, 5, seed=1)
    b = synthetic.generate(3, 5, seed=1)
    test = synthetic.generate(3, 5, seed=1, split="test")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], test[1])


def test_positions_lie_on_their_blobs():
    frames, positions = synthetic.generate(4, 6, image_size=32, num_blobs=3, seed=2)
    columns, rows = keypoint_ops.coordinates_to_pixels(positions, 32, 32)
    columns, rows = np.round(columns).astype(int), np.round(rows).astype(int)
    # The blob's colour is at its centre unless a later blob covers it.
    hits = 0
    for n, t, b in np.ndindex(*positions.shape[:3]):
        pixel = frames[n, t, rows[n, t, b], columns[n, t, b]] / 255.0
        hits += np.allclose(pixel, synthetic.BLOB_COLORS[b], atol=0.02)
    assert hits >= 0.9 * positions[..., 0].size


def test_blobs_move_and_stay_inside():
    _, positions = synthetic.generate(8, 20, seed=3)
    assert np.all(np.abs(positions) < 1)
    speeds = np.linalg.norm(np.diff(positions, axis=1), axis=-1)
    assert np.all(speeds > 0)


def test_dataset_yields_batches_in_range():
    data = synthetic.dataset("train", 10, 4, batch_size=3, image_size=32)
    batch = next(iter(data))
    assert batch["frames"].shape == (3, 4, 32, 32, 3)
    assert batch["positions"].shape == (3, 4, 3, 2)
    frames = batch["frames"].numpy()
    assert frames.dtype == np.float32 and frames.min() >= 0 and frames.max() <= 1


@pytest.mark.parametrize("kwargs,message", [({"split": "val"}, "split"),
                                            ({"num_blobs": 9}, "num_blobs"),
                                            ({"image_size": 8}, "image_size")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.generate(2, 3, **kwargs)
