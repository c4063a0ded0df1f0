"""Argument checks shared by the downstream tasks: rank, dtype, finiteness, sizes.

Each raises ValueError with the argument's name and shape, so that a caller
passing a wrongly laid-out array learns which one and how.
"""

import numpy as np


def float_array(name, value, layout, allow_nan=False):
    """Returns `value` as float32 after checking its rank and finiteness.

    Args:
        name: Argument name used in error messages.
        value: Array-like input.
        layout: Expected layout, e.g. '[num_seqs, time, H]'; its number of
            comma-separated entries is the required rank.
        allow_nan: Whether NaN entries are allowed (infinities never are).

    Returns:
        float32 numpy array.

    Raises:
        ValueError: On wrong rank, non-numeric dtype, NaN or infinite values.
    """
    array = np.asarray(value)
    ndim = layout.count(",") + 1
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}.")
    array = array.astype(np.float32, copy=False)
    if np.any(np.isinf(array)):
        raise ValueError(f"{name} contains infinite values.")
    if not allow_nan and np.any(np.isnan(array)):
        raise ValueError(f"{name} contains NaN values.")
    return array


def int_array(name, value, length_name, length):
    """Returns `value` as an int64 vector of the given length."""
    array = np.asarray(value)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"{name} must be an integer vector [num_seqs], got shape "
            f"{array.shape} and dtype {array.dtype}."
        )
    if array.shape[0] != length:
        raise ValueError(
            f"{name} has {array.shape[0]} entries but {length_name} has {length} sequences."
        )
    return array.astype(np.int64)


def require_same(what, a, b):
    """Raises unless two sizes agree; `a` and `b` are (argument name, shape, size)."""
    (name_a, shape_a, size_a), (name_b, shape_b, size_b) = a, b
    if size_a != size_b:
        raise ValueError(
            f"{what} differs between {name_a} (shape {shape_a}) and {name_b} "
            f"(shape {shape_b}): {size_a} vs {size_b}."
        )
