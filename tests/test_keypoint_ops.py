import numpy as np
import pytest
import tensorflow as tf

from video_structure import keypoint_ops


@pytest.mark.parametrize("row,column", [(0, 0), (3, 7), (15, 15), (8, 2)])
def test_one_hot_map_gives_its_pixel_coordinates(row, column):
    size = 16
    heatmap = np.zeros([1, size, size, 1], np.float32)
    heatmap[0, row, column, 0] = 1.0
    keypoints = keypoint_ops.maps_to_keypoints(tf.constant(heatmap), normalize_scales=False)
    x, y, mu = keypoints.numpy()[0, 0]
    np.testing.assert_allclose(
        [x, y], [-1 + (2 * column + 1) / size, 1 - (2 * row + 1) / size], atol=1e-5
    )
    assert mu == pytest.approx(1.0 / size**2)


# At least 3 sigma (0.56) from the edges: closer, the map's truncation pulls
# the spatial expectation towards the centre.
@pytest.mark.parametrize("x,y", [(0.0, 0.0), (0.3, -0.4), (-0.4, 0.35), (0.0625, -0.0625)])
def test_rendered_gaussian_maps_back_to_its_centre(x, y):
    keypoints = tf.constant([[[x, y, 1.0]]])
    maps = keypoint_ops.keypoints_to_maps(keypoints, sigma=1.5, heatmap_size=16)
    recovered = keypoint_ops.maps_to_keypoints(maps).numpy()[0, 0]
    np.testing.assert_allclose(recovered[:2], [x, y], atol=1e-3)


def test_gaussian_matches_eq_s4_in_heatmap_pixels():
    sigma, size = 1.5, 16
    maps = keypoint_ops.keypoints_to_maps(tf.constant([[[0.0625, 0.0625, 0.5]]]), sigma, size)
    # (0.0625, 0.0625) is the centre of pixel (row 7, column 8).
    rows, columns = np.mgrid[0:size, 0:size]
    expected = 0.5 * np.exp(-((rows - 7) ** 2 + (columns - 8) ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(maps.numpy()[0, :, :, 0], expected, atol=1e-6)


def test_scales_are_mean_intensity_and_normalised_by_max():
    heatmaps = np.zeros([1, 4, 4, 3], np.float32)
    heatmaps[..., 0] = 2.0
    heatmaps[..., 1] = 0.5
    raw = keypoint_ops.maps_to_keypoints(tf.constant(heatmaps), normalize_scales=False).numpy()
    normalised = keypoint_ops.maps_to_keypoints(tf.constant(heatmaps)).numpy()
    np.testing.assert_allclose(raw[0, :, 2], [2.0, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(normalised[0, :, 2], [1.0, 0.25, 0.0], atol=1e-5)


def test_coordinate_channels_follow_the_convention():
    images = tf.zeros([2, 4, 8, 3])
    with_coords = keypoint_ops.add_coord_channels(images).numpy()
    assert with_coords.shape == (2, 4, 8, 5)
    np.testing.assert_allclose(with_coords[0, 0, :, 3], (2 * np.arange(8) + 1) / 8 - 1)
    np.testing.assert_allclose(with_coords[0, :, 0, 4], 1 - (2 * np.arange(4) + 1) / 4)


def test_coordinates_to_pixels_inverts_pixel_centres():
    columns, rows = keypoint_ops.coordinates_to_pixels(
        np.array([[-1 + 1 / 64, 1 - 1 / 64], [1 - 1 / 64, -1 + 1 / 64]]), 64, 64
    )
    np.testing.assert_allclose(columns, [0, 63], atol=1e-9)
    np.testing.assert_allclose(rows, [0, 63], atol=1e-9)


# Unnormalised mu (scale 7) counts the same keypoints active: the threshold is
# a share of the frame's largest mu.
@pytest.mark.parametrize("mu_scale", [1.0, 7.0])
def test_keypoint_statistics_against_numpy(mu_scale):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(-1, 1, size=(2, 3, 4, 3)).astype(np.float32)
    keypoints[..., 2] = mu_scale * rng.uniform(0, 1, size=(2, 3, 4))
    stats = {k: float(v) for k, v in keypoint_ops.keypoint_statistics(keypoints, 0.5).items()}
    active = keypoints[..., 2] >= 0.5 * keypoints[..., 2].max(axis=-1, keepdims=True)
    spreads, motions = [], []
    for b in range(2):
        for t in range(3):
            points = keypoints[b, t, active[b, t], :2]
            spreads += list(np.linalg.norm(points - points.mean(axis=0), axis=-1))
            if t:
                both = active[b, t] & active[b, t - 1]
                motions += list(
                    np.linalg.norm(
                        keypoints[b, t, both, :2] - keypoints[b, t - 1, both, :2], axis=-1
                    )
                )
    assert stats["active_keypoints"] == pytest.approx(active.sum() / 6)
    assert stats["keypoint_spread"] == pytest.approx(np.mean(spreads), rel=1e-5)
    assert stats["keypoint_motion"] == pytest.approx(np.mean(motions), rel=1e-5)
