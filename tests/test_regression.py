"""Tests for video_structure.downstream.regression."""

import numpy as np
import pytest

from video_structure.downstream import regression

_KEYPOINTS = np.zeros((4, 2, 6, 3, 3), np.float32)
_POSITIONS = np.zeros((4, 6, 2, 2), np.float32)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: regression.fit_coordinate_regressor(_KEYPOINTS[:0], _POSITIONS[:0]),
            ValueError,
            "at least one sequence",
        ),
        (
            lambda: regression.fit_coordinate_regressor(_KEYPOINTS[..., :2], _POSITIONS),
            ValueError,
            r"3 channels, got shape \(4, 2, 6, 3, 2\)",
        ),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()
