"""Object tracking by coordinate regression (Section 5.2, Figure 4).

`coordinate_regression` fits the regression of `downstream.regression` and
scores the model's keypoints with it as the error of the best of several
samples (`select_best_samples`, `trajectory_errors`); the baseline without
dynamics, `last_observed_baseline`, and the detector alone, `detection_fit`,
are scored through that same regressor. Layouts as in the
`video_structure.downstream` docstring.
"""

import dataclasses

import numpy as np

from video_structure import statistics
from video_structure.downstream import checks, regression

SELECT_PER_SEQUENCE = "sequence"
SELECT_PER_OBJECT = "object"
_SELECTIONS = (SELECT_PER_SEQUENCE, SELECT_PER_OBJECT)


def _check_train_and_test(
    train_keypoints, train_positions, test_keypoints, test_positions, num_observed_steps
):
    """Checks the four arrays of a regression task once; returns them as float32.

    The training keypoints come back with a sample axis (see `regression.check_fitting_data`).
    """
    train_keypoints, train_positions = regression.check_fitting_data(
        train_keypoints, train_positions, "train_keypoints", "train_positions"
    )
    test_keypoints, test_positions = regression.check_keypoints_and_positions(
        test_keypoints,
        test_positions,
        "test_keypoints",
        "test_positions",
        regression.SAMPLES_LAYOUT,
    )
    for what, axis in (("Number of time steps", -3), ("Number of keypoints", -2)):
        checks.require_same(
            what,
            ("train_keypoints", train_keypoints.shape, train_keypoints.shape[axis]),
            ("test_keypoints", test_keypoints.shape, test_keypoints.shape[axis]),
        )
    checks.require_same(
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


def _select_best(errors, num_observed_steps, selection):
    """`select_best_samples` on a checked array."""
    if selection not in _SELECTIONS:
        raise ValueError(f"selection must be one of {_SELECTIONS}, got {selection!r}.")
    future = errors[:, :, num_observed_steps:]  # [S, M, T', N]
    if selection == SELECT_PER_OBJECT:
        score = statistics.nanmean(future, axis=2)  # [S, M, N]
    else:
        num_seqs, num_samples = future.shape[:2]
        score = statistics.nanmean(future.reshape(num_seqs, num_samples, -1), axis=2)
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
    errors = checks.float_array(
        "errors", errors, "[num_seqs, num_samples, time, N]", allow_nan=True
    )
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
        return float(statistics.nanmean(future.reshape(-1), axis=0))


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
    for chunk in regression.sequence_chunks(num_seqs, num_samples * num_steps):
        prediction = regressor.predict(keypoints[chunk])  # [s, M, T, N, 2]
        errors[chunk] = np.linalg.norm(prediction - positions[chunk][:, None], axis=-1)
    best = _select_best(errors, num_observed_steps, selection)  # [S, N]
    chosen = np.take_along_axis(errors, best[:, None, None, :], axis=1)[:, 0]  # [S, T, N]
    return TrajectoryErrors(
        per_step=statistics.nanmean(chosen.transpose(1, 0, 2).reshape(num_steps, -1), axis=1),
        per_object=statistics.nanmean(chosen, axis=0),
        per_sequence=chosen,
        best_sample=best,
        num_observed_steps=num_observed_steps,
    )


def trajectory_errors(
    regressor: regression.CoordinateRegressor,
    keypoints: np.ndarray,
    positions: np.ndarray,
    num_observed_steps: int,
    selection: str = SELECT_PER_SEQUENCE,
) -> TrajectoryErrors:
    """Regresses coordinates from keypoints and scores the best samples.

    Args:
        regressor: Fitted `regression.CoordinateRegressor`.
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
    keypoints, positions = regression.check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", regression.SAMPLES_LAYOUT
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

    regressor: regression.CoordinateRegressor
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
    sample. Figure 4 (`experiments.tasks.run_tasks`) fits it by default on the
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
        ridge: See `regression.fit_coordinate_regressor`.

    Returns:
        `CoordinateRegressionResult`.

    Raises:
        ValueError: On mismatched or invalid inputs.
    """
    train_keypoints, train_positions, test_keypoints, test_positions = _check_train_and_test(
        train_keypoints, train_positions, test_keypoints, test_positions, num_observed_steps
    )
    regressor = regression.fit_checked(train_keypoints, train_positions, ridge)
    return CoordinateRegressionResult(
        regressor=regressor,
        errors=_trajectory_errors(
            regressor, test_keypoints, test_positions, num_observed_steps, selection
        ),
    )


def last_observed_baseline(
    regressor: regression.CoordinateRegressor,
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
        regressor: Fitted `regression.CoordinateRegressor`, the one the model is scored with.
        keypoints: [num_test, time, K, 3] detected keypoints; only the first
            `num_observed_steps` steps are used.
        positions: [num_test, time, N, 2] (NaN: missing object).
        num_observed_steps: Number of observed steps at the start of `time`.

    Returns:
        `TrajectoryErrors` with one sample per sequence.

    Raises:
        ValueError: On mismatched or invalid inputs.
    """
    keypoints, positions = regression.check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", regression.DETECTED_LAYOUT
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
    regressor: regression.CoordinateRegressor, keypoints: np.ndarray, positions: np.ndarray
) -> DetectionFit:
    """Scores `regressor` on detected keypoints of every step of held-out sequences.

    Args:
        regressor: Fitted `regression.CoordinateRegressor`.
        keypoints: [num_test, time, K, 3] detected keypoints.
        positions: [num_test, time, N, 2] (NaN: missing object).

    Returns:
        `DetectionFit`.

    Raises:
        ValueError: On mismatched or invalid inputs, or no present object.
    """
    keypoints, positions = regression.check_keypoints_and_positions(
        keypoints, positions, "keypoints", "positions", regression.DETECTED_LAYOUT
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
