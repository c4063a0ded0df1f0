"""The linear map from keypoints to object coordinates of the tracking task (Section 5.2).

`fit_coordinate_regressor` fits a `CoordinateRegressor` by ridge regression.
The checks of keypoints against positions live here too, as both the fit and
the scoring in `downstream.tracking` take such pairs. Layouts as in the
`video_structure.downstream` docstring.
"""

import dataclasses

import numpy as np

from video_structure.downstream import checks

SAMPLES_LAYOUT = "[num_seqs, num_samples, time, K, 3]"
DETECTED_LAYOUT = "[num_seqs, time, K, 3]"

# Bounds the float64 design matrix built at once when fitting or evaluating the
# regression (Basketball: 13,845 sequences x 50 samples x 16 steps).
_MAX_ROWS_PER_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class CoordinateRegressor:
    """Linear map from one time step's keypoints to all object coordinates.

    Attributes:
        weights: float64 [K * 3 + 1, N * 2]. Row 3k + c multiplies channel c
            (x, y, mu) of keypoint k; the last row is the bias. Column 2n + d
            predicts coordinate d (x, y) of object n.
    """

    weights: np.ndarray

    @property
    def num_keypoints(self) -> int:
        return (self.weights.shape[0] - 1) // 3

    @property
    def num_objects(self) -> int:
        return self.weights.shape[1] // 2

    def predict(self, keypoints: np.ndarray) -> np.ndarray:
        """Predicts object coordinates.

        Args:
            keypoints: [..., K, 3] keypoints.

        Returns:
            float32 [..., N, 2] predicted object coordinates.

        Raises:
            ValueError: If the last two dimensions are not [K, 3].
        """
        keypoints = np.asarray(keypoints)
        if keypoints.shape[-2:] != (self.num_keypoints, 3):
            raise ValueError(
                f"keypoints must end in [K, 3] = [{self.num_keypoints}, 3], got "
                f"shape {keypoints.shape}."
            )
        lead = keypoints.shape[:-2]
        features = keypoints.reshape(-1, self.num_keypoints * 3)
        prediction = features.astype(np.float64) @ self.weights[:-1] + self.weights[-1]
        return prediction.astype(np.float32).reshape(lead + (self.num_objects, 2))


def sequence_chunks(num_seqs, rows_per_seq):
    """Slices of whole sequences of at most _MAX_ROWS_PER_CHUNK rows (at least one sequence)."""
    step = max(1, _MAX_ROWS_PER_CHUNK // max(1, rows_per_seq))
    for start in range(0, num_seqs, step):
        yield slice(start, min(num_seqs, start + step))


def check_keypoints_and_positions(keypoints, positions, keypoints_name, positions_name, layout):
    """Returns float32 keypoints of `layout` and positions after checking that they match.

    `layout` is SAMPLES_LAYOUT or DETECTED_LAYOUT; time is the third-last axis.
    """
    keypoints = checks.float_array(keypoints_name, keypoints, layout)
    positions = checks.float_array(
        positions_name, positions, "[num_seqs, time, N, 2]", allow_nan=True
    )
    if keypoints.shape[-1] != 3:
        raise ValueError(
            f"{keypoints_name} must end in (x, y, mu) = 3 channels, got shape {keypoints.shape}."
        )
    if positions.shape[-1] != 2:
        raise ValueError(
            f"{positions_name} must end in (x, y) = 2 coordinates, got shape {positions.shape}."
        )
    checks.require_same(
        "Number of sequences",
        (keypoints_name, keypoints.shape, keypoints.shape[0]),
        (positions_name, positions.shape, positions.shape[0]),
    )
    checks.require_same(
        "Number of time steps",
        (keypoints_name, keypoints.shape, keypoints.shape[-3]),
        (positions_name, positions.shape, positions.shape[1]),
    )
    if min(keypoints.shape[:-3]) < 1:
        raise ValueError(
            f"{keypoints_name} needs at least one sequence (and sample), got shape "
            f"{keypoints.shape}."
        )
    # A half-missing coordinate is a data error, not a missing object.
    if np.any(np.isnan(positions[..., 0]) != np.isnan(positions[..., 1])):
        raise ValueError(f"{positions_name} has objects with only one of x, y set to NaN.")
    return keypoints, positions


def check_fitting_data(keypoints, positions, keypoints_name, positions_name):
    """Checks the training data of a regression; returns it as float32.

    Args:
        keypoints: [num_seqs, time, K, 3] detected or [num_seqs, num_samples,
            time, K, 3] decoded keypoints.
        positions: [num_seqs, time, N, 2].
        keypoints_name: Argument name of `keypoints` in error messages.
        positions_name: Argument name of `positions` in error messages.

    Returns:
        (keypoints [num_seqs, num_samples, time, K, 3], positions): detected
        keypoints become one sample per sequence.
    """
    detected = np.ndim(keypoints) == 4
    keypoints, positions = check_keypoints_and_positions(
        keypoints,
        positions,
        keypoints_name,
        positions_name,
        DETECTED_LAYOUT if detected else SAMPLES_LAYOUT,
    )
    return (keypoints[:, None] if detected else keypoints), positions


def fit_checked(keypoints, positions, ridge):
    """`fit_coordinate_regressor` on the arrays that `check_fitting_data` returned."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}.")
    num_seqs, num_samples, num_steps, num_keypoints, _ = keypoints.shape
    num_objects = positions.shape[2]
    dim = num_keypoints * 3 + 1
    # The Gram matrix of all rows once, minus per object that of its missing
    # rows: the extra work grows with the missing entries, not with one full
    # pass per object.
    gram = np.zeros((dim, dim))
    missing_gram = np.zeros((num_objects, dim, dim))
    cross = np.zeros((dim, num_objects * 2))
    num_valid = np.zeros(num_objects)
    for chunk in sequence_chunks(num_seqs, num_samples * num_steps):
        chunk_keypoints = keypoints[chunk]
        rows = chunk_keypoints.shape[0] * num_samples * num_steps
        features = np.concatenate(
            [chunk_keypoints.reshape(rows, dim - 1).astype(np.float64), np.ones((rows, 1))], axis=1
        )  # [rows, dim]
        targets = np.broadcast_to(
            positions[chunk][:, None],
            (chunk_keypoints.shape[0], num_samples, num_steps, num_objects, 2),
        )
        targets = targets.reshape(rows, num_objects, 2)
        missing = np.isnan(targets[..., 0])  # [rows, N]
        gram += features.T @ features
        cross += features.T @ np.nan_to_num(targets).reshape(rows, -1)
        num_valid += rows - missing.sum(axis=0)
        for n in np.flatnonzero(missing.any(axis=0)):
            missing_features = features[missing[:, n]]
            missing_gram[n] += missing_features.T @ missing_features
    penalty = ridge * np.diag(np.r_[np.ones(dim - 1), 0.0])
    weights = np.zeros((dim, num_objects * 2))
    for n in range(num_objects):
        if num_valid[n] == 0:
            raise ValueError(
                f"Object {n} is NaN at every step of positions (shape "
                f"{positions.shape}); it cannot be regressed."
            )
        lhs = (gram - missing_gram[n]) / num_valid[n] + penalty
        rhs = cross[:, 2 * n : 2 * n + 2] / num_valid[n]
        try:
            weights[:, 2 * n : 2 * n + 2] = np.linalg.solve(lhs, rhs)
        except np.linalg.LinAlgError as error:
            raise ValueError(
                f"Coordinate regression for object {n} is singular with ridge="
                f"{ridge}; use a positive ridge."
            ) from error
    return CoordinateRegressor(weights=weights)


def fit_coordinate_regressor(
    keypoints: np.ndarray, positions: np.ndarray, ridge: float = 1e-6
) -> CoordinateRegressor:
    """Fits ridge regression from keypoints to object coordinates.

    Every (sequence, sample, time step) is one training example: the keypoints
    of that step (K x (x, y, mu), flattened) predict the ground-truth
    coordinates of all objects at that step, which are shared by all samples of
    a sequence; detected keypoints are one sample per sequence. Objects whose
    position is NaN are left out of their own outputs' fit only. Per object n
    the minimised objective is
      mean over valid examples of ||W_n^T [features, 1] - p_n||^2
        + ridge * ||W_n without bias||^2,
    solved in closed form. Dividing by the number of examples makes `ridge`
    independent of dataset size.

    Args:
        keypoints: [num_seqs, time, K, 3] detected or [num_seqs, num_samples,
            time, K, 3] decoded training keypoints.
        positions: [num_seqs, time, N, 2] ground-truth coordinates (NaN: missing).
        ridge: Non-negative L2 penalty on the non-bias weights. Zero is allowed
            only when the features are not collinear.

    Returns:
        The fitted `CoordinateRegressor`.

    Raises:
        ValueError: On mismatched or invalid inputs, negative `ridge`, an object
            that is never observed, or a singular system.
    """
    keypoints, positions = check_fitting_data(keypoints, positions, "keypoints", "positions")
    return fit_checked(keypoints, positions, ridge)
