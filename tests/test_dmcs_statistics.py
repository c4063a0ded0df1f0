"""Tests for video_structure.data.dmcs.statistics (no TensorFlow in this file)."""

import numpy as np

from video_structure.data import dmcs


def test_motion_statistics_against_numpy():
    rng = np.random.default_rng(0)
    positions = rng.uniform(-1, 1, size=(2, 20, 3, 2))
    positions[:, :, 2] = np.nan  # a body this domain does not have
    rewards = np.zeros((2, 20))
    rewards[1, 10] = 0.5  # varies in the windows of episode 1 that hold step 10
    stats = dmcs.motion_statistics(positions, rewards, window=4)
    moved, varies = [], []
    for e in range(2):
        for start in range(1, 17):
            last = start + 3
            moved.append(
                np.mean(np.linalg.norm(positions[e, last, :2] - positions[e, start, :2], axis=-1))
            )
            varies.append(e == 1 and start <= 10 <= last)
    assert stats["windows"] == 32
    np.testing.assert_allclose(stats["displacement_heatmap_pixels"], np.mean(moved) / 0.125)
    np.testing.assert_allclose(stats["reward_varies"], np.mean(varies))
    np.testing.assert_allclose(stats["reward_mean"], 0.5 / 38)
