"""Tests for video_structure.downstream.action."""

import numpy as np
import pytest

from video_structure.downstream import action


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


@pytest.mark.slow
def test_action_recognition_well_above_null():
    keypoints, positions, labels = _motion_dataset([40, 30, 20], num_steps=10, seed=0)
    test_keypoints, test_positions, test_labels = _motion_dataset(
        [10, 10, 10], num_steps=10, seed=1
    )
    result = action.action_recognition(
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


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: action.action_recognition(
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
            lambda: action.action_recognition(
                np.zeros((4, 5, 3, 3)),
                np.zeros(4, np.int32),
                np.zeros((2, 5, 3, 3)),
                np.zeros(2, np.int32),
            ),
            ValueError,
            "train_keypoints has 5 time steps",
        ),
        (
            lambda: action.action_recognition(
                np.zeros((4, 8, 3, 3)),
                np.zeros(4, np.int32),
                np.zeros((2, 8, 4, 3)),
                np.zeros(2, np.int32),
            ),
            ValueError,
            "Number of features per step differs.*9 vs 12",
        ),
        (
            lambda: action.action_recognition(
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


def test_action_classifier_is_two_grus_with_dropout_and_a_softmax():
    model = action.ActionClassifier(num_classes=5, seed=0)
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
