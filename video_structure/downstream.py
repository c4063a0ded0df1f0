"""Downstream tasks on Struct-VRNN outputs (paper Sections 5.2, 5.5, S2.2, S2.3).

Every function here takes numpy arrays that a trained model produced, never a
model, so that the analyses can run on stored rollouts and be tested on
synthetic data:

* Object tracking by coordinate regression (Figure 4): `coordinate_regression`
  fits a regressor and scores the model's keypoints with it; the baseline
  without dynamics, `last_observed_baseline`, takes that same regressor. Built
  from `fit_coordinate_regressor`, `trajectory_errors` and
  `select_best_samples`.
* Reward prediction from the dynamics RNN's hidden states (Figure 9):
  `reward_prediction`.
* Action recognition from observed keypoint sequences (Figure 8):
  `action_recognition`, plus `load_human36m_sequences` for user-supplied
  Human3.6M data.

Array layouts (see video_structure.keypoint_ops for the coordinate convention):
  keypoints: float32 [num_seqs, num_samples, time, K, 3] (x, y, mu) decoded by
    the model; the first `num_observed_steps` steps are observed, the rest
    predicted. Detected keypoints (the detector on every frame) have no sample
    axis: [num_seqs, time, K, 3].
  positions: float32 [num_seqs, time, N, 2] ground-truth object coordinates;
    NaN marks a missing object at that step.
  hidden_states: float32 [num_seqs, time, H]; rewards: float32 [num_seqs, time];
  domains: int32 [num_seqs]; action labels: int32 [num_seqs].
"""

import dataclasses
import os
import zipfile

import keras
import numpy as np

SELECT_PER_SEQUENCE = "sequence"
SELECT_PER_OBJECT = "object"
_SELECTIONS = (SELECT_PER_SEQUENCE, SELECT_PER_OBJECT)

_SAMPLES_LAYOUT = "[num_seqs, num_samples, time, K, 3]"
_DETECTED_LAYOUT = "[num_seqs, time, K, 3]"

HUMAN36M_NUM_ACTIONS = 15

# Bounds the float64 design matrix built at once when fitting or evaluating the
# regression (Basketball: 13,845 sequences x 50 samples x 16 steps).
_MAX_ROWS_PER_CHUNK = 1 << 20


# ----------------------------------------------------------------------------
# Input checking.
# ----------------------------------------------------------------------------


def _float_array(name, value, layout, allow_nan=False):
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


def _int_array(name, value, length_name, length):
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


def _require_same(what, a, b):
    """Raises unless two sizes agree; `a` and `b` are (argument name, shape, size)."""
    (name_a, shape_a, size_a), (name_b, shape_b, size_b) = a, b
    if size_a != size_b:
        raise ValueError(
            f"{what} differs between {name_a} (shape {shape_a}) and {name_b} "
            f"(shape {shape_b}): {size_a} vs {size_b}."
        )


def masked_mean(values: np.ndarray, axis) -> np.ndarray:
    """Mean over `axis` ignoring NaN; NaN where nothing is valid, without warnings."""
    valid = ~np.isnan(values)
    total = np.sum(np.where(valid, values, 0.0), axis=axis)
    count = np.sum(valid, axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


# ----------------------------------------------------------------------------
# Coordinate regression (Section 5.2, Figure 4).
# ----------------------------------------------------------------------------


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


def _sequence_chunks(num_seqs, rows_per_seq):
    step = max(1, _MAX_ROWS_PER_CHUNK // max(1, rows_per_seq))
    for start in range(0, num_seqs, step):
        yield slice(start, min(num_seqs, start + step))


def _check_keypoints_and_positions(keypoints, positions, keypoints_name, positions_name, layout):
    """Returns float32 keypoints of `layout` and positions after checking that they match.

    `layout` is _SAMPLES_LAYOUT or _DETECTED_LAYOUT; time is the third-last axis.
    """
    keypoints = _float_array(keypoints_name, keypoints, layout)
    positions = _float_array(positions_name, positions, "[num_seqs, time, N, 2]", allow_nan=True)
    if keypoints.shape[-1] != 3:
        raise ValueError(
            f"{keypoints_name} must end in (x, y, mu) = 3 channels, got shape {keypoints.shape}."
        )
    if positions.shape[-1] != 2:
        raise ValueError(
            f"{positions_name} must end in (x, y) = 2 coordinates, got shape {positions.shape}."
        )
    _require_same(
        "Number of sequences",
        (keypoints_name, keypoints.shape, keypoints.shape[0]),
        (positions_name, positions.shape, positions.shape[0]),
    )
    _require_same(
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


def _check_fitting_data(keypoints, positions, keypoints_name, positions_name):
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
    keypoints, positions = _check_keypoints_and_positions(
        keypoints,
        positions,
        keypoints_name,
        positions_name,
        _DETECTED_LAYOUT if detected else _SAMPLES_LAYOUT,
    )
    return (keypoints[:, None] if detected else keypoints), positions


def _check_train_and_test(
    train_keypoints, train_positions, test_keypoints, test_positions, num_observed_steps
):
    """Checks the four arrays of a regression task once; returns them as float32.

    The training keypoints come back with a sample axis (see `_check_fitting_data`).
    """
    train_keypoints, train_positions = _check_fitting_data(
        train_keypoints, train_positions, "train_keypoints", "train_positions"
    )
    test_keypoints, test_positions = _check_keypoints_and_positions(
        test_keypoints, test_positions, "test_keypoints", "test_positions", _SAMPLES_LAYOUT
    )
    for what, axis in (("Number of time steps", -3), ("Number of keypoints", -2)):
        _require_same(
            what,
            ("train_keypoints", train_keypoints.shape, train_keypoints.shape[axis]),
            ("test_keypoints", test_keypoints.shape, test_keypoints.shape[axis]),
        )
    _require_same(
        "Number of objects",
        ("train_positions", train_positions.shape, train_positions.shape[2]),
        ("test_positions", test_positions.shape, test_positions.shape[2]),
    )
    _check_num_observed(
        num_observed_steps, test_keypoints.shape[-3], "test_keypoints", test_keypoints.shape
    )
    return train_keypoints, train_positions, test_keypoints, test_positions


def _check_num_observed(num_observed_steps, num_steps, name, shape):
    if not 1 <= num_observed_steps < num_steps:
        raise ValueError(
            f"num_observed_steps must be in [1, time - 1] = [1, {num_steps - 1}] "
            f"for {name} of shape {shape}, got {num_observed_steps}."
        )


def _fit(keypoints, positions, ridge):
    """`fit_coordinate_regressor` on checked arrays."""
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
    for chunk in _sequence_chunks(num_seqs, num_samples * num_steps):
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
    keypoints, positions = _check_fitting_data(keypoints, positions, "keypoints", "positions")
    return _fit(keypoints, positions, ridge)


def _select_best(errors, num_observed_steps, selection):
    """`select_best_samples` on a checked array."""
    if selection not in _SELECTIONS:
        raise ValueError(f"selection must be one of {_SELECTIONS}, got {selection!r}.")
    future = errors[:, :, num_observed_steps:]  # [S, M, T', N]
    if selection == SELECT_PER_OBJECT:
        score = masked_mean(future, axis=2)  # [S, M, N]
    else:
        num_seqs, num_samples = future.shape[:2]
        score = masked_mean(future.reshape(num_seqs, num_samples, -1), axis=2)
        score = np.repeat(score[:, :, None], errors.shape[3], axis=2)  # [S, M, N]
    return np.argmin(np.where(np.isnan(score), np.inf, score), axis=1)


def select_best_samples(
    errors: np.ndarray, num_observed_steps: int, selection: str = SELECT_PER_SEQUENCE
) -> np.ndarray:
    """Chooses the best of several stochastic samples (paper footnote 3).

    Only predicted steps count. With `SELECT_PER_SEQUENCE` (Human3.6M) the
    score of a sample is its error averaged over all objects and predicted
    steps; with `SELECT_PER_OBJECT` (Basketball) each object gets the sample
    with its lowest error averaged over predicted steps. NaN errors (missing
    objects) are ignored; if nothing is valid, sample 0 is chosen.

    Args:
        errors: [num_seqs, num_samples, time, N] distances, NaN where missing.
        num_observed_steps: Number of observed steps at the start of `time`.
        selection: `SELECT_PER_SEQUENCE` or `SELECT_PER_OBJECT`.

    Returns:
        int64 [num_seqs, N] index of the chosen sample for each object (the same
        for all objects of a sequence with `SELECT_PER_SEQUENCE`).

    Raises:
        ValueError: On a bad `selection`, `num_observed_steps` or shape.
    """
    errors = _float_array("errors", errors, "[num_seqs, num_samples, time, N]", allow_nan=True)
    _check_num_observed(num_observed_steps, errors.shape[2], "errors", errors.shape)
    return _select_best(errors, num_observed_steps, selection)


@dataclasses.dataclass(frozen=True)
class TrajectoryErrors:
    """Best-of-samples trajectory errors on held-out sequences.

    Attributes:
        per_step: [time] mean Euclidean error over sequences and objects.
        per_object: [time, N] mean Euclidean error over sequences (Figure S6a).
        per_sequence: [num_seqs, time, N] error of the chosen sample (NaN where
            the object is missing), e.g. for bootstrap confidence intervals.
        best_sample: int [num_seqs, N] chosen sample per sequence and object,
            e.g. to draw the chosen trajectories.
        num_observed_steps: Steps before this index were observed.
    """

    per_step: np.ndarray
    per_object: np.ndarray
    per_sequence: np.ndarray
    best_sample: np.ndarray
    num_observed_steps: int

    @property
    def mean_predicted_error(self) -> float:
        """Mean error over all valid (sequence, predicted step, object) entries."""
        future = self.per_sequence[:, self.num_observed_steps :]
        return float(masked_mean(future.reshape(-1), axis=0))


def _trajectory_errors(regressor, keypoints, positions, num_observed_steps, selection):
    """`trajectory_errors` on checked arrays."""
    if (keypoints.shape[3], positions.shape[2]) != (regressor.num_keypoints, regressor.num_objects):
        raise ValueError(
            f"The regressor maps K={regressor.num_keypoints} keypoints to "
            f"N={regressor.num_objects} objects, but keypoints have shape "
            f"{keypoints.shape} and positions {positions.shape}."
        )
    num_seqs, num_samples, num_steps = keypoints.shape[:3]
    errors = np.empty((num_seqs, num_samples, num_steps, positions.shape[2]), np.float32)
    for chunk in _sequence_chunks(num_seqs, num_samples * num_steps):
        prediction = regressor.predict(keypoints[chunk])  # [s, M, T, N, 2]
        errors[chunk] = np.linalg.norm(prediction - positions[chunk][:, None], axis=-1)
    best = _select_best(errors, num_observed_steps, selection)  # [S, N]
    chosen = np.take_along_axis(errors, best[:, None, None, :], axis=1)[:, 0]  # [S, T, N]
    return TrajectoryErrors(
        per_step=masked_mean(chosen.transpose(1, 0, 2).reshape(num_steps, -1), axis=1),
        per_object=masked_mean(chosen, axis=0),
        per_sequence=chosen,
        best_sample=best,
        num_observed_steps=num_observed_steps,
    )


def trajectory_errors(
    regressor: CoordinateRegressor,
    keypoints: np.ndarray,
    positions: np.ndarray,
    num_observed_steps: int,
    selection: str = SELECT_PER_SEQUENCE,
) -> TrajectoryErrors:
    """Regresses coordinates from keypoints and scores the best samples.

    Args:
        regressor: Fitted `CoordinateRegressor`.
        keypoints: [num_seqs, num_samples, time, K, 3] held-out keypoints.
        positions: [num_seqs, time, N, 2] held-out ground truth (NaN: missing).
        num_observed_steps: Number of observed steps at the start of `time`.
        selection: `SELECT_PER_SEQUENCE` or `SELECT_PER_OBJECT`; see
            `select_best_samples`.

    Returns:
        `TrajectoryErrors` for all time steps (observed and predicted) of the
        chosen samples.

    Raises:
        ValueError: On mismatched or invalid inputs.
    """
    keypoints, positions = _check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", _SAMPLES_LAYOUT
    )
    _check_num_observed(num_observed_steps, keypoints.shape[2], "keypoints", keypoints.shape)
    return _trajectory_errors(regressor, keypoints, positions, num_observed_steps, selection)


@dataclasses.dataclass(frozen=True)
class CoordinateRegressionResult:
    """Tracking result of the model's keypoints (Figure 4).

    Attributes:
        regressor: The regression fitted on the training sequences; pass it to
            `last_observed_baseline` to score the baseline with the same map.
        errors: Its errors on the held-out sequences.
    """

    regressor: CoordinateRegressor
    errors: TrajectoryErrors


def coordinate_regression(
    train_keypoints: np.ndarray,
    train_positions: np.ndarray,
    test_keypoints: np.ndarray,
    test_positions: np.ndarray,
    num_observed_steps: int,
    selection: str = SELECT_PER_SEQUENCE,
    ridge: float = 1e-6,
) -> CoordinateRegressionResult:
    """Figure 4: trajectory error of coordinates regressed from model keypoints.

    The regression is fitted on `train_keypoints` and scored on the held-out
    model keypoints (observed and predicted steps) as the error of the best
    sample. Figure 4 (`experiments.run_tasks`) fits it by default on the
    detector's keypoints of all training steps (`[num_train, time, K, 3]`):
    decoded samples scatter around the detections, and least squares on noisy
    inputs shrinks the map towards the mean, the more so the more diverse the
    model, which would bias the comparison of models. The former fit on all
    decoded samples and steps (`[num_train, num_samples, time, K, 3]`) remains
    an option.

    Args:
        train_keypoints: [num_train, time, K, 3] detected keypoints or
            [num_train, num_samples, time, K, 3] decoded keypoints.
        train_positions: [num_train, time, N, 2] (NaN: missing object).
        test_keypoints: [num_test, num_samples', time, K, 3] decoded keypoints.
        test_positions: [num_test, time, N, 2] (NaN: missing object).
        num_observed_steps: Number of observed steps at the start of `time`.
        selection: `SELECT_PER_SEQUENCE` (Human3.6M) or `SELECT_PER_OBJECT`
            (Basketball).
        ridge: See `fit_coordinate_regressor`.

    Returns:
        `CoordinateRegressionResult`.

    Raises:
        ValueError: On mismatched or invalid inputs.
    """
    train_keypoints, train_positions, test_keypoints, test_positions = _check_train_and_test(
        train_keypoints, train_positions, test_keypoints, test_positions, num_observed_steps
    )
    regressor = _fit(train_keypoints, train_positions, ridge)
    return CoordinateRegressionResult(
        regressor=regressor,
        errors=_trajectory_errors(
            regressor, test_keypoints, test_positions, num_observed_steps, selection
        ),
    )


def last_observed_baseline(
    regressor: CoordinateRegressor,
    keypoints: np.ndarray,
    positions: np.ndarray,
    num_observed_steps: int,
) -> TrajectoryErrors:
    """Figure 4's baseline: no dynamics model, the last observed keypoints held.

    "We remove the dynamics model entirely and simply predict the last observed
    keypoint locations for all future timepoints" (Section 5.2): on held-out
    sequences the detected keypoints of step num_observed_steps - 1 stand for
    every later step. They are scored through the model's regressor
    (`CoordinateRegressionResult.regressor`), so that model and baseline differ
    only in their keypoints. There is one prediction per sequence, so no best
    of N.

    Args:
        regressor: Fitted `CoordinateRegressor`, the one the model is scored with.
        keypoints: [num_test, time, K, 3] detected keypoints; only the first
            `num_observed_steps` steps are used.
        positions: [num_test, time, N, 2] (NaN: missing object).
        num_observed_steps: Number of observed steps at the start of `time`.

    Returns:
        `TrajectoryErrors` with one sample per sequence.

    Raises:
        ValueError: On mismatched or invalid inputs.
    """
    keypoints, positions = _check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", _DETECTED_LAYOUT
    )
    _check_num_observed(num_observed_steps, keypoints.shape[1], "keypoints", keypoints.shape)
    held = keypoints.copy()  # [num_test, time, K, 3]
    held[:, num_observed_steps:] = keypoints[:, num_observed_steps - 1 : num_observed_steps]
    return _trajectory_errors(
        regressor, held[:, None], positions, num_observed_steps, SELECT_PER_SEQUENCE
    )


@dataclasses.dataclass(frozen=True)
class DetectionFit:
    """How well a regressor reads object positions off held-out detected keypoints.

    This scores the detector alone (no dynamics): a collapsed detector, whose
    keypoints sit still whatever the objects do, scores an R^2 near 0.

    Attributes:
        r_squared: 1 - residual sum of squares / total sum of squares about
            each object's mean held-out position, over all sequences, steps
            and present objects; 0 is predicting every object's mean position.
        mean_error: mean Euclidean error over the same entries.
    """

    r_squared: float
    mean_error: float


def detection_fit(
    regressor: CoordinateRegressor, keypoints: np.ndarray, positions: np.ndarray
) -> DetectionFit:
    """Scores `regressor` on detected keypoints of every step of held-out sequences.

    Args:
        regressor: Fitted `CoordinateRegressor`.
        keypoints: [num_test, time, K, 3] detected keypoints.
        positions: [num_test, time, N, 2] (NaN: missing object).

    Returns:
        `DetectionFit`.

    Raises:
        ValueError: On mismatched or invalid inputs, or no present object.
    """
    keypoints, positions = _check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", _DETECTED_LAYOUT
    )
    predicted = regressor.predict(keypoints).astype(np.float64)  # [S, T, N, 2]
    positions = positions.astype(np.float64)
    present = ~np.isnan(positions[..., 0])  # [S, T, N]
    if not present.any():
        raise ValueError("positions has no present object (all NaN).")
    # [N, 2] each object's mean position; NaN for an object never present.
    means = np.nansum(positions, axis=(0, 1)) / np.maximum(present.sum(axis=(0, 1)), 1)[:, None]
    errors = (predicted - positions)[present]  # [M, 2]
    total = np.sum(((positions - means)[present]) ** 2)
    return DetectionFit(
        r_squared=float(1.0 - np.sum(errors**2) / total) if total > 0 else float("nan"),
        mean_error=float(np.mean(np.linalg.norm(errors, axis=-1))),
    )


# ----------------------------------------------------------------------------
# Shared Keras training utilities.
# ----------------------------------------------------------------------------


def split_indices(
    num_items: int, train_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random train/test split.

    Args:
        num_items: Number of items to split; at least 2.
        train_fraction: Fraction in (0, 1) of items for training, rounded to the
            nearest integer and clipped so that both parts are non-empty.
        seed: Seed of the permutation.

    Returns:
        (train_indices, test_indices), each sorted ascending.

    Raises:
        ValueError: If num_items < 2 or train_fraction is not in (0, 1).
    """
    if num_items < 2:
        raise ValueError(
            f"Need at least 2 sequences to split into train and test, got {num_items}."
        )
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
    num_train = min(num_items - 1, max(1, int(round(train_fraction * num_items))))
    order = np.random.default_rng(seed).permutation(num_items)
    return np.sort(order[:num_train]), np.sort(order[num_train:])


def _decaying_adam(start_rate, end_rate, num_examples, batch_size, epochs):
    """Adam whose learning rate decays exponentially from start to end rate.

    The rate is start_rate * (end_rate / start_rate) ** (step / total_steps),
    so it reaches end_rate at the last optimisation step of training.
    """
    steps_per_epoch = -(-num_examples // batch_size)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=start_rate,
        decay_steps=max(1, steps_per_epoch * epochs),
        decay_rate=end_rate / start_rate,
    )
    return keras.optimizers.Adam(learning_rate=schedule)


def _check_training_args(epochs, batch_size):
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")


class _ShuffledBatches(keras.utils.PyDataset):
    """Training batches in an order that a seeded generator redraws every epoch.

    Keras' own shuffling draws from TensorFlow's global generator; this keeps
    a task's result a function of its `seed` alone.
    """

    def __init__(self, inputs, targets, batch_size, seed):
        super().__init__()
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(inputs))

    def __len__(self):
        return -(-len(self.inputs) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.inputs[rows], self.targets[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.inputs))


def _seeded_dense(seed_generator, units, **kwargs):
    return keras.layers.Dense(
        units, kernel_initializer=keras.initializers.GlorotUniform(seed=seed_generator), **kwargs
    )


def _seeded_gru(seed_generator, units, **kwargs):
    return keras.layers.GRU(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed_generator),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed_generator),
        **kwargs,
    )


def _train_and_predict(
    model, loss, learning_rates, train, test_inputs, epochs, batch_size, seed, verbose
):
    """Trains `model` on `train` = (inputs, targets) and predicts `test_inputs`.

    Adam's learning rate decays exponentially from learning_rates[0] to
    learning_rates[1] over all optimisation steps.
    """
    model.compile(
        optimizer=_decaying_adam(*learning_rates, len(train[0]), batch_size, epochs), loss=loss
    )
    # shuffle=False: Keras would reorder the batches with Python's global generator.
    model.fit(
        _ShuffledBatches(*train, batch_size, seed), epochs=epochs, shuffle=False, verbose=verbose
    )
    # Called directly, not with `predict`: a fresh model per domain would trace
    # a predict function per call and make TensorFlow warn about retracing.
    chunk = 1024
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model(test_inputs[start : start + chunk], training=False))
            for start in range(0, len(test_inputs), chunk)
        ]
    )


# ----------------------------------------------------------------------------
# Reward prediction (Section S2.3, Figure 9).
# ----------------------------------------------------------------------------


class RewardPredictor(keras.Model):
    """Dense -> GRU -> GRU -> Dense(1) reward model of Section S2.3.

    "All connected through rectified linear units": a ReLU follows the first
    dense layer and the output sequence of each GRU (inside the GRUs the usual
    tanh/sigmoid gates are kept); the final Dense(1) is linear.
    """

    def __init__(self, units: int = 128, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        seeds = keras.random.SeedGenerator(seed)
        self.input_dense = _seeded_dense(seeds, units, activation="relu")
        self.gru_1 = _seeded_gru(seeds, units, return_sequences=True)
        self.gru_2 = _seeded_gru(seeds, units, return_sequences=True)
        self.output_dense = _seeded_dense(seeds, 1)

    def call(self, hidden_states):
        """Maps [batch, time, H] hidden states to [batch, time] rewards."""
        features = self.input_dense(hidden_states)  # [batch, time, units]
        features = keras.ops.relu(self.gru_1(features))  # [batch, time, units]
        features = keras.ops.relu(self.gru_2(features))  # [batch, time, units]
        return self.output_dense(features)[..., 0]  # [batch, time]


@dataclasses.dataclass(frozen=True)
class RewardPredictionResult:
    """Held-out reward prediction error of one domain.

    Attributes:
        domain: Domain id.
        num_train: Number of training sequences.
        num_test: Number of held-out sequences.
        train_mean_reward: Mean training reward, the null model's prediction.
        mse_per_step: [time] MSE of the reward model on held-out sequences.
        null_mse_per_step: [time] MSE of the null model.
        normalized_mse_per_step: [time] mse_per_step / null_mse_per_step.
        mse: MSE over all held-out steps.
        null_mse: Null-model MSE over all held-out steps.
        normalized_mse: mse / null_mse.
    Normalised values are NaN where the null model is exact (constant rewards).
    """

    domain: int
    num_train: int
    num_test: int
    train_mean_reward: float
    mse_per_step: np.ndarray
    null_mse_per_step: np.ndarray
    normalized_mse_per_step: np.ndarray
    mse: float
    null_mse: float
    normalized_mse: float


def normalized_mse(
    predictions: np.ndarray, targets: np.ndarray, null_prediction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MSE per time step relative to a constant null prediction (Figure 9).

    Args:
        predictions: [num_seqs, time] predicted rewards.
        targets: [num_seqs, time] true rewards.
        null_prediction: The null model's constant prediction (mean training
            reward).

    Returns:
        (mse_per_step [time], null_mse_per_step [time], normalized [time]);
        normalized is NaN at steps where the null model is exact.
    """
    mse = np.mean((predictions - targets) ** 2, axis=0)
    null_mse = np.mean((null_prediction - targets) ** 2, axis=0)
    normalized = np.divide(mse, null_mse, out=np.full(mse.shape, np.nan), where=null_mse > 0)
    return mse, null_mse, normalized


def reward_prediction(
    hidden_states: np.ndarray,
    rewards: np.ndarray,
    domains: np.ndarray,
    epochs: int = 100,
    batch_size: int = 64,
    units: int = 128,
    train_fraction: float = 0.8,
    seed: int = 0,
    verbose: int = 0,
    groups: np.ndarray | None = None,
) -> dict[int, RewardPredictionResult]:
    """Figure 9: predicts rewards from RNN hidden states, one model per domain.

    Each domain's sequences are split deterministically (by `seed`) into
    `train_fraction` for training and the rest for evaluation; with `groups`,
    whole groups are split, so that overlapping windows of one episode never
    stand on both sides. A fresh
    `RewardPredictor` is trained with MSE and Adam, the learning rate decaying
    exponentially from 1e-3 to 1e-4 over all optimisation steps.

    The paper gives neither epochs nor batch size; the defaults (100 epochs,
    batch 64: 12,500 steps for 8,000 training sequences) are ours.

    Args:
        hidden_states: [num_seqs, time, H] dynamics-RNN hidden states.
        rewards: [num_seqs, time] rewards; rewards[:, t] belongs to step t.
        domains: int [num_seqs] domain id of each sequence.
        epochs: Training epochs per domain.
        batch_size: Sequences per batch.
        units: Width of the dense and GRU layers (128 in the paper).
        train_fraction: Fraction of each domain's sequences used for training.
        seed: Seed of the split, initialisation and shuffling.
        verbose: Keras verbosity for `fit`.
        groups: int [num_seqs], e.g. the episode of each window; None: every
            sequence is its own group.

    Returns:
        Dict from domain id to `RewardPredictionResult`, in ascending order.

    Raises:
        ValueError: On mismatched shapes, NaN inputs, a domain with fewer than two
            sequences or bad training arguments.
    """
    hidden_states = _float_array("hidden_states", hidden_states, "[num_seqs, time, H]")
    rewards = _float_array("rewards", rewards, "[num_seqs, time]")
    _require_same(
        "Number of sequences",
        ("hidden_states", hidden_states.shape, hidden_states.shape[0]),
        ("rewards", rewards.shape, rewards.shape[0]),
    )
    _require_same(
        "Number of time steps",
        ("hidden_states", hidden_states.shape, hidden_states.shape[1]),
        ("rewards", rewards.shape, rewards.shape[1]),
    )
    domains = _int_array("domains", domains, "hidden_states", hidden_states.shape[0])
    if groups is None:
        groups = np.arange(hidden_states.shape[0])
    groups = _int_array("groups", groups, "hidden_states", hidden_states.shape[0])
    _check_training_args(epochs, batch_size)
    if hidden_states.shape[0] < 2 or hidden_states.shape[1] < 1:
        raise ValueError(
            f"Reward prediction needs at least 2 sequences of at least 1 step, got "
            f"hidden_states of shape {hidden_states.shape}."
        )
    domain_ids = np.unique(domains)
    for domain in domain_ids:
        count = len(np.unique(groups[domains == domain]))
        if count < 2:
            raise ValueError(
                f"Domain {domain} has {count} sequence(s), counting each group once; reward "
                f"prediction needs at least 2 (train and test)."
            )
    results = {}
    for domain in domain_ids:
        in_domain = domains == domain
        names = np.unique(groups[in_domain])
        train_groups, _ = split_indices(len(names), train_fraction, seed)
        in_train = np.isin(groups, names[train_groups])
        train = np.flatnonzero(in_domain & in_train)
        test = np.flatnonzero(in_domain & ~in_train)
        predictions = _train_and_predict(
            RewardPredictor(units, seed),
            "mse",
            (1e-3, 1e-4),
            (hidden_states[train], rewards[train]),
            hidden_states[test],
            epochs,
            batch_size,
            seed,
            verbose,
        )  # [num_test, time]
        train_mean = float(np.mean(rewards[train]))
        mse, null_mse, normalized = normalized_mse(predictions, rewards[test], train_mean)
        total_null = float(np.mean(null_mse))
        results[int(domain)] = RewardPredictionResult(
            domain=int(domain),
            num_train=len(train),
            num_test=len(test),
            train_mean_reward=train_mean,
            mse_per_step=mse,
            null_mse_per_step=null_mse,
            normalized_mse_per_step=normalized,
            mse=float(np.mean(mse)),
            null_mse=total_null,
            normalized_mse=(float(np.mean(mse)) / total_null if total_null > 0 else float("nan")),
        )
    return results


# ----------------------------------------------------------------------------
# Action recognition (Section S2.2, Figure 8).
# ----------------------------------------------------------------------------


class ActionClassifier(keras.Model):
    """GRU -> Dropout -> GRU -> Dropout -> Dense -> softmax (Section S2.2)."""

    def __init__(
        self, num_classes: int, units: int = 128, dropout: float = 0.25, seed: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        seeds = keras.random.SeedGenerator(seed)
        self.gru_1 = _seeded_gru(seeds, units, return_sequences=True)
        self.dropout_1 = keras.layers.Dropout(dropout, seed=seed)
        self.gru_2 = _seeded_gru(seeds, units)
        self.dropout_2 = keras.layers.Dropout(dropout, seed=seed + 1)
        self.logits = _seeded_dense(seeds, num_classes)

    def call(self, features, training=False):
        """Maps [batch, time, F] features to [batch, num_classes] probabilities."""
        hidden = self.dropout_1(self.gru_1(features), training=training)
        hidden = self.dropout_2(self.gru_2(hidden), training=training)
        return keras.ops.softmax(self.logits(hidden))  # [batch, num_classes]


@dataclasses.dataclass(frozen=True)
class ActionRecognitionResult:
    """Held-out action recognition accuracy (fractions correct).

    Attributes:
        accuracy: Classifier on the given features (e.g. keypoints).
        null_accuracy: Always predicting the most frequent training class.
        null_class: That class.
        ground_truth_accuracy: Same classifier on ground-truth coordinates, or
            None when they were not given.
        num_classes: Number of classes.
    """

    accuracy: float
    null_accuracy: float
    null_class: int
    ground_truth_accuracy: float | None
    num_classes: int


def _sequence_features(name, value, num_steps):
    """[num_seqs, time, ...] -> float32 [num_seqs, num_steps, F]."""
    array = np.asarray(value)
    if array.ndim < 3:
        raise ValueError(
            f"{name} must have shape [num_seqs, time, ...] (e.g. "
            f"[num_seqs, time, K, 3]), got shape {array.shape}."
        )
    if array.shape[1] < num_steps:
        raise ValueError(
            f"{name} has {array.shape[1]} time steps (shape {array.shape}) but "
            f"num_steps={num_steps}."
        )
    array = array[:, :num_steps].reshape(array.shape[0], num_steps, -1)
    return _float_array(name, array, "[num_seqs, num_steps, features]")


def _classifier_accuracy(train, test, num_classes, epochs, batch_size, seed, verbose):
    """Accuracy on test = (features, labels) of an `ActionClassifier` trained on train."""
    probabilities = _train_and_predict(
        ActionClassifier(num_classes, seed=seed),
        "sparse_categorical_crossentropy",
        (1e-2, 1e-4),
        train,
        test[0],
        epochs,
        batch_size,
        seed,
        verbose,
    )  # [num_test, num_classes]
    return float(np.mean(np.argmax(probabilities, axis=1) == test[1]))


def action_recognition(
    train_keypoints: np.ndarray,
    train_labels: np.ndarray,
    test_keypoints: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int | None = None,
    train_positions: np.ndarray | None = None,
    test_positions: np.ndarray | None = None,
    num_steps: int = 8,
    epochs: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 0,
) -> ActionRecognitionResult:
    """Figure 8: classifies actions from sequences of observed keypoints.

    Features of each step are flattened (K * 3 for keypoints, N * 2 for
    positions) and the first `num_steps` steps are used. The classifier is
    trained with cross-entropy and Adam, the learning rate decaying
    exponentially from 1e-2 to 1e-4 over all optimisation steps. Pass model
    keypoints as keypoints[:, sample] of the [num_seqs, num_samples, ...]
    layout: only observed steps are used, so any sample serves.

    Args:
        train_keypoints: [num_train, time, ...] features, e.g. [.., K, 3].
        train_labels: int [num_train] labels in [0, num_classes).
        test_keypoints: [num_test, time, ...] features.
        test_labels: int [num_test] labels in [0, num_classes).
        num_classes: Number of classes (15 for Human3.6M); default: the largest
            label + 1.
        train_positions: Optional [num_train, time, N, 2] ground truth for the
            reference classifier (no NaN allowed).
        test_positions: Optional [num_test, time, N, 2], given iff
            train_positions is.
        num_steps: Number of leading (observed) steps used (8 in the paper).
        epochs: Training epochs (100 in the paper).
        batch_size: Sequences per batch (not given in the paper).
        seed: Seed of initialisation, dropout and shuffling.
        verbose: Keras verbosity.

    Returns:
        `ActionRecognitionResult`.

    Raises:
        ValueError: On mismatched shapes, NaN inputs, labels out of range, empty
            sets or bad training arguments.
    """
    _check_training_args(epochs, batch_size)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    train_features = _sequence_features("train_keypoints", train_keypoints, num_steps)
    test_features = _sequence_features("test_keypoints", test_keypoints, num_steps)
    _require_same(
        "Number of features per step",
        ("train_keypoints", np.shape(train_keypoints), train_features.shape[2]),
        ("test_keypoints", np.shape(test_keypoints), test_features.shape[2]),
    )
    if len(train_features) < 1 or len(test_features) < 1:
        raise ValueError(
            f"Need at least one training and one test sequence, got "
            f"{len(train_features)} and {len(test_features)}."
        )
    train_labels = _int_array("train_labels", train_labels, "train_keypoints", len(train_features))
    test_labels = _int_array("test_labels", test_labels, "test_keypoints", len(test_features))
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    for name, labels in (("train_labels", train_labels), ("test_labels", test_labels)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got values in "
                f"[{labels.min()}, {labels.max()}]."
            )
    if (train_positions is None) != (test_positions is None):
        raise ValueError("Pass both train_positions and test_positions, or neither.")
    if train_positions is not None:
        train_gt = _sequence_features("train_positions", train_positions, num_steps)
        test_gt = _sequence_features("test_positions", test_positions, num_steps)
        _require_same(
            "Number of sequences",
            ("train_positions", np.shape(train_positions), len(train_gt)),
            ("train_keypoints", np.shape(train_keypoints), len(train_features)),
        )
        _require_same(
            "Number of sequences",
            ("test_positions", np.shape(test_positions), len(test_gt)),
            ("test_keypoints", np.shape(test_keypoints), len(test_features)),
        )
        _require_same(
            "Number of features per step",
            ("train_positions", np.shape(train_positions), train_gt.shape[2]),
            ("test_positions", np.shape(test_positions), test_gt.shape[2]),
        )
    null_class = int(np.argmax(np.bincount(train_labels, minlength=num_classes)))
    train_args = (num_classes, epochs, batch_size, seed, verbose)
    accuracy = _classifier_accuracy(
        (train_features, train_labels), (test_features, test_labels), *train_args
    )
    ground_truth_accuracy = None
    if train_positions is not None:
        ground_truth_accuracy = _classifier_accuracy(
            (train_gt, train_labels), (test_gt, test_labels), *train_args
        )
    return ActionRecognitionResult(
        accuracy=accuracy,
        null_accuracy=float(np.mean(test_labels == null_class)),
        null_class=null_class,
        ground_truth_accuracy=ground_truth_accuracy,
        num_classes=num_classes,
    )


# ----------------------------------------------------------------------------
# Human3.6M loader for user-supplied data.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Human36mSequence:
    """One user-supplied Human3.6M video.

    Attributes:
        name: File name without the .npz extension.
        image: uint8 [T, H, W, C] frames.
        action_label: Action class in [0, 15).
        positions: float32 [T, N, 2] ground-truth coordinates, or None.
    """

    name: str
    image: np.ndarray
    action_label: int
    positions: np.ndarray | None


def _load_human36m_file(path):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz archive.")
    with data:
        arrays = {key: data[key] for key in data.files}
    missing = [key for key in ("image", "action_label") if key not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing} (has {sorted(arrays)}).")
    image, label = arrays["image"], arrays["action_label"]
    if image.dtype != np.uint8 or image.ndim != 4 or image.shape[0] < 1:
        raise ValueError(
            f"{path}: image must be uint8 [T, H, W, C] with T >= 1, got dtype "
            f"{image.dtype} and shape {image.shape}."
        )
    if label.size != 1 or not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"{path}: action_label must be one integer, got {label!r}.")
    if not 0 <= int(label) < HUMAN36M_NUM_ACTIONS:
        raise ValueError(
            f"{path}: action_label must be one integer in [0, {HUMAN36M_NUM_ACTIONS}), "
            f"got {int(label)}."
        )
    positions = arrays.get("true_object_pos")
    if positions is not None:
        if positions.shape[:1] + positions.shape[2:] != (image.shape[0], 2):
            raise ValueError(
                f"{path}: true_object_pos must be [T, N, 2] with T = {image.shape[0]} "
                f"(image shape {image.shape}), got shape {positions.shape}."
            )
        # NaN marks an object absent from a frame, as everywhere in this module.
        positions = _float_array(f"{path}: true_object_pos", positions, "[T, N, 2]", allow_nan=True)
    name = os.path.splitext(os.path.basename(path))[0]
    return Human36mSequence(name, image, int(label), positions)


def load_human36m_sequences(path: str) -> list[Human36mSequence]:
    """Loads user-supplied Human3.6M sequences (Human3.6M is not bundled).

    `path` is a directory with one .npz file per video in the authors' format
    that `video_structure.data.npz.npz_dataset` reads (other files are
    ignored), plus the action label:
      image: uint8 [T, H, W, C] frames (64 x 64 in the paper, 6.25 Hz).
      action_label: integer scalar, the action class in [0, 15) (the 15
        Human3.6M action categories, numbered by the user consistently).
      true_object_pos (optional): float [T, N, 2] ground-truth coordinates,
        passed through unchanged as by `npz_dataset`; convert them to the
        keypoint convention (x right, y up, [-1, 1]) for a reference classifier
        comparable with keypoints.
    Keep videos of one subject in one split (train S1, S5, S6, S7, S8; test S9,
    S11) so that no test sequence comes from a training video.

    Args:
        path: Directory of .npz files.

    Returns:
        List of `Human36mSequence`, sorted by file name.

    Raises:
        FileNotFoundError: If `path` is not a directory or holds no .npz file.
        ValueError: If a file is unreadable or lacks or misformats an array.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Human3.6M directory {path!r} does not exist.")
    names = sorted(name for name in os.listdir(path) if name.endswith(".npz"))
    if not names:
        raise FileNotFoundError(f"No .npz files in Human3.6M directory {path!r}.")
    return [_load_human36m_file(os.path.join(path, name)) for name in names]
