"""Tests for video_structure.downstream.diversity."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_EXPORT_CONFIG

from video_structure import config
from video_structure import model as model_lib
from video_structure.downstream import diversity


def _oracle(keypoints, num_observed_steps):
    """The mean pairwise distance, one sequence, pair, step and keypoint at a time."""
    num_seqs, num_samples, num_steps, num_keypoints = keypoints.shape[:4]
    per_sequence = []
    for s in range(num_seqs):
        distances = [
            np.hypot(*(keypoints[s, i, t, k, :2] - keypoints[s, j, t, k, :2]))
            for i, j in itertools.combinations(range(num_samples), 2)
            for t in range(num_observed_steps, num_steps)
            for k in range(num_keypoints)
        ]
        per_sequence.append(np.mean(distances))
    return np.array(per_sequence)


@pytest.mark.parametrize("num_samples, num_observed_steps", [(2, 1), (4, 3), (5, 0)])
def test_sample_diversity_matches_the_oracle(num_samples, num_observed_steps):
    keypoints = np.random.default_rng(num_samples).uniform(-1, 1, (3, num_samples, 6, 4, 3))
    result = diversity.sample_diversity(keypoints, num_observed_steps)
    expected = _oracle(keypoints, num_observed_steps)
    np.testing.assert_allclose(result.per_sequence, expected, rtol=1e-6)
    assert result.mean == pytest.approx(expected.mean(), rel=1e-6)
    assert result.per_step.shape == (6 - num_observed_steps,)
    assert result.per_step.mean() == pytest.approx(expected.mean(), rel=1e-6)


def test_sample_diversity_ignores_observed_steps_and_scales():
    keypoints = np.zeros((1, 2, 4, 1, 3), np.float32)
    keypoints[0, 1, :2] = 5.0  # Observed steps apart, and different scales mu throughout.
    keypoints[0, 1, 2:, 0, 0] = 0.3  # Predicted steps 0.3 apart in x.
    keypoints[0, 1, :, 0, 2] = 0.9
    result = diversity.sample_diversity(keypoints, num_observed_steps=2)
    assert result.mean == pytest.approx(0.3)
    np.testing.assert_allclose(result.per_step, [0.3, 0.3], rtol=1e-6)


@pytest.mark.parametrize(
    "shape, observed, message",
    [
        ((2, 1, 4, 3, 3), 2, "1 sample per sequence"),
        ((2, 3, 4, 3, 3), 4, r"num_observed_steps must be in \[0, 3\]"),
        ((2, 3, 4, 3), 2, "keypoints must have shape"),
    ],
)
def test_sample_diversity_rejects_bad_input(shape, observed, message):
    with pytest.raises(ValueError, match=message):
        diversity.sample_diversity(np.zeros(shape), observed)


@pytest.mark.parametrize("variant, diverse", [("struct_rnn", False), ("struct_vrnn", True)])
def test_struct_rnn_has_no_diversity_by_construction(variant, diverse):
    # Struct-RNN's belief is deterministic (config.VARIANTS): all N samples of a
    # sequence are one future, whatever the seed; Struct-VRNN's are not, so the
    # test can fail.
    cfg = config.get_preset(
        "synthetic", variant, observed_steps=3, predicted_steps=2, **TINY_EXPORT_CONFIG
    )
    model = model_lib.StructVRNN(cfg)
    observed = np.random.default_rng(0).uniform(-0.8, 0.8, (3, 3, cfg.num_keypoints, 3))
    keypoints = model.predict_keypoints(
        tf.constant(observed, tf.float32), 4, cfg.predicted_steps, tf.constant([7, 1])
    )["keypoints"].numpy()
    result = diversity.sample_diversity(keypoints, cfg.observed_steps)
    assert (result.mean > 1e-4) if diverse else (result.mean == 0.0)
