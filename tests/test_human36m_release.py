"""Tests for video_structure.data.human36m_release, on a tiny fake release in the real layout."""

import json

import numpy as np
import pytest

from video_structure import config
from video_structure.data import human36m, human36m_release, loading

cdfwrite = pytest.importorskip("cdflib.cdfwrite", reason='needs pip install -e ".[human36m]"')
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason='needs pip install -e ".[human36m]"')

WIDTH, HEIGHT = 160, 128
NUM_FRAMES = 40  # 5 frames at 6.25 Hz


def _poses(num_frames, shift):
    """[F, 32, 2] pixels: a body whose points spread over a 40 x 60 box moving right."""
    rng = np.random.default_rng(shift)
    base = rng.uniform([0, 0], [40, 60], (32, 2))
    base[0], base[1] = [0, 0], [40, 60]  # the box's corners
    motion = np.arange(num_frames)[:, None, None] * np.array([1.0, 0.0])
    return base[None] + np.array([30.0 + shift, 40.0]) + motion


def _write_video(path, poses):
    """Grey frames with a white 5 x 5 square on each of the 12 kept joints."""
    writer = imageio_ffmpeg.write_frames(str(path), (WIDTH, HEIGHT), fps=50, quality=10)
    writer.send(None)
    for points in poses:
        frame = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
        for x, y in points[list(human36m_release.EVAL_JOINTS)]:
            frame[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = 255
        writer.send(frame.tobytes())
    writer.close()


def _write_cdf(path, poses):
    writer = cdfwrite.CDF(str(path), delete=True)
    flat = poses.reshape(1, len(poses), 64)
    spec = {
        "Variable": "Pose",
        "Data_Type": cdfwrite.CDF.CDF_DOUBLE,
        "Num_Elements": 1,
        "Rec_Vary": True,
        "Dim_Sizes": list(flat.shape[1:]),
    }
    writer.write_var(spec, var_data=flat)
    writer.close()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Every subject with two videos (one alias name), one video without poses, one _ALL video."""
    root = tmp_path_factory.mktemp("h36m")
    names = {"train": ["Walking 1.54138969", "WalkDog.55011271"], "test": ["Eating.58860488"]}
    for split, subjects in human36m_release.SUBJECTS.items():
        for index, subject in enumerate(subjects):
            (root / subject / "Videos").mkdir(parents=True)
            (root / subject / "MyPoseFeatures" / "D2_Positions").mkdir(parents=True)
            for name in names[split] if index == 0 else []:
                poses = _poses(NUM_FRAMES, shift=len(name))
                _write_video(root / subject / "Videos" / f"{name}.mp4", poses)
                _write_cdf(
                    root / subject / "MyPoseFeatures" / "D2_Positions" / f"{name}.cdf", poses
                )
    (root / "S1" / "Videos" / "_ALL 1.54138969.mp4").write_bytes(b"not an action")
    _write_video(root / "S9" / "Videos" / "Eating.60457274.mp4", _poses(8, 0))  # no poses
    output = tmp_path_factory.mktemp("h36m_out")
    marker = human36m_release.prepare(str(root), str(output), image_size=32)
    return root, output, marker


@pytest.mark.parametrize(
    "name,action",
    [
        ("Walking 1.54138969.mp4", "Walking"),
        ("WalkDog.55011271.mp4", "WalkingDog"),
        ("Photo 1.58860488.mp4", "TakingPhoto"),
        ("SittingDown 2.60457274.mp4", "SittingDown"),
        ("Sitting.60457274.mp4", "Sitting"),
    ],
)
def test_action_index_of_release_names(name, action):
    assert human36m.ACTIONS[human36m_release.action_index(name)] == action


@pytest.mark.parametrize("name", ["_ALL 1.54138969.mp4", "Walking.54138969.cdf", "Dancing.1.mp4"])
def test_other_files_have_no_action(name):
    assert human36m_release.action_index(name) is None


def test_square_crop_and_keypoints():
    points = np.array([[20.0, 30.0], [60.0, 50.0]])  # a 40 x 20 box centred at (40, 40)
    crop = human36m_release.square_crop(points, 100, 100)
    assert crop == (16, 16, 48)  # 40 * 1.2 wide, centred
    np.testing.assert_allclose(
        human36m_release.pixels_to_keypoints(np.array([[16.0, 16.0], [64.0, 64.0]]), crop),
        [[-1, 1], [1, -1]],
    )
    # Centred at (120, 120), 144 wide: cut to the frame's 80 and moved inside it.
    assert human36m_release.square_crop(points * 3, 100, 80) == (20, 0, 80)


def test_prepare_writes_the_documented_splits(release):
    _, output, marker = release
    assert marker["videos"] == {"train": 2, "test": 1}
    assert marker["without_poses"][0].endswith("S9/MyPoseFeatures/D2_Positions/Eating.60457274.cdf")
    assert json.loads((output / human36m_release.MARKER_NAME).read_text())["hz"] == 6.25
    train = human36m.load_human36m_sequences(str(output / "train"))
    test = human36m.load_human36m_sequences(str(output / "test"))
    assert [s.name for s in train] == ["S1_WalkDog.55011271", "S1_Walking_1.54138969"]
    assert [s.name for s in test] == ["S9_Eating.58860488"]
    assert [human36m.ACTIONS[s.action_label] for s in train + test] == [
        "WalkingDog",
        "Walking",
        "Eating",
    ]


def test_frames_are_subsampled_cropped_and_the_joints_lie_on_their_squares(release):
    _, output, _ = release
    (sequence,) = human36m.load_human36m_sequences(str(output / "test"))
    assert sequence.image.shape == (NUM_FRAMES // 8, 32, 32, 3)
    poses = _poses(NUM_FRAMES, shift=len("Eating.58860488"))[::8]
    crop = human36m_release.square_crop(poses, WIDTH, HEIGHT)
    expected = human36m_release.pixels_to_keypoints(
        poses[:, list(human36m_release.EVAL_JOINTS)], crop
    )
    np.testing.assert_allclose(sequence.positions, expected, atol=1e-6)
    assert np.all(np.abs(sequence.positions) <= 1)
    # Each joint's pixel is bright (its square), the frame's mean is the grey.
    for frame, joints in zip(sequence.image, sequence.positions):
        columns = np.clip(((joints[:, 0] + 1) * 16).astype(int), 0, 31)
        rows = np.clip(((1 - joints[:, 1]) * 16).astype(int), 0, 31)
        assert frame[rows, columns].mean() > 120 > frame.mean()


def test_the_dataset_reads_with_labels_for_training_and_action_recognition(release):
    _, output, _ = release
    cfg = config.get_preset("synthetic", batch_size=2, observed_steps=2, predicted_steps=1)
    data, _ = loading.load_split(
        "human36m", "train", cfg, 2, data_dir=str(output), shuffle=False, repeat=False
    )
    batch = next(iter(data))
    loading.check_batch(batch, cfg, "human36m")
    assert batch["positions"].shape == (2, 3, 12, 2)
    labels = {human36m.ACTIONS.index("WalkingDog"), human36m.ACTIONS.index("Walking")}
    assert set(batch["label"].numpy()) <= labels and batch["label"].dtype == np.int32


def test_prepare_names_a_missing_subject(tmp_path):
    with pytest.raises(FileNotFoundError, match="S1/Videos does not exist"):
        human36m_release.prepare(str(tmp_path), str(tmp_path / "out"))
