"""The Basketball dataset of Section 5.1: plays rendered as coloured dots on a top-down court.

The paper renders "a synthetic top-down view of a basketball court containing
five offensive players and the ball, all drawn as colored dots", from the
trajectories of Zhan et al. (ICLR 2019, the paper's [37]). `render` draws
such videos from trajectory arrays, `write_split` writes them in the authors'
npz format that `video_structure.data.npz` reads; `basketball_plays` makes
synthetic plays for it, so that train.py runs without the real data.

Accepted trajectory layouts (feet, (0, 0) at the bottom-left corner of the
court, the offence attacking the basket on the left, as in Zhan et al.'s
data), float [plays, T, ...]:

* [plays, T, 22]: Zhan et al.'s layout, (x, y) of the ball, the 5 offensive
  players, then the 5 defensive players (the defence is not drawn).
  Their code's files hold 107,146 train and 13,845 test plays of 50 steps at
  6.25 Hz (the paper's sequence counts: one video per play); the later public
  release, `np.load("train.npz")["data"]`, has 104,003 and 13,464.
* [plays, T, 12]: (x, y) of the ball, then the 5 offensive players.
* [plays, T, 6, 2]: the same, one row per object.

Text files in Zhan et al.'s format (one step per line, 22 numbers, plays of
`play_length` lines one after the other) load with `load_trajectories`.
"""

import os

import numpy as np

from video_structure import files
from video_structure.data import synthetic

SPLITS = ("train", "test")
# The visible part of the court, feet: the offensive half and a margin beyond
# the half-court line (47 ft), a square so that feet scale alike in x and y.
COURT_FEET = 50.0
PLAY_LENGTH = 50  # Steps per play of Zhan et al.'s data (8 s at 6.25 Hz).
NUM_PLAYERS = 5
# Object order of `render`'s positions: the 5 players, then the ball.
PLAYER_COLORS = synthetic.BLOB_COLORS[[0, 1, 2, 4, 5]]  # red, green, blue, magenta, cyan
BALL_COLOR = synthetic.BLOB_COLORS[3]  # yellow, as the ball of the paper's Figure S6
PLAYER_RADIUS_FEET = 1.8
BALL_RADIUS_FEET = 1.1
_FLOOR = np.array([0.62, 0.47, 0.32], np.float32)
_LINE = np.array([0.92, 0.9, 0.85], np.float32)
_LINE_WIDTH_FEET = 0.5
# Written last into a complete dataset directory.
MARKER_NAME = "basketball.json"
DEFAULT_DIR = os.path.join(files.DATA_ROOT, "basketball")


def players_and_ball(trajectories: np.ndarray, source: str = "trajectories") -> np.ndarray:
    """The 5 offensive players and the ball of any accepted layout (module docstring).

    Args:
        trajectories: float [plays, T, 22], [plays, T, 12] or [plays, T, 6, 2], feet.
        source: names the array in errors.

    Returns:
        float64 [plays, T, 6, 2] feet: the 5 players, then the ball.

    Raises:
        ValueError: for another layout or non-finite values.
    """
    array = np.asarray(trajectories, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] in (22, 12):
        objects = array[..., :12].reshape(array.shape[:2] + (6, 2))
    elif array.ndim == 4 and array.shape[2:] == (6, 2):
        objects = array
    else:
        raise ValueError(
            f"{source} has shape {array.shape}; expected [plays, T, 22] (ball, 5 offence, "
            "5 defence), [plays, T, 12] (ball, 5 offence) or [plays, T, 6, 2], in feet."
        )
    if not np.all(np.isfinite(objects)):
        raise ValueError(f"{source} contains NaN or infinite coordinates.")
    return np.concatenate([objects[:, :, 1:], objects[:, :, :1]], axis=2)


def load_trajectories(path: str, play_length: int = PLAY_LENGTH) -> np.ndarray:
    """Reads a trajectory file: .npz (array `data`, the public release), .npy or .txt.

    Args:
        path: the file.
        play_length: steps per play of a .txt file (one step per line).

    Returns:
        The array as stored, float64 (see `players_and_ball` for layouts).

    Raises:
        FileNotFoundError: a missing file.
        ValueError: an unreadable file, an npz without `data`, or a .txt whose
            lines are not whole plays.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Trajectory file {path} does not exist.")
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".npz":
            with np.load(path) as arrays:
                if "data" not in arrays:
                    raise ValueError(f"{path} has no array `data` (has {sorted(arrays.files)}).")
                return arrays["data"].astype(np.float64)
        if suffix == ".npy":
            return np.load(path).astype(np.float64)
        if suffix == ".txt":
            steps = np.loadtxt(path, ndmin=2)
        else:
            raise ValueError(f"{path}: expected a .npz, .npy or .txt file.")
    except (OSError, ValueError) as error:
        if str(error).startswith(path):
            raise
        raise ValueError(f"{path} is not readable: {error}") from error
    if len(steps) % play_length:
        raise ValueError(
            f"{path} has {len(steps)} lines, not a multiple of play_length={play_length}."
        )
    return steps.reshape(-1, play_length, steps.shape[-1])


def feet_to_keypoints(feet: np.ndarray) -> np.ndarray:
    """Court feet to keypoint coordinates ([-1, 1], y up: feet's y points up already)."""
    return (2.0 * feet / COURT_FEET - 1.0).astype(np.float32)


def _segment_distance(px, py, a, b):
    """Distance of points (px, py) from the segment a-b (all in feet)."""
    ab = np.subtract(b, a)
    t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / np.dot(ab, ab), 0.0, 1.0)
    return np.hypot(px - a[0] - t * ab[0], py - a[1] - t * ab[1])


def _arc_distance(px, py, centre, radius, min_x=-np.inf):
    """Distance from a circle of `radius` around `centre`, kept where x >= min_x."""
    distance = np.abs(np.hypot(px - centre[0], py - centre[1]) - radius)
    return np.where(px >= min_x, distance, np.inf)


def court(image_size: int = 64) -> np.ndarray:
    """The static court: floor and lines of an NBA half court, float32 [H, W, 3] in [0, 1].

    Baseline, sidelines and half-court line; the key (16 ft wide, 19 ft
    deep) with its free-throw circle; the three-point line (corners 3 ft from
    the sidelines, 23.75 ft arc around the basket) and the rim, 5.25 ft from
    the baseline.
    """
    scale = COURT_FEET / image_size  # feet per pixel
    centres = (np.arange(image_size) + 0.5) * scale
    px = centres[None, :]
    py = COURT_FEET - centres[:, None]  # row 0 is the top of the court
    basket = (5.25, 25.0)
    corner_x = basket[0] + np.sqrt(23.75**2 - 22.0**2)  # where the arc meets the corner lines
    distances = [
        _segment_distance(px, py, (0, 0), (0, 50)),
        _segment_distance(px, py, (0, 0), (47, 0)),
        _segment_distance(px, py, (0, 50), (47, 50)),
        _segment_distance(px, py, (47, 0), (47, 50)),
        _segment_distance(px, py, (0, 17), (19, 17)),
        _segment_distance(px, py, (0, 33), (19, 33)),
        _segment_distance(px, py, (19, 17), (19, 33)),
        _arc_distance(px, py, (19, 25), 6.0, min_x=19),
        _segment_distance(px, py, (0, 3), (corner_x, 3)),
        _segment_distance(px, py, (0, 47), (corner_x, 47)),
        _arc_distance(px, py, basket, 23.75, min_x=corner_x),
        _arc_distance(px, py, basket, 0.75),
    ]
    distance = np.min(distances, axis=0) / scale  # pixels
    alpha = np.clip(0.5 + 0.5 * _LINE_WIDTH_FEET / scale - distance, 0.0, 1.0)[..., None]
    return ((1 - alpha) * _FLOOR + alpha * _LINE).astype(np.float32)


def render(trajectories: np.ndarray, image_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Draws plays as videos of coloured dots on the court.

    Args:
        trajectories: any layout of `players_and_ball`, feet.
        image_size: height and width of the frames.

    Returns:
        frames: uint8 [plays, T, image_size, image_size, 3].
        positions: float32 [plays, T, 6, 2] centres of the 5 players and the
            ball in keypoint coordinates (outside [-1, 1] where an object
            leaves the visible court).
    """
    objects = players_and_ball(trajectories)
    num_plays, num_steps = objects.shape[:2]
    keypoints = feet_to_keypoints(objects)
    # Pixel coordinates, (column, row) with pixel centres at integers.
    pixels = np.stack(
        [
            (keypoints[..., 0] + 1) * image_size / 2 - 0.5,
            (1 - keypoints[..., 1]) * image_size / 2 - 0.5,
        ],
        axis=-1,
    ).astype(np.float32)
    radii = np.array([PLAYER_RADIUS_FEET] * NUM_PLAYERS + [BALL_RADIUS_FEET], np.float32) * (
        image_size / COURT_FEET
    )
    colors = np.concatenate([PLAYER_COLORS, BALL_COLOR[None]])
    # Each dot is drawn in a window around it, on a court padded by the
    # window, so that dots partly or wholly off the court need no care.
    size = int(np.ceil(2 * radii.max())) + 3
    pad = size
    image = np.pad(court(image_size), ((pad, pad), (pad, pad), (0, 0)))
    image = np.repeat(np.repeat(image[None, None], num_plays, 0), num_steps, 1)
    plays, steps = np.meshgrid(np.arange(num_plays), np.arange(num_steps), indexing="ij")
    offsets = np.arange(size) - size // 2
    for index in range(len(radii)):  # The ball last, on top of the player holding it.
        centre = np.clip(pixels[:, :, index], -size, image_size + size)  # [plays, T, 2]
        corner = np.round(centre).astype(np.int64) - size // 2 + pad  # window's first column, row
        columns = corner[..., 0, None] + np.arange(size)  # [plays, T, size]
        rows = corner[..., 1, None] + np.arange(size)
        dx = (np.round(centre[..., 0]) - centre[..., 0])[..., None, None] + offsets[None, :]
        dy = (np.round(centre[..., 1]) - centre[..., 1])[..., None, None] + offsets[:, None]
        alpha = synthetic.shape_coverage("disc", dx, dy, radii[index])[..., None]
        window = (
            plays[..., None, None],
            steps[..., None, None],
            rows[..., :, None],
            columns[..., None, :],
        )
        image[window] = (1 - alpha) * image[window] + alpha * colors[index]
    frames = np.round(image[:, :, pad:-pad, pad:-pad] * 255).astype(np.uint8)
    return frames, keypoints


def write_split(
    output_dir: str, split: str, trajectories: np.ndarray, image_size: int = 64, progress=None
) -> int:
    """Renders plays into <output_dir>/<split>/<index>.npz, one file per play.

    Files are written atomically and one that exists is kept, so an
    interrupted run resumes where it stopped.

    Args:
        output_dir: the dataset directory.
        split: "train" or "test".
        trajectories: any layout of `players_and_ball`, feet.
        image_size: frame height and width.
        progress: fn(plays done) called after each chunk, or None.

    Returns:
        The number of plays in the split.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {SPLITS}.")
    objects = np.asarray(trajectories)
    players_and_ball(objects, f"the {split} trajectories")  # Checked before anything is written.
    split_dir = os.path.join(output_dir, split)
    os.makedirs(split_dir, exist_ok=True)
    digits = max(6, len(str(len(objects) - 1)))
    chunk = 64  # Plays rendered at once: bounds memory use.
    for start in range(0, len(objects), chunk):
        paths = [
            os.path.join(split_dir, f"{index:0{digits}d}.npz")
            for index in range(start, min(start + chunk, len(objects)))
        ]
        todo = [i for i, path in enumerate(paths) if not os.path.exists(path)]
        if todo:
            frames, positions = render(objects[start:][todo], image_size)
            for i, image, position in zip(todo, frames, positions):
                files.atomic_write(
                    paths[i],
                    lambda f, image=image, position=position: np.savez_compressed(
                        f, image=image, true_object_pos=position
                    ),
                )
        if progress:
            progress(start + len(paths))
    return len(objects)


def write_dataset(
    output_dir: str, splits: dict[str, np.ndarray], image_size: int = 64, source: str = ""
) -> None:
    """Renders every split and then writes the marker that says the dataset is complete.

    Args:
        output_dir: the dataset directory.
        splits: {split: trajectories}.
        image_size: frame height and width.
        source: what the plays came from, recorded in the marker.
    """
    counts = {}
    for split, trajectories in splits.items():
        counts[split] = write_split(output_dir, split, trajectories, image_size)
        print(f"Wrote {counts[split]} {split} plays to {os.path.join(output_dir, split)}.")
    files.write_json(
        os.path.join(output_dir, MARKER_NAME),
        {"plays": counts, "image_size": image_size, "source": source},
    )


def is_complete(data_dir: str) -> bool:
    """Whether `write_dataset` finished writing data_dir."""
    return os.path.exists(os.path.join(data_dir, MARKER_NAME))
