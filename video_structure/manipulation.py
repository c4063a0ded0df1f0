"""Asking a trained model "what happens then" (Section 5.4, Figures 6 and 7), from its export.

Because keypoints track objects, moving them is moving the objects. This
module selects keypoints (`nearest_keypoints`, `match_objects`), moves them
over the observed steps (`translate`, `follow_path`), rolls the dynamics out
from the original and the moved keypoints with the same random numbers
(`counterfactual`) and renders any keypoints (`render`). It uses only the
signatures of a SavedModel loaded with `tf.saved_model.load`
(`predict_keypoints`, `reconstruct`, `detect_keypoints`). Arrays are numpy,
keypoints in the convention of `video_structure.keypoint_ops` (x, y in
[-1, 1], y up).
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from video_structure import rollouts, statistics


def _keypoints(keypoints, layout="[batch, time, K, 3]") -> np.ndarray:
    array = np.asarray(keypoints, np.float32)
    rank = layout.count(",") + 1
    if array.ndim != rank or array.shape[-1] != 3 or not np.all(np.isfinite(array)):
        raise ValueError(f"keypoints must be finite with shape {layout}, got shape {array.shape}.")
    return array


def _indices(indices: Sequence[int], num_keypoints: int) -> np.ndarray:
    indices = np.asarray(indices, np.int64).reshape(-1)
    if not len(indices) or np.any((indices < 0) | (indices >= num_keypoints)):
        raise ValueError(
            f"keypoint indices must be in [0, {num_keypoints - 1}], got {indices.tolist()}."
        )
    return indices


def nearest_keypoints(
    keypoints: np.ndarray, point: Sequence[float], count: int = 1, min_scale: float = 0.0
) -> np.ndarray:
    """The keypoints of one step nearest an image point, nearest first.

    Args:
        keypoints: [K, 3] keypoints of one step.
        point: (x, y) in keypoint coordinates.
        count: how many to return.
        min_scale: keypoints with mu below this (inactive ones) are not chosen.

    Returns:
        int64 [count] keypoint indices.

    Raises:
        ValueError: for a bad shape, or fewer than `count` keypoints with mu >= min_scale.
    """
    keypoints = _keypoints(keypoints, "[K, 3]")
    distances = np.hypot(*(keypoints[:, :2] - np.asarray(point, np.float32)).T)  # [K]
    active = keypoints[:, 2] >= min_scale
    if active.sum() < count:
        raise ValueError(
            f"{active.sum()} keypoints have mu >= min_scale={min_scale}; {count} were asked for."
        )
    return np.argsort(np.where(active, distances, np.inf), kind="stable")[:count]


def match_objects(
    observed_keypoints: np.ndarray, positions: np.ndarray, min_scale: float = 0.0
) -> np.ndarray:
    """For each ground-truth object, the keypoint that follows it best (Figure S3's selection).

    The best keypoint of an object is the one with the smallest mean distance
    to it over the sequences and steps where the object is present ("the
    keypoint which was closest to that player on average").

    Args:
        observed_keypoints: [num_seqs, time, K, 3] detected keypoints.
        positions: [num_seqs, time, N, 2] object positions, NaN where absent.
        min_scale: keypoints whose mean mu is below this (inactive ones, whose
            coordinates say nothing) are not candidates.

    Returns:
        int64 [N] keypoint index per object (-1 for an object never present, or
        no candidate).

    Raises:
        ValueError: for shapes that do not match.
    """
    keypoints = _keypoints(observed_keypoints, "[num_seqs, time, K, 3]")
    positions = np.asarray(positions, np.float32)
    if positions.ndim != 4 or positions.shape[:2] != keypoints.shape[:2] or positions.shape[3] != 2:
        raise ValueError(
            f"positions must have shape [num_seqs, time, N, 2] = {list(keypoints.shape[:2])} "
            f"+ [N, 2] for keypoints of shape {keypoints.shape}, got {positions.shape}."
        )
    # [S, T, N, K] distance of every object to every keypoint.
    distances = np.linalg.norm(positions[:, :, :, None] - keypoints[:, :, None, :, :2], axis=-1)
    mean = statistics.nanmean(distances.reshape(-1, *distances.shape[2:]), axis=0)  # [N, K]
    mean[:, keypoints[..., 2].mean(axis=(0, 1)) < min_scale] = np.nan
    never = np.all(np.isnan(mean), axis=1)
    return np.where(never, -1, np.argmin(np.nan_to_num(mean, nan=np.inf), axis=1))


def translate(
    keypoints: np.ndarray, indices: Sequence[int], offset: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Moves keypoints by a vector, or by one vector per step (a path of displacements).

    Args:
        keypoints: [batch, time, K, 3].
        indices: the keypoints to move.
        offset: (dx, dy) for every step, or [time, 2] one displacement per step.

    Returns:
        A moved copy of `keypoints`; the scales mu are kept.
    """
    keypoints = _keypoints(keypoints)
    indices = _indices(indices, keypoints.shape[2])
    offset = np.asarray(offset, np.float32)
    if offset.shape not in ((2,), (keypoints.shape[1], 2)):
        raise ValueError(
            f"offset must have shape [2] or [time, 2] = [{keypoints.shape[1]}, 2], "
            f"got {offset.shape}."
        )
    moved = keypoints.copy()
    moved[:, :, indices, :2] += offset.reshape(-1, 2)[None, :, None] if offset.ndim == 2 else offset
    return moved


def follow_path(keypoints: np.ndarray, indices: Sequence[int], path: np.ndarray) -> np.ndarray:
    """Moves keypoints so that their centre follows a path, keeping their arrangement.

    Args:
        keypoints: [batch, time, K, 3].
        indices: the keypoints to move (e.g. the several keypoints of one object).
        path: [time, 2] where their mean (x, y) goes at each step.

    Returns:
        A moved copy of `keypoints`.
    """
    keypoints = _keypoints(keypoints)
    indices = _indices(indices, keypoints.shape[2])
    path = np.asarray(path, np.float32)
    if path.shape != (keypoints.shape[1], 2):
        raise ValueError(
            f"path must have shape [time, 2] = [{keypoints.shape[1]}, 2], got {path.shape}."
        )
    centre = keypoints[:, :, indices, :2].mean(axis=2, keepdims=True)  # [batch, time, 1, 2]
    moved = keypoints.copy()
    moved[:, :, indices, :2] += path[None, :, None] - centre
    return moved


def counterfactual(
    loaded,
    observed_keypoints: np.ndarray,
    manipulated_keypoints: np.ndarray,
    num_samples: int,
    seed: Sequence[int] = (0, 0),
    actions: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Rolls the dynamics out from the original and the manipulated observed keypoints.

    Both rollouts draw the same random numbers (one stateless seed, the same
    batch layout), so that sample n of the two differs only by the manipulation.

    Args:
        loaded: the SavedModel (`export.load` or `tf.saved_model.load`).
        observed_keypoints, manipulated_keypoints: [batch, T, K, 3].
        num_samples: N.
        seed: the stateless seed, two ints.
        actions: [batch, T + Delta T, A] for action-conditional exports.

    Returns:
        {"original": [batch, N, T + Delta T, K, 3], "manipulated": the same}.
    """
    return {
        "original": predict(loaded, observed_keypoints, num_samples, seed, actions),
        "manipulated": predict(loaded, manipulated_keypoints, num_samples, seed, actions),
    }


def predict(
    loaded,
    observed_keypoints: np.ndarray,
    num_samples: int,
    seed: Sequence[int] = (0, 0),
    actions: np.ndarray | None = None,
) -> np.ndarray:
    """The export's `predict_keypoints` on numpy arrays.

    Args:
        loaded: the SavedModel.
        observed_keypoints: [batch, T, K, 3].
        num_samples: N.
        seed: the stateless seed, two ints.
        actions: [batch, T + Delta T, A] for action-conditional exports.

    Returns:
        [batch, N, T + Delta T, K, 3] decoded keypoints.
    """
    return rollouts.predict(
        loaded,
        tf.constant(_keypoints(observed_keypoints)),
        num_samples,
        tf.constant(seed, tf.int32),
        None if actions is None else tf.constant(actions, tf.float32),
    )["keypoints"].numpy()


def render(
    loaded, keypoints: np.ndarray, first_frame: np.ndarray, first_keypoints: np.ndarray
) -> np.ndarray:
    """Renders keypoints through the export's `reconstruct` (Figure 7).

    Args:
        loaded: the SavedModel.
        keypoints: [batch, time, K, 3], or [batch, N, time, K, 3] for samples.
        first_frame: [batch, H, W, C] in [0, 1], the frame the appearance comes from.
        first_keypoints: [batch, K, 3], its keypoints.

    Returns:
        float32 [batch, (N,) time, H, W, C] frames, not clipped.
    """
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.ndim == 5:
        samples = keypoints.shape[1]
        frames = render(
            loaded,
            keypoints.reshape(-1, *keypoints.shape[2:]),
            np.repeat(first_frame, samples, axis=0),
            np.repeat(first_keypoints, samples, axis=0),
        )
        return frames.reshape(keypoints.shape[:3] + frames.shape[2:])
    return loaded.reconstruct(
        tf.constant(_keypoints(keypoints)),
        tf.constant(np.asarray(first_frame, np.float32)),
        tf.constant(_keypoints(first_keypoints, "[batch, K, 3]")),
    )["frames"].numpy()


def detect(loaded, frames: np.ndarray) -> np.ndarray:
    """The export's detector: frames [batch, time, H, W, C] in [0, 1] -> [batch, time, K, 3]."""
    return loaded.detect_keypoints(tf.constant(np.asarray(frames, np.float32)))["keypoints"].numpy()
