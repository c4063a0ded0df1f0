"""statistics: NaN-aware means and 95% intervals against numpy oracles."""

import json
import warnings

import numpy as np
import pytest

from video_structure import statistics


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    # Undefined values must come back as NaN, never as a RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _values():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 4, 3))
    values[0, 1, 2] = values[3, 0, 0] = values[5, 0, 0] = np.nan
    return values


@pytest.mark.parametrize("axis", [0, 1, 2, None, (0, 2)])
def test_nanmean_matches_numpy(axis):
    values = _values()
    np.testing.assert_allclose(statistics.nanmean(values, axis=axis), np.nanmean(values, axis=axis))


def test_nanmean_of_nothing_valid_is_nan():
    values = np.array([[np.nan, 1.0], [np.nan, 3.0]])
    np.testing.assert_array_equal(statistics.nanmean(values, axis=0), [np.nan, 2.0])
    assert np.isnan(statistics.nanmean(np.full(3, np.nan)))
    assert np.isnan(statistics.nanmean(np.zeros(0)))


def test_nanmean_keeps_infinities():
    assert statistics.nanmean(np.array([1.0, np.inf, np.nan])) == np.inf


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_ci95_is_the_normal_approximation_with_ddof_1(axis):
    values = _values()
    mean, half = statistics.nanmean_and_ci95(values, axis=axis)
    count = np.sum(~np.isnan(values), axis=axis)
    expected = 1.96 * np.nanstd(values, axis=axis, ddof=1) / np.sqrt(count)
    np.testing.assert_allclose(mean, np.nanmean(values, axis=axis))
    np.testing.assert_allclose(half, expected)


def test_ci95_of_known_values():
    # Mean 2, sample variance ((1 + 0 + 1) / 2) = 1: half-width 1.96 / sqrt(3).
    mean, half = statistics.nanmean_and_ci95(np.array([1.0, 2.0, 3.0, np.nan]))
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(1.96 / np.sqrt(3))


def test_ci95_needs_two_values():
    values = np.array([[1.0, np.nan, np.nan], [np.nan, np.nan, 4.0], [2.0, np.nan, np.nan]])
    mean, half = statistics.nanmean_and_ci95(values, axis=0)
    # Column 0: two values; column 1: none (all NaN); column 2: one (n = 1).
    np.testing.assert_allclose(mean, [1.5, np.nan, 4.0])
    np.testing.assert_allclose(
        half, [1.96 * np.std([1.0, 2.0], ddof=1) / np.sqrt(2), np.nan, np.nan]
    )
    mean, half = statistics.nanmean_and_ci95(np.array([5.0]))
    assert (mean, np.isnan(half)) == (5.0, True)


def test_finite_or_none_for_json():
    assert statistics.finite_or_none(np.float32(0.5)) == 0.5
    assert isinstance(statistics.finite_or_none(np.int64(3)), float)
    for value in (np.nan, np.inf, -np.inf):
        assert statistics.finite_or_none(value) is None
    values = statistics.finite_or_none_list(np.array([[1.0, np.nan], [np.inf, 2.0]], np.float32))
    assert values == [1.0, None, None, 2.0]
    json.dumps(values, allow_nan=False)


def test_mean_or_none_leaves_out_missing_numbers():
    assert statistics.mean_or_none([1.0, None, 3.0, np.nan]) == pytest.approx(2.0)
    assert statistics.mean_or_none([300, 300]) == 300.0
    assert statistics.mean_or_none([]) is None
    assert statistics.mean_or_none([None, None]) is None
    assert statistics.mean_or_none([np.nan]) is None
