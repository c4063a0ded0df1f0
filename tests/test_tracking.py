"""Tests for video_structure.downstream.tracking."""

import numpy as np
import pytest

from video_structure.downstream import regression, tracking


def _linear_task(num_seqs, num_samples, num_steps, num_keypoints, num_objects, seed):
    """Keypoints moving linearly in time; positions an exact linear map of them.

    All samples are identical, so positions (per sequence) are exactly linear in
    the keypoints of every sample.
    """
    rng = np.random.default_rng(seed)
    start = rng.uniform(-0.5, 0.5, (num_seqs, 1, 1, num_keypoints, 3))
    velocity = rng.uniform(-0.1, 0.1, (num_seqs, 1, 1, num_keypoints, 3))
    time = np.arange(num_steps)[None, None, :, None, None]
    keypoints = np.repeat(start + velocity * time, num_samples, axis=1)
    weights = rng.normal(size=(num_keypoints * 3 + 1, num_objects * 2))
    flat = keypoints[:, 0].reshape(num_seqs, num_steps, -1)
    positions = (flat @ weights[:-1] + weights[-1]).reshape(num_seqs, num_steps, num_objects, 2)
    return keypoints.astype(np.float32), positions.astype(np.float32), weights


def test_regression_recovers_exact_linear_map():
    keypoints, positions, weights = _linear_task(
        num_seqs=30, num_samples=2, num_steps=10, num_keypoints=4, num_objects=3, seed=0
    )
    result = tracking.coordinate_regression(
        keypoints[:20],
        positions[:20],
        keypoints[20:],
        positions[20:],
        num_observed_steps=4,
        ridge=1e-9,
    )
    np.testing.assert_allclose(result.regressor.weights, weights, atol=1e-3)
    assert result.errors.per_step.shape == (10,)
    assert result.errors.per_object.shape == (10, 3)
    np.testing.assert_allclose(result.errors.per_step, 0.0, atol=1e-4)


def test_regression_is_fitted_on_detected_keypoints_not_on_noisy_samples():
    # Samples scatter around exact detections. Fitted on the detections the map
    # is exact; fitted on the samples, least squares on noisy inputs shrinks it.
    keypoints, positions, weights = _linear_task(
        num_seqs=40, num_samples=1, num_steps=8, num_keypoints=2, num_objects=1, seed=2
    )
    detected = keypoints[:, 0]  # [num_seqs, time, K, 3]
    rng = np.random.default_rng(3)
    samples = detected[:, None] + rng.normal(0.0, 0.2, (40, 20) + detected.shape[1:])
    on_detected = tracking.coordinate_regression(
        detected[:30], positions[:30], samples[30:], positions[30:], 4, ridge=1e-9
    )
    on_samples = tracking.coordinate_regression(
        samples[:30], positions[:30], samples[30:], positions[30:], 4, ridge=1e-9
    )
    np.testing.assert_allclose(on_detected.regressor.weights, weights, atol=1e-3)
    # Oracle of the samples fit: least squares over every (sequence, sample, step).
    features = samples[:30].reshape(-1, 6).astype(np.float64)
    targets = np.repeat(positions[:30, None], 20, axis=1).reshape(-1, 2)
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    oracle = np.linalg.lstsq(design, targets, rcond=None)[0]
    np.testing.assert_allclose(on_samples.regressor.weights, oracle, rtol=1e-4, atol=1e-6)
    # Shrunk: predictions on the exact detections vary less than the positions.
    fitted_spread = np.std(on_samples.regressor.predict(detected[:30]))
    assert fitted_spread < 0.9 * np.std(positions[:30])
    np.testing.assert_allclose(
        np.std(on_detected.regressor.predict(detected[:30])), np.std(positions[:30]), rtol=1e-4
    )


def test_last_observed_baseline_holds_the_detected_keypoints():
    keypoints, positions, weights = _linear_task(
        num_seqs=30, num_samples=1, num_steps=10, num_keypoints=4, num_objects=3, seed=0
    )
    detected = keypoints[:, 0]  # [num_seqs, time, K, 3]
    regressor = regression.fit_coordinate_regressor(detected[:20], positions[:20], ridge=1e-9)
    np.testing.assert_allclose(regressor.weights, weights, atol=1e-3)
    errors = tracking.last_observed_baseline(
        regressor, detected[20:], positions[20:], num_observed_steps=4
    )
    assert errors.per_sequence.shape == (10, 10, 3) and np.all(errors.best_sample == 0)
    # Exact while observed; afterwards the error of holding step 3.
    held = positions[20:, 3:4]  # [10, 1, N, 2]
    expected = np.linalg.norm(positions[20:] - held, axis=-1)[:, 4:]  # [10, 6, N]
    np.testing.assert_allclose(errors.per_step[:4], 0.0, atol=1e-4)
    np.testing.assert_allclose(errors.per_step[4:], expected.mean(axis=(0, 2)), atol=1e-4)
    assert np.all(np.diff(errors.per_step[3:]) > 0)
    with pytest.raises(ValueError, match=r"keypoints must have shape \[num_seqs, time, K"):
        tracking.last_observed_baseline(regressor, keypoints[20:], positions[20:], 4)


def test_regression_masks_missing_objects():
    keypoints, positions, weights = _linear_task(
        num_seqs=40, num_samples=1, num_steps=6, num_keypoints=3, num_objects=2, seed=1
    )
    corrupted = positions.copy()
    # Object 1 is missing at every other step; unmasked NaN would poison the
    # fit and the error means.
    corrupted[:, ::2, 1] = np.nan
    result = tracking.coordinate_regression(
        keypoints[:30],
        corrupted[:30],
        keypoints[30:],
        corrupted[30:],
        num_observed_steps=3,
        ridge=1e-9,
    )
    np.testing.assert_allclose(result.regressor.weights, weights, atol=1e-3)
    assert np.all(np.isnan(result.errors.per_object[::2, 1]))
    np.testing.assert_allclose(result.errors.per_step, 0.0, atol=1e-4)
    np.testing.assert_allclose(result.errors.per_object[1::2], 0.0, atol=1e-4)


def test_detection_fit_scores_r_squared_about_each_objects_mean():
    regressor = _identity_regressor(2)
    rng = np.random.default_rng(4)
    positions = rng.uniform(-1, 1, (5, 4, 2, 2)).astype(np.float32)
    positions[1, 2, 1] = np.nan  # a missing object is left out
    keypoints = np.concatenate([np.nan_to_num(positions), np.ones((5, 4, 2, 1))], axis=-1)
    exact = tracking.detection_fit(regressor, keypoints, positions)
    assert exact.r_squared == pytest.approx(1.0) and exact.mean_error == pytest.approx(0.0)
    # Oracle: keypoints still at each object's mean score 0; halfway, 1 - 1/4.
    present = ~np.isnan(positions[..., 0])
    means = np.array([positions[:, :, n][present[:, :, n]].mean(axis=0) for n in range(2)])
    for shrink, expected in ((1.0, 0.0), (0.5, 0.75)):
        moved = np.where(present[..., None], means + (1 - shrink) * (positions - means), 0.0)
        fit = tracking.detection_fit(
            regressor, np.concatenate([moved, keypoints[..., 2:]], axis=-1), positions
        )
        assert fit.r_squared == pytest.approx(expected, abs=1e-6)
        error = np.linalg.norm(shrink * (positions - means), axis=-1)[present].mean()
        assert fit.mean_error == pytest.approx(error, rel=1e-5)
    with pytest.raises(ValueError, match="no present object"):
        tracking.detection_fit(regressor, keypoints, np.full_like(positions, np.nan))


def _identity_regressor(num_objects):
    """Maps (x, y) of keypoint n to object n."""
    weights = np.zeros((num_objects * 3 + 1, num_objects * 2))
    for n in range(num_objects):
        weights[3 * n, 2 * n] = 1.0
        weights[3 * n + 1, 2 * n + 1] = 1.0
    return regression.CoordinateRegressor(weights=weights)


def test_best_of_samples_selection_per_sequence_and_per_object():
    # One sequence, 2 samples, 2 objects, 1 observed + 2 predicted steps.
    # Sample 0: object 0 exact, object 1 off by 3 -> mean 1.5.
    # Sample 1: both objects off by 1 -> mean 1.0.
    positions = np.zeros((1, 3, 2, 2), np.float32)
    keypoints = np.zeros((1, 2, 3, 2, 3), np.float32)
    keypoints[0, 0, 1:, 1, 0] = 3.0
    keypoints[0, 1, 1:, :, 1] = 1.0
    regressor = _identity_regressor(2)
    per_sequence = tracking.trajectory_errors(
        regressor,
        keypoints,
        positions,
        num_observed_steps=1,
        selection=tracking.SELECT_PER_SEQUENCE,
    )
    per_object = tracking.trajectory_errors(
        regressor,
        keypoints,
        positions,
        num_observed_steps=1,
        selection=tracking.SELECT_PER_OBJECT,
    )
    np.testing.assert_array_equal(per_sequence.best_sample, [[1, 1]])
    np.testing.assert_array_equal(per_object.best_sample, [[0, 1]])
    np.testing.assert_allclose(per_sequence.per_step, [0.0, 1.0, 1.0])
    np.testing.assert_allclose(per_object.per_step, [0.0, 0.5, 0.5])
    np.testing.assert_allclose(per_object.per_object, [[0, 0], [0, 1], [0, 1]])
    assert per_sequence.mean_predicted_error == pytest.approx(1.0)


def test_select_best_samples_ignores_observed_steps_and_nan():
    errors = np.array(
        [
            [
                [[0.0], [5.0], [5.0]],  # sample 0: bad future
                [[9.0], [1.0], [np.nan]],  # sample 1: best future
                [[0.0], [2.0], [2.0]],
            ],
            [
                [[1.0], [np.nan], [np.nan]],  # all NaN -> never best
                [[1.0], [4.0], [4.0]],
                [[1.0], [3.0], [0.5]],
            ],
        ],
        np.float32,
    )  # [2, 3, 3, 1]
    for selection in tracking._SELECTIONS:
        best = tracking.select_best_samples(errors, 1, selection)
        np.testing.assert_array_equal(best, [[1], [2]])


_KEYPOINTS = np.zeros((4, 2, 6, 3, 3), np.float32)
_POSITIONS = np.zeros((4, 6, 2, 2), np.float32)


def _nan_keypoints():
    keypoints = _KEYPOINTS.copy()
    keypoints[1, 0, 2, 0, 0] = np.nan
    return keypoints


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: tracking.coordinate_regression(
                _KEYPOINTS, _POSITIONS[:3], _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            r"train_keypoints \(shape \(4, 2, 6, 3, 3\)\).*"
            r"train_positions \(shape \(3, 6, 2, 2\)\): 4 vs 3",
        ),
        (
            lambda: tracking.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS[:, :, :5], _POSITIONS[:, :5], 2
            ),
            ValueError,
            "Number of time steps differs.*6 vs 5",
        ),
        (
            lambda: tracking.coordinate_regression(
                _nan_keypoints(), _POSITIONS, _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            "train_keypoints contains NaN",
        ),
        (
            lambda: tracking.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS, _POSITIONS, 6
            ),
            ValueError,
            r"num_observed_steps must be in .* = \[1, 5\].*got 6",
        ),
        (
            lambda: tracking.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS, _POSITIONS, 2, selection="best"
            ),
            ValueError,
            "selection must be one of",
        ),
        (
            lambda: tracking.coordinate_regression(
                _KEYPOINTS, np.full_like(_POSITIONS, np.nan), _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            "Object 0 is NaN at every step",
        ),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()
