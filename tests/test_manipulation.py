"""Tests for video_structure.manipulation, on a tiny export loaded as a plain SavedModel."""

import numpy as np
import pytest
import tensorflow as tf

from video_structure import manipulation, rollouts


def test_nearest_keypoints_skips_inactive_ones():
    keypoints = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.01], [0.6, 0.4, 1.0], [-1, -1, 1.0]])
    np.testing.assert_array_equal(
        manipulation.nearest_keypoints(keypoints, (0.5, 0.5), 2, min_scale=0.05), [2, 0]
    )
    np.testing.assert_array_equal(manipulation.nearest_keypoints(keypoints, (0.5, 0.5)), [1])
    with pytest.raises(ValueError, match="3 keypoints have mu >= min_scale=0.5; 4 were"):
        manipulation.nearest_keypoints(keypoints, (0, 0), 4, min_scale=0.5)


def test_match_objects_finds_the_keypoint_that_follows_each_object():
    rng = np.random.default_rng(0)
    positions = rng.uniform(-1, 1, (3, 5, 2, 2)).astype(np.float32)  # [S, T, N=2, 2]
    positions[0, :, 1] = np.nan  # Object 1 is absent from sequence 0.
    keypoints = rng.uniform(-1, 1, (3, 5, 4, 3)).astype(np.float32)
    keypoints[..., 2] = rng.uniform(0.5, 1.0, keypoints.shape[:-1])
    keypoints[:, :, 3, :2] = positions[:, :, 0] + 0.01  # Keypoint 3 follows object 0,
    keypoints[1:, :, 1, :2] = positions[1:, :, 1] - 0.01  # keypoint 1 object 1.
    np.testing.assert_array_equal(manipulation.match_objects(keypoints, positions), [3, 1])
    keypoints[..., 1, 2] = 0.01  # Inactive: no candidate when min_scale is higher.
    np.testing.assert_array_equal(manipulation.match_objects(keypoints, positions, 0.02)[0], 3)
    assert manipulation.match_objects(keypoints, positions, 0.02)[1] != 1
    positions[:, :, 1] = np.nan
    np.testing.assert_array_equal(manipulation.match_objects(keypoints, positions), [3, -1])
    with pytest.raises(ValueError, match=r"positions must have shape \[num_seqs, time, N, 2\]"):
        manipulation.match_objects(keypoints, positions[:, :4])


def test_translate_and_follow_path_move_only_the_chosen_keypoints():
    keypoints = np.random.default_rng(1).uniform(-1, 1, (2, 3, 4, 3)).astype(np.float32)
    moved = manipulation.translate(keypoints, [1, 3], (0.2, -0.1))
    np.testing.assert_allclose(
        moved - keypoints,
        np.broadcast_to(np.array([0, 1, 0, 1])[:, None] * [0.2, -0.1, 0.0], keypoints.shape),
        atol=1e-6,
    )
    steps = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.1]])
    moved = manipulation.translate(keypoints, [2], steps)
    np.testing.assert_allclose(
        moved[:, :, 2, :2] - keypoints[:, :, 2, :2], np.broadcast_to(steps, (2, 3, 2)), atol=1e-6
    )
    path = np.array([[0.5, 0.5], [0.4, 0.5], [0.3, 0.5]])
    moved = manipulation.follow_path(keypoints, [0, 1], path)
    np.testing.assert_allclose(
        moved[:, :, [0, 1], :2].mean(axis=2), np.broadcast_to(path, (2, 3, 2)), atol=1e-6
    )
    np.testing.assert_allclose(  # The two keep their arrangement.
        moved[:, :, 0, :2] - moved[:, :, 1, :2],
        keypoints[:, :, 0, :2] - keypoints[:, :, 1, :2],
        atol=1e-6,
    )
    np.testing.assert_array_equal(moved[:, :, 2:], keypoints[:, :, 2:])
    with pytest.raises(ValueError, match=r"keypoint indices must be in \[0, 3\], got \[4\]"):
        manipulation.translate(keypoints, [4], (0, 0))
    with pytest.raises(ValueError, match=r"offset must have shape \[2\] or \[time, 2\] = \[3, 2\]"):
        manipulation.translate(keypoints, [0], np.zeros((2, 2)))


@pytest.fixture(scope="module")
def loaded_export(tiny_export):
    model, path, cfg = tiny_export(3, 2)  # Shared with test_collection.py and test_evaluate.py.
    return model, tf.saved_model.load(path), cfg


def test_counterfactual_shares_the_samples_and_differs_by_the_move(loaded_export):
    _, loaded, cfg = loaded_export
    observed = np.random.default_rng(2).uniform(-0.6, 0.6, (2, 3, cfg.num_keypoints, 3))
    observed = observed.astype(np.float32)
    moved = manipulation.translate(observed, [0], (0.3, 0.0))
    result = manipulation.counterfactual(loaded, observed, moved, 3, seed=(5, 0))
    expected = rollouts.predict(loaded, tf.constant(observed), 3, tf.constant([5, 0]))
    np.testing.assert_array_equal(result["original"], expected["keypoints"].numpy())
    assert result["manipulated"].shape == (2, 3, 5, cfg.num_keypoints, 3)
    assert np.abs(result["manipulated"] - result["original"]).max() > 1e-3
    unmoved = manipulation.counterfactual(loaded, observed, observed, 3, seed=(5, 0))
    np.testing.assert_array_equal(unmoved["manipulated"], unmoved["original"])


def test_render_and_detect_match_the_in_process_model(loaded_export):
    model, loaded, cfg = loaded_export
    frames = np.random.default_rng(3).uniform(0, 1, (2, 3, cfg.image_size, cfg.image_size, 3))
    frames = frames.astype(np.float32)
    detected = manipulation.detect(loaded, frames)
    np.testing.assert_allclose(detected, model.detect(frames).numpy(), atol=1e-5)
    samples = np.stack([detected, manipulation.translate(detected, [1], (0.2, 0.2))], axis=1)
    rendered = manipulation.render(loaded, samples, frames[:, 0], detected[:, 0])
    assert rendered.shape == (2, 2, 3, cfg.image_size, cfg.image_size, 3)
    expected = model.reconstruct(tf.constant(samples), frames[:, 0], detected[:, 0]).numpy()
    np.testing.assert_allclose(rendered, expected, atol=1e-4)
    assert np.abs(rendered[:, 1] - rendered[:, 0]).max() > 1e-3
