"""Sample diversity: how far apart the N predicted futures of one sequence are (Figure S3).

Figure S3 shows that best-of-many training keeps the prior's samples apart
and that Struct-RNN has a single future; `sample_diversity` makes that a
number per model: the mean, over sequences and over the N (N - 1) / 2 pairs
of samples, of the distance between two predicted keypoint trajectories,
itself the mean over predicted steps and keypoints of the Euclidean distance
of their (x, y). A deterministic model scores exactly 0.
"""

import dataclasses

import numpy as np

from video_structure.downstream import checks


@dataclasses.dataclass(frozen=True)
class Diversity:
    """Mean pairwise distance of the samples.

    Attributes:
        mean: over sequences, pairs, predicted steps and keypoints.
        per_step: [Delta T] the same for each predicted step.
        per_sequence: [num_seqs] mean over pairs, predicted steps and keypoints.
    """

    mean: float
    per_step: np.ndarray
    per_sequence: np.ndarray


def sample_diversity(keypoints: np.ndarray, num_observed_steps: int) -> Diversity:
    """Mean pairwise distance between the predicted keypoint trajectories of each sequence.

    All keypoints count alike, whatever their scale mu: an inactive keypoint
    that wanders between samples still makes the samples differ.

    Args:
        keypoints: [num_seqs, num_samples, time, K, 3] decoded keypoints; the
            first `num_observed_steps` steps are observed.
        num_observed_steps: T.

    Returns:
        `Diversity`, in keypoint coordinates (the image spans 2).

    Raises:
        ValueError: for a bad shape, fewer than 2 samples, non-finite values or
            no predicted step.
    """
    keypoints = checks.float_array("keypoints", keypoints, "[num_seqs, num_samples, time, K, 3]")
    num_samples, num_steps = keypoints.shape[1:3]
    if num_samples < 2:
        raise ValueError(
            f"keypoints of shape {keypoints.shape} have {num_samples} sample per "
            "sequence; diversity needs at least 2."
        )
    if not 0 <= num_observed_steps < num_steps:
        raise ValueError(
            f"num_observed_steps must be in [0, {num_steps - 1}] for keypoints of "
            f"shape {keypoints.shape}, got {num_observed_steps}."
        )
    xy = keypoints[:, :, num_observed_steps:, :, :2].astype(np.float64)  # [S, N, T', K, 2]
    first, second = np.triu_indices(num_samples, k=1)  # the N (N - 1) / 2 pairs
    distances = np.linalg.norm(xy[:, first] - xy[:, second], axis=-1)  # [S, pairs, T', K]
    return Diversity(
        mean=float(distances.mean()),
        per_step=distances.mean(axis=(0, 1, 3)),
        per_sequence=distances.mean(axis=(1, 2, 3)),
    )
