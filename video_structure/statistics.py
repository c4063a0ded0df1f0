"""NaN-aware statistics of results: means, their 95% intervals, and numbers for JSON.

NaN marks a value that is missing or undefined (an absent object, a step of a
seed without a number); every function here leaves it out, and returns NaN
without a RuntimeWarning where nothing is left. Pure numpy, so that the
downstream tasks, the report and the tests share one definition.
"""

import math
from collections.abc import Iterable

import numpy as np

# Two-sided 95% quantile of the standard normal distribution.
_Z_95 = 1.96


def nanmean(values: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Mean over `axis` ignoring NaN; NaN where nothing is valid, without warnings.

    Infinities are values, not gaps: they enter the mean.

    Args:
        values: Numeric array-like.
        axis: Axis or axes to average over; None: all.

    Returns:
        float64 array of `values`' shape without `axis` (0-d for axis=None).
    """
    values = np.asarray(values)
    valid = ~np.isnan(values)
    # Summed in the input's dtype: the tracking numbers stay those of before.
    total = np.sum(np.where(valid, values, 0.0), axis=axis)
    count = np.sum(valid, axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


def nanmean_and_ci95(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean ignoring NaN and the half-width of its 95% confidence interval.

    The interval is the normal approximation mean +- 1.96 * s / sqrt(n), with
    n the number of non-NaN values and s their sample standard deviation
    (ddof=1), as evaluate.py's summaries use. For few values (e.g. seeds) it
    is too narrow: a t interval would be 6.5 times wider for n = 2, 2.2
    times for n = 3 and 1.4 times for n = 5.

    Args:
        values: Numeric array-like, e.g. [seeds, time].
        axis: The axis of the samples.

    Returns:
        (mean, half_width), float64 arrays of `values`' shape without `axis`;
        mean is NaN where n = 0, half_width where n < 2.
    """
    values = np.asarray(values)
    mean = nanmean(values, axis=axis)
    valid = ~np.isnan(values)
    count = np.sum(valid, axis=axis)
    deviations = np.where(valid, values - np.expand_dims(mean, axis), 0.0)
    undefined = np.full(np.shape(mean), np.nan)
    variance = np.divide(
        np.sum(deviations**2, axis=axis), count - 1, out=undefined.copy(), where=count > 1
    )
    half_width = np.divide(
        _Z_95 * np.sqrt(variance), np.sqrt(count), out=undefined, where=count > 1
    )
    return mean, half_width


def finite_or_none(value) -> float | None:
    """`value` as a float, or None if it is NaN or infinite (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def finite_or_none_list(values: np.ndarray) -> list[float | None]:
    """The flattened values as floats, None for NaN and infinities (see `finite_or_none`)."""
    return [finite_or_none(value) for value in np.asarray(values).reshape(-1)]


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the given numbers, leaving out None and NaN; None if it is undefined.

    Args:
        values: Numbers, None where a number is missing (e.g. one per seed).

    Returns:
        The mean as a float; None if no number is left or the mean is not
        finite.
    """
    numbers = [np.nan if value is None else value for value in values]
    return finite_or_none(nanmean(np.asarray(numbers, np.float64))) if numbers else None
