"""Loader of Human3.6M videos with action labels (Section S2.2).

Human3.6M is not bundled; `load_human36m_sequences` reads the files that
`human36m_release.prepare` makes from the user's copy of the release, for
`video_structure.downstream.action`.
"""

import dataclasses
import os
import zipfile

import numpy as np

from video_structure.downstream import checks

# The 15 action categories of Human3.6M; `action_label` indexes this tuple
# in the files `human36m_release.prepare` writes.
ACTIONS = (
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "TakingPhoto",
    "Waiting",
    "Walking",
    "WalkingDog",
    "WalkingTogether",
)
NUM_ACTIONS = len(ACTIONS)


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
    if not 0 <= int(label) < NUM_ACTIONS:
        raise ValueError(
            f"{path}: action_label must be one integer in [0, {NUM_ACTIONS}), got {int(label)}."
        )
    positions = arrays.get("true_object_pos")
    if positions is not None:
        if positions.shape[:1] + positions.shape[2:] != (image.shape[0], 2):
            raise ValueError(
                f"{path}: true_object_pos must be [T, N, 2] with T = {image.shape[0]} "
                f"(image shape {image.shape}), got shape {positions.shape}."
            )
        # NaN marks an object absent from a frame, as in the downstream tasks.
        positions = checks.float_array(
            f"{path}: true_object_pos", positions, "[T, N, 2]", allow_nan=True
        )
    name = os.path.splitext(os.path.basename(path))[0]
    return Human36mSequence(name, image, int(label), positions)


def load_human36m_sequences(path: str) -> list[Human36mSequence]:
    """Loads user-supplied Human3.6M sequences (Human3.6M is not bundled).

    `path` is a directory with one .npz file per video in the authors' format
    that `video_structure.data.npz.npz_dataset` reads (other files are
    ignored), plus the action label:
      image: uint8 [T, H, W, C] frames (64 x 64 in the paper, 6.25 Hz).
      action_label: integer scalar, the action class in [0, 15), an index
        into ACTIONS (as `human36m_release.prepare` writes them).
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
