"""Human3.6M as the paper uses it, made from the licensed release (Sections 5.1, S2.2).

The release ships, per subject (its subject archives unpacked into one
directory):

    S1/Videos/<Action>[ <n>].<camera>.mp4                       50 Hz, about 1000 x 1000
    S1/MyPoseFeatures/D2_Positions/<Action>[ <n>].<camera>.cdf  variable `Pose`, [1, F, 64]

D2_Positions are the release's projections of its 32 motion-capture points
into each camera's image (pixels, x right, y down), made with its own camera
parameters, distortion included; they are read as they are rather than
projected again from D3_Positions.

`prepare` turns every video of subjects S1, S5, S6, S7, S8 (train) and S9,
S11 (test) whose action is one of the 15 categories into one npz file in
`video_structure.data.npz`'s format: frames subsampled from 50 to 6.25 Hz
(every 8th), cropped to a square around the subject (the box of all its
projected points over the video, 20% larger, inside the frame; one crop per
video, so that the camera stays still) and resized to 64 x 64; the 12
`EVAL_JOINTS` in keypoint coordinates as `true_object_pos`; the action's index
in `human36m.ACTIONS` as `action_label`. With one video per camera, the five
training subjects give 600 videos and S9, S11 the paper's 239 where all 240
are readable.

Reading the release needs two optional packages (`pip install -e
".[human36m]"`): cdflib for the pose files and imageio-ffmpeg, whose wheel
brings an ffmpeg binary, for the videos.
"""

import os
import re

import numpy as np
from PIL import Image

from video_structure import files
from video_structure.data import human36m

SUBJECTS = {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")}
SOURCE_HZ = 50.0
STRIDE = 8  # 50 Hz / 8 = the paper's 6.25 Hz
NUM_POINTS = 32
# The 12 points kept for evaluation. The paper does not name them; these are
# the limbs' joints, the ones of the 17 points that move (Martinez et al.
# 2017's list) that are not on the torso or head: hips, knees, feet,
# shoulders, elbows and wrists. They carry the motion that tells the
# actions apart, and of the torso and head the hips and shoulders already
# give position and orientation.
EVAL_JOINTS = {
    1: "right hip",
    2: "right knee",
    3: "right foot",
    6: "left hip",
    7: "left knee",
    8: "left foot",
    17: "left shoulder",
    18: "left elbow",
    19: "left wrist",
    25: "right shoulder",
    26: "right elbow",
    27: "right wrist",
}
CROP_MARGIN = 1.2
# File names spell some actions otherwise in some subjects.
_ALIASES = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog", "WalkTogether": "WalkingTogether"}
_VIDEO_NAME = re.compile(r"^(?P<action>[A-Za-z]+)( \d+)?\.(?P<camera>\d+)\.mp4$")
MARKER_NAME = "human36m.json"
DEFAULT_DIR = os.path.join(files.DATA_ROOT, "human36m")
_EXTRAS = (
    'Reading the Human3.6M release needs cdflib and imageio-ffmpeg: pip install -e ".[human36m]"'
)


def action_index(video_name: str) -> int | None:
    """The index in `human36m.ACTIONS` of a release video's file name; None for other videos."""
    match = _VIDEO_NAME.match(video_name)
    if not match:
        return None
    action = _ALIASES.get(match["action"], match["action"])
    return human36m.ACTIONS.index(action) if action in human36m.ACTIONS else None


def square_crop(points: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """The square (left, top, side) in pixels around all points, CROP_MARGIN larger, in the frame.

    Args:
        points: float [..., 2] pixel coordinates (x right, y down).
        width, height: the frame's size.
    """
    flat = points.reshape(-1, 2)
    low, high = flat.min(axis=0), flat.max(axis=0)
    side = int(round(min(max(high - low) * CROP_MARGIN, width, height)))
    side = max(side, 1)
    centre = (low + high) / 2
    left = int(np.clip(round(centre[0] - side / 2), 0, width - side))
    top = int(np.clip(round(centre[1] - side / 2), 0, height - side))
    return left, top, side


def pixels_to_keypoints(points: np.ndarray, crop: tuple[int, int, int]) -> np.ndarray:
    """Pixel coordinates of the frame to keypoint coordinates of the crop ([-1, 1], y up)."""
    left, top, side = crop
    x = 2 * (points[..., 0] - left) / side - 1
    y = 1 - 2 * (points[..., 1] - top) / side
    return np.stack([x, y], axis=-1).astype(np.float32)


def read_poses(path: str) -> np.ndarray:
    """The 32 projected points of a D2_Positions file, float64 [F, 32, 2] pixels."""
    import cdflib

    try:
        pose = np.asarray(cdflib.CDF(path).varget("Pose"), np.float64)
    except Exception as error:  # cdflib raises many types for damaged files.
        raise ValueError(f"{path} is not a readable CDF file with `Pose`: {error}") from error
    if pose.size % (NUM_POINTS * 2) or pose.size == 0:
        raise ValueError(
            f"{path}: `Pose` has shape {pose.shape}; expected [1, F, {NUM_POINTS * 2}]."
        )
    return pose.reshape(-1, NUM_POINTS, 2)


def read_frames(path: str, stride: int, count: int):
    """Every `stride`-th of a video's first `count` frames: ([uint8 [H, W, 3]], (W, H))."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        width, height = meta["size"]
        frames = []
        for index, data in enumerate(reader):
            if index >= count:
                break
            if index % stride == 0:
                frames.append(np.frombuffer(data, np.uint8).reshape(height, width, 3))
        reader.close()
    except (OSError, RuntimeError, StopIteration) as error:
        raise ValueError(f"{path} is not a readable video: {error}") from error
    return frames, (width, height)


def convert_video(video_path: str, pose_path: str, image_size: int = 64) -> dict[str, np.ndarray]:
    """One release video as the arrays of its npz file (module docstring).

    Args:
        video_path: the .mp4.
        pose_path: its D2_Positions .cdf.
        image_size: height and width of the frames written.

    Returns:
        {"image": uint8 [T, S, S, 3], "true_object_pos": float32 [T, 12, 2]}.

    Raises:
        ValueError: naming a file that cannot be read.
    """
    poses = read_poses(pose_path)
    frames, (width, height) = read_frames(video_path, STRIDE, len(poses))
    if not frames:
        raise ValueError(f"{video_path} has no frames.")
    # Video and poses can differ by a few frames at the end: keep the common part.
    poses = poses[::STRIDE][: len(frames)]
    frames = frames[: len(poses)]
    crop = square_crop(poses, width, height)
    left, top, side = crop
    image = np.stack(
        [
            np.asarray(
                Image.fromarray(frame[top : top + side, left : left + side]).resize(
                    (image_size, image_size), Image.BOX
                )
            )
            for frame in frames
        ]
    )
    joints = pixels_to_keypoints(poses[:, list(EVAL_JOINTS)], crop)
    return {"image": image, "true_object_pos": joints}


def release_videos(release_dir: str, subject: str):
    """(video path, pose path, action index) of a subject's videos of the 15 actions.

    Raises:
        FileNotFoundError: for a missing subject or Videos folder.
    """
    video_dir = os.path.join(release_dir, subject, "Videos")
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(
            f"{video_dir} does not exist: the Human3.6M release directory needs every subject "
            f"of {', '.join(SUBJECTS['train'] + SUBJECTS['test'])} with its Videos and "
            "MyPoseFeatures/D2_Positions folders."
        )
    pose_dir = os.path.join(release_dir, subject, "MyPoseFeatures", "D2_Positions")
    for name in sorted(os.listdir(video_dir)):
        label = action_index(name)
        if label is not None:
            stem = name[: -len(".mp4")]
            yield os.path.join(video_dir, name), os.path.join(pose_dir, stem + ".cdf"), label


def prepare(release_dir: str, output_dir: str = DEFAULT_DIR, image_size: int = 64) -> dict:
    """Writes <output_dir>/train and /test from the release (module docstring).

    Files are written atomically and one that exists is kept, so an
    interrupted run resumes; videos without a pose file are left out and
    listed. A marker with the counts is written last.

    Args:
        release_dir: the unpacked release (S1/, S5/, ...).
        output_dir: the dataset directory.
        image_size: frame height and width.

    Returns:
        The marker: videos per split and those left out.

    Raises:
        FileNotFoundError: for a missing subject folder.
        ImportError: without the optional packages.
        ValueError: naming a file that cannot be read.
    """
    try:
        import cdflib  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{_EXTRAS} ({error}).") from error
    counts, missing = {}, []
    for split, subjects in SUBJECTS.items():
        counts[split] = 0
        for subject in subjects:
            for video, pose, label in release_videos(release_dir, subject):
                if not os.path.exists(pose):
                    missing.append(pose)
                    continue
                name = f"{subject}_{os.path.basename(pose)[: -len('.cdf')]}".replace(" ", "_")
                path = os.path.join(output_dir, split, name + ".npz")
                if not os.path.exists(path):
                    arrays = convert_video(video, pose, image_size)
                    files.atomic_write(
                        path,
                        lambda f, arrays=arrays, label=label: np.savez_compressed(
                            f, action_label=np.int32(label), **arrays
                        ),
                    )
                counts[split] += 1
            print(f"{subject}: {counts[split]} {split} videos so far.", flush=True)
    if missing:
        print(f"Left out {len(missing)} videos without a pose file: {', '.join(missing[:5])}")
    marker = {
        "videos": counts,
        "without_poses": missing,
        "image_size": image_size,
        "hz": SOURCE_HZ / STRIDE,
        "joints": [EVAL_JOINTS[j] for j in EVAL_JOINTS],
        "actions": list(human36m.ACTIONS),
    }
    files.write_json(os.path.join(output_dir, MARKER_NAME), marker)
    return marker
