"""Tests for video_structure.downstream."""

import numpy as np
import pytest

from video_structure import downstream


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
    result = downstream.coordinate_regression(
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
    on_detected = downstream.coordinate_regression(
        detected[:30], positions[:30], samples[30:], positions[30:], 4, ridge=1e-9
    )
    on_samples = downstream.coordinate_regression(
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
    regressor = downstream.fit_coordinate_regressor(detected[:20], positions[:20], ridge=1e-9)
    np.testing.assert_allclose(regressor.weights, weights, atol=1e-3)
    errors = downstream.last_observed_baseline(
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
        downstream.last_observed_baseline(regressor, keypoints[20:], positions[20:], 4)


def test_regression_masks_missing_objects():
    keypoints, positions, weights = _linear_task(
        num_seqs=40, num_samples=1, num_steps=6, num_keypoints=3, num_objects=2, seed=1
    )
    corrupted = positions.copy()
    # Object 1 is missing at every other step; unmasked NaN would poison the
    # fit and the error means.
    corrupted[:, ::2, 1] = np.nan
    result = downstream.coordinate_regression(
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
    exact = downstream.detection_fit(regressor, keypoints, positions)
    assert exact.r_squared == pytest.approx(1.0) and exact.mean_error == pytest.approx(0.0)
    # Oracle: keypoints still at each object's mean score 0; halfway, 1 - 1/4.
    present = ~np.isnan(positions[..., 0])
    means = np.array([positions[:, :, n][present[:, :, n]].mean(axis=0) for n in range(2)])
    for shrink, expected in ((1.0, 0.0), (0.5, 0.75)):
        moved = np.where(present[..., None], means + (1 - shrink) * (positions - means), 0.0)
        fit = downstream.detection_fit(
            regressor, np.concatenate([moved, keypoints[..., 2:]], axis=-1), positions
        )
        assert fit.r_squared == pytest.approx(expected, abs=1e-6)
        error = np.linalg.norm(shrink * (positions - means), axis=-1)[present].mean()
        assert fit.mean_error == pytest.approx(error, rel=1e-5)
    with pytest.raises(ValueError, match="no present object"):
        downstream.detection_fit(regressor, keypoints, np.full_like(positions, np.nan))


def _identity_regressor(num_objects):
    """Maps (x, y) of keypoint n to object n."""
    weights = np.zeros((num_objects * 3 + 1, num_objects * 2))
    for n in range(num_objects):
        weights[3 * n, 2 * n] = 1.0
        weights[3 * n + 1, 2 * n + 1] = 1.0
    return downstream.CoordinateRegressor(weights=weights)


def test_best_of_samples_selection_per_sequence_and_per_object():
    # One sequence, 2 samples, 2 objects, 1 observed + 2 predicted steps.
    # Sample 0: object 0 exact, object 1 off by 3 -> mean 1.5.
    # Sample 1: both objects off by 1 -> mean 1.0.
    positions = np.zeros((1, 3, 2, 2), np.float32)
    keypoints = np.zeros((1, 2, 3, 2, 3), np.float32)
    keypoints[0, 0, 1:, 1, 0] = 3.0
    keypoints[0, 1, 1:, :, 1] = 1.0
    regressor = _identity_regressor(2)
    per_sequence = downstream.trajectory_errors(
        regressor,
        keypoints,
        positions,
        num_observed_steps=1,
        selection=downstream.SELECT_PER_SEQUENCE,
    )
    per_object = downstream.trajectory_errors(
        regressor,
        keypoints,
        positions,
        num_observed_steps=1,
        selection=downstream.SELECT_PER_OBJECT,
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
    for selection in downstream._SELECTIONS:
        best = downstream.select_best_samples(errors, 1, selection)
        np.testing.assert_array_equal(best, [[1], [2]])


def _reward_task(num_seqs, num_steps, hidden_size, seed):
    rng = np.random.default_rng(seed)
    hidden = rng.uniform(-1, 1, (num_seqs, num_steps, hidden_size))
    rewards = np.maximum(hidden[..., 0], 0.0) + 0.5 * hidden[..., 1] ** 2
    return hidden.astype(np.float32), rewards.astype(np.float32)


def test_normalized_mse_of_null_model_is_one():
    targets = np.array([[0.0, 1.0], [2.0, 3.0]])
    mse, null_mse, normalized = downstream.normalized_mse(
        np.full_like(targets, 0.5), targets, null_prediction=0.5
    )
    np.testing.assert_allclose(normalized, 1.0)
    np.testing.assert_allclose(null_mse, [(0.25 + 2.25) / 2, (0.25 + 6.25) / 2])
    np.testing.assert_allclose(mse, null_mse)
    _, _, perfect = downstream.normalized_mse(targets, targets, 0.5)
    np.testing.assert_allclose(perfect, 0.0)


def test_reward_prediction_learns_function_of_hidden_state():
    hidden, rewards = _reward_task(num_seqs=180, num_steps=6, hidden_size=4, seed=0)
    domains = np.repeat([3, 7], [160, 20]).astype(np.int32)
    results = downstream.reward_prediction(
        hidden, rewards, domains, epochs=40, batch_size=16, units=32, seed=0
    )
    assert list(results) == [3, 7]
    assert (results[3].num_train, results[3].num_test) == (128, 32)
    assert (results[7].num_train, results[7].num_test) == (16, 4)
    result = results[3]
    assert result.normalized_mse_per_step.shape == (6,)
    assert result.normalized_mse < 0.3
    assert result.normalized_mse == pytest.approx(result.mse / result.null_mse)
    assert result.train_mean_reward == pytest.approx(
        np.mean(rewards[:160][downstream.split_indices(160, 0.8, 0)[0]])
    )


def test_split_indices_is_deterministic_and_disjoint():
    train, test = downstream.split_indices(10, 0.8, seed=5)
    again, _ = downstream.split_indices(10, 0.8, seed=5)
    other, _ = downstream.split_indices(10, 0.8, seed=6)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    assert (len(train), len(test)) == (8, 2)
    np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(10))


def _motion_dataset(counts, num_steps, seed):
    """Three points per sequence that circle (0), translate (1) or stay (2)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), counts)
    time = np.arange(num_steps)[:, None]
    positions = []
    for label in labels:
        centre = rng.uniform(-0.3, 0.3, (1, 3, 2))
        if label == 0:
            phase = rng.uniform(0, 2 * np.pi, 3) + 0.6 * time  # [time, 3]
            offset = 0.3 * np.stack([np.cos(phase), np.sin(phase)], axis=-1)
        elif label == 1:
            angle = rng.uniform(0, 2 * np.pi)
            velocity = 0.12 * np.array([np.cos(angle), np.sin(angle)])
            offset = np.broadcast_to((time * velocity)[:, None], (num_steps, 3, 2))
        else:
            offset = np.zeros((num_steps, 3, 2))
        positions.append(centre + offset + rng.normal(0, 0.01, (num_steps, 3, 2)))
    positions = np.asarray(positions, np.float32)  # [num_seqs, time, 3, 2]
    mu = np.ones(positions.shape[:-1] + (1,), np.float32)
    keypoints = np.concatenate([positions, mu], axis=-1)
    order = rng.permutation(len(labels))
    return keypoints[order], positions[order], labels[order].astype(np.int32)


def test_action_recognition_well_above_null():
    keypoints, positions, labels = _motion_dataset([40, 30, 20], num_steps=10, seed=0)
    test_keypoints, test_positions, test_labels = _motion_dataset(
        [10, 10, 10], num_steps=10, seed=1
    )
    result = downstream.action_recognition(
        keypoints,
        labels,
        test_keypoints,
        test_labels,
        train_positions=positions,
        test_positions=test_positions,
        epochs=30,
        batch_size=16,
        seed=0,
    )
    assert result.num_classes == 3
    assert result.null_class == 0
    assert result.null_accuracy == pytest.approx(1 / 3)
    assert result.accuracy > 0.75
    assert result.ground_truth_accuracy > 0.75


def test_load_human36m_sequences(tmp_path):
    image = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    positions = np.zeros((2, 12, 2), np.float32)
    positions[1, 3] = np.nan  # Joint 3 missing from frame 1.
    np.savez(tmp_path / "b.npz", image=image, action_label=np.int32(4))
    np.savez(tmp_path / "a.npz", image=image, action_label=np.int64(14), true_object_pos=positions)
    (tmp_path / "notes.txt").write_text("ignored")
    sequences = downstream.load_human36m_sequences(str(tmp_path))
    assert [s.name for s in sequences] == ["a", "b"]
    assert [s.action_label for s in sequences] == [14, 4]
    np.testing.assert_array_equal(sequences[0].positions, positions)
    assert sequences[1].positions is None
    np.testing.assert_array_equal(sequences[1].image, image)


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(image=np.zeros((2, 4, 4, 3), np.uint8)), "lacks.*'action_label'"),
        (dict(image=np.zeros((2, 4, 4, 3), np.uint8), action_label=1.0), "one integer"),
        (dict(image=np.zeros((2, 4, 4, 3), np.float32), action_label=1), "image must be uint8"),
        (
            dict(image=np.zeros((2, 4, 4, 3), np.uint8), action_label=15),
            r"action_label must be one integer in \[0, 15\)",
        ),
        (
            dict(
                image=np.zeros((2, 4, 4, 3), np.uint8),
                action_label=1,
                true_object_pos=np.zeros((3, 5, 2)),
            ),
            r"T = 2",
        ),
        (
            dict(
                image=np.zeros((2, 4, 4, 3), np.uint8),
                action_label=1,
                true_object_pos=np.full((2, 5, 2), np.inf),
            ),
            "infinite",
        ),
    ],
)
def test_load_human36m_sequences_rejects_bad_files(tmp_path, arrays, match):
    np.savez(tmp_path / "seq.npz", **arrays)
    with pytest.raises(ValueError, match=match) as error:
        downstream.load_human36m_sequences(str(tmp_path))
    assert "seq.npz" in str(error.value)


def test_load_human36m_sequences_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        downstream.load_human36m_sequences(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="No .npz files"):
        downstream.load_human36m_sequences(str(tmp_path))
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="broken.npz"):
        downstream.load_human36m_sequences(str(tmp_path))


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
            lambda: downstream.coordinate_regression(
                _KEYPOINTS, _POSITIONS[:3], _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            r"train_keypoints \(shape \(4, 2, 6, 3, 3\)\).*"
            r"train_positions \(shape \(3, 6, 2, 2\)\): 4 vs 3",
        ),
        (
            lambda: downstream.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS[:, :, :5], _POSITIONS[:, :5], 2
            ),
            ValueError,
            "Number of time steps differs.*6 vs 5",
        ),
        (
            lambda: downstream.coordinate_regression(
                _nan_keypoints(), _POSITIONS, _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            "train_keypoints contains NaN",
        ),
        (
            lambda: downstream.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS, _POSITIONS, 6
            ),
            ValueError,
            r"num_observed_steps must be in .* = \[1, 5\].*got 6",
        ),
        (
            lambda: downstream.coordinate_regression(
                _KEYPOINTS, _POSITIONS, _KEYPOINTS, _POSITIONS, 2, selection="best"
            ),
            ValueError,
            "selection must be one of",
        ),
        (
            lambda: downstream.coordinate_regression(
                _KEYPOINTS, np.full_like(_POSITIONS, np.nan), _KEYPOINTS, _POSITIONS, 2
            ),
            ValueError,
            "Object 0 is NaN at every step",
        ),
        (
            lambda: downstream.fit_coordinate_regressor(_KEYPOINTS[:0], _POSITIONS[:0]),
            ValueError,
            "at least one sequence",
        ),
        (
            lambda: downstream.fit_coordinate_regressor(_KEYPOINTS[..., :2], _POSITIONS),
            ValueError,
            r"3 channels, got shape \(4, 2, 6, 3, 2\)",
        ),
        (
            lambda: downstream.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 7)), np.zeros(5, np.int32)
            ),
            ValueError,
            r"hidden_states \(shape \(5, 6, 4\)\) and rewards",
        ),
        (
            lambda: downstream.reward_prediction(
                np.zeros((5, 6, 4)), np.full((5, 6), np.nan), np.zeros(5, np.int32)
            ),
            ValueError,
            "rewards contains NaN",
        ),
        (
            lambda: downstream.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 6)), np.array([0, 0, 0, 0, 1])
            ),
            ValueError,
            "Domain 1 has 1 sequence",
        ),
        (
            lambda: downstream.reward_prediction(
                np.zeros((1, 6, 4)), np.zeros((1, 6)), np.zeros(1, np.int32)
            ),
            ValueError,
            r"at least 2 sequences.*shape \(1, 6, 4\)",
        ),
        (
            lambda: downstream.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 6)), np.zeros(4, np.int32)
            ),
            ValueError,
            "domains has 4 entries but hidden_states has 5",
        ),
        (
            lambda: downstream.action_recognition(
                np.zeros((4, 8, 3, 3)),
                np.array([0, 1, 2, 3]),
                np.zeros((2, 8, 3, 3)),
                np.array([0, 4]),
                num_classes=4,
            ),
            ValueError,
            r"test_labels must lie in \[0, 4\)",
        ),
        (
            lambda: downstream.action_recognition(
                np.zeros((4, 5, 3, 3)),
                np.zeros(4, np.int32),
                np.zeros((2, 5, 3, 3)),
                np.zeros(2, np.int32),
            ),
            ValueError,
            "train_keypoints has 5 time steps",
        ),
        (
            lambda: downstream.action_recognition(
                np.zeros((4, 8, 3, 3)),
                np.zeros(4, np.int32),
                np.zeros((2, 8, 4, 3)),
                np.zeros(2, np.int32),
            ),
            ValueError,
            "Number of features per step differs.*9 vs 12",
        ),
        (
            lambda: downstream.action_recognition(
                np.zeros((4, 8, 3, 3)),
                np.zeros(4, np.int32),
                np.zeros((2, 8, 3, 3)),
                np.zeros(2, np.int32),
                train_positions=np.zeros((4, 8, 2, 2)),
            ),
            ValueError,
            "both train_positions and test_positions",
        ),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_reward_prediction_is_deterministic_given_seed():
    hidden, rewards = _reward_task(num_seqs=20, num_steps=4, hidden_size=3, seed=2)
    domains = np.zeros(20, np.int32)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    runs = [
        downstream.reward_prediction(
            hidden, rewards, domains, epochs=2, batch_size=8, units=8, seed=seed
        )[0].mse
        for seed in (1, 1, 2)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    # The seed is the task's own: global generators are neither reseeded nor used.
    assert np.random.random() == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reward_prediction_keeps_each_group_on_one_side_of_the_split(seed):
    # Groups of sizes 1, 1, 1, 1, 6 (say, windows of five episodes): 80% of the
    # groups is 4 of them, so the test side holds exactly one whole group.
    hidden, rewards = _reward_task(num_seqs=10, num_steps=3, hidden_size=3, seed=0)
    groups = np.array([0, 1, 2, 3, 4, 4, 4, 4, 4, 4])
    result = downstream.reward_prediction(
        hidden,
        rewards,
        np.zeros(10, np.int32),
        epochs=1,
        batch_size=4,
        units=4,
        seed=seed,
        groups=groups,
    )[0]
    assert result.num_train + result.num_test == 10
    assert result.num_test in (1, 6)


def test_reward_model_is_dense_two_grus_dense_with_relus_between():
    model = downstream.RewardPredictor(seed=0)
    states = np.random.default_rng(0).normal(size=(2, 5, 7)).astype(np.float32)
    rewards = model(states).numpy()
    assert rewards.shape == (2, 5)
    assert (
        model.input_dense.units,
        model.gru_1.units,
        model.gru_2.units,
        model.output_dense.units,
    ) == (128, 128, 128, 1)
    assert model.gru_1.return_sequences and model.gru_2.return_sequences
    assert model.input_dense.activation.__name__ == "relu"
    assert model.output_dense.activation.__name__ == "linear"
    # A ReLU after each GRU: recomposed by hand, the layers give the model's output.
    first = model.gru_1(model.input_dense(states)).numpy()
    assert np.any(first < 0)  # So the ReLUs matter.
    features = np.maximum(model.gru_2(np.maximum(first, 0.0)), 0.0)
    np.testing.assert_allclose(model.output_dense(features)[..., 0], rewards, atol=1e-6)


def test_action_classifier_is_two_grus_with_dropout_and_a_softmax():
    model = downstream.ActionClassifier(num_classes=5, seed=0)
    features = np.random.default_rng(0).normal(size=(3, 8, 6)).astype(np.float32)
    probabilities = model(features).numpy()
    assert probabilities.shape == (3, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert (model.gru_1.units, model.gru_2.units, model.logits.units) == (128, 128, 5)
    assert (model.dropout_1.rate, model.dropout_2.rate) == (0.25, 0.25)
    assert model.gru_1.return_sequences and not model.gru_2.return_sequences
    # Dropout acts in training only.
    np.testing.assert_array_equal(model(features).numpy(), probabilities)
    assert not np.allclose(model(features, training=True).numpy(), probabilities)


@pytest.mark.parametrize("start,end", [(1e-3, 1e-4), (1e-2, 1e-4)])
def test_task_learning_rates_decay_from_start_to_end_over_training(start, end):
    optimizer = downstream._decaying_adam(start, end, num_examples=100, batch_size=32, epochs=10)

    def rate_at(step):
        optimizer.iterations.assign(step)
        return float(optimizer.learning_rate)

    total = 4 * 10  # ceil(100 / 32) steps per epoch.
    np.testing.assert_allclose(rate_at(0), start, rtol=1e-6)
    np.testing.assert_allclose(rate_at(total), end, rtol=1e-5)
    assert start > rate_at(total // 2) > end
