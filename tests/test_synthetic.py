import numpy as np
import pytest

from video_structure import keypoint_ops
from video_structure.data import synthetic


@pytest.mark.parametrize("scene", synthetic.SCENES)
def test_generation_is_deterministic_and_splits_differ(scene):
    a = synthetic.generate(3, 5, seed=1, scene=scene)
    b = synthetic.generate(3, 5, seed=1, scene=scene)
    test = synthetic.generate(3, 5, seed=1, split="test", scene=scene)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[1], test[1])


def test_both_scenes_share_the_trajectories():
    _, blobs = synthetic.generate(3, 5, seed=1)
    _, sprites = synthetic.generate(3, 5, seed=1, scene="sprites")
    np.testing.assert_array_equal(blobs, sprites)


@pytest.mark.parametrize(
    "shape,inside,outside",
    [
        ("disc", [(0, 0), (2, 0), (1.4, 1.4)], [(3.2, 0), (2.4, 2.4)]),
        ("square", [(0, 0), (2, 2), (-2, 1)], [(3.2, 0), (0, -3.2)]),
        # Flat top edge at y = -1.5 (y down), apex at y = +3.
        ("triangle", [(0, 0), (0, 1.8), (1.5, -1)], [(0, -2.2), (0, 4.2), (2.5, 1)]),
        # Inner radius 1.25, outer radius 2.5.
        ("ring", [(2, 0), (0, -1.8), (1.3, 1.3)], [(0, 0), (0.5, 0.5), (3.2, 0)]),
    ],
)
def test_shape_coverage(shape, inside, outside):
    points = np.array(inside + outside, np.float64)
    coverage = synthetic.shape_coverage(shape, points[:, 0], points[:, 1], 2.5)
    np.testing.assert_array_equal(coverage[: len(inside)], 1.0)
    np.testing.assert_array_equal(coverage[len(inside) :], 0.0)


def test_sprites_move_over_a_static_background_that_differs_between_sequences():
    frames, positions = synthetic.generate(4, 6, image_size=32, seed=2, scene="sprites")
    frames = frames.astype(np.float32) / 255
    columns, rows = np.meshgrid(np.arange(32), np.arange(32))
    pixels = np.stack(keypoint_ops.coordinates_to_pixels(positions, 32, 32), -1)  # [n, t, b, 2]
    # Pixels farther than 4.5 px (a square's corner and its rim) from every
    # object are background in every frame.
    distance = np.linalg.norm(
        np.stack([columns, rows], -1)[None, None, None] - pixels[..., None, None, :], axis=-1
    )  # [n, t, b, H, W]
    free = np.all(distance > 4.5, axis=(1, 2))  # [n, H, W]
    assert free.mean() > 0.4
    for n in range(4):
        background = frames[n][:, free[n]]  # [t, pixels, 3]
        np.testing.assert_array_equal(background, np.broadcast_to(background[0], background.shape))
    # The backgrounds vary within an image and between sequences.
    assert frames[0, 0][free[0]].std(axis=0).min() > 0.02
    assert np.abs(frames[0, 0] - frames[1, 0])[free[0] & free[1]].mean() > 0.05
    assert 0.1 - 1e-6 <= frames.min() and frames.max() <= 1.0
    # The square (object 0) and the triangle (object 1) have their colour at their centres.
    n, t = np.meshgrid(range(4), range(6), indexing="ij")
    for obj in (0, 1):
        columns, rows = np.round(pixels[:, :, obj].transpose(2, 0, 1)).astype(int)
        colours = frames[n, t, rows, columns]  # [n, t, 3]
        matches = np.all(np.abs(colours - synthetic.BLOB_COLORS[obj]) < 0.02, axis=-1)
        assert matches.mean() > 0.8


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


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"split": "val"}, "split"),
        ({"scene": "sky"}, "scene"),
        ({"num_blobs": 9}, "num_blobs"),
        ({"image_size": 8}, "image_size"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.generate(2, 3, **kwargs)
