"""Tests for video_structure.downstream.fitting."""

import numpy as np
import pytest

from video_structure.downstream import fitting


def test_split_indices_is_deterministic_and_disjoint():
    train, test = fitting.split_indices(10, 0.8, seed=5)
    again, _ = fitting.split_indices(10, 0.8, seed=5)
    other, _ = fitting.split_indices(10, 0.8, seed=6)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    assert (len(train), len(test)) == (8, 2)
    np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(10))


@pytest.mark.parametrize("start,end", [(1e-3, 1e-4), (1e-2, 1e-4)])
def test_task_learning_rates_decay_from_start_to_end_over_training(start, end):
    optimizer = fitting.decaying_adam(start, end, num_examples=100, batch_size=32, epochs=10)

    def rate_at(step):
        optimizer.iterations.assign(step)
        return float(optimizer.learning_rate)

    total = 4 * 10  # ceil(100 / 32) steps per epoch.
    np.testing.assert_allclose(rate_at(0), start, rtol=1e-6)
    np.testing.assert_allclose(rate_at(total), end, rtol=1e-5)
    assert start > rate_at(total // 2) > end
