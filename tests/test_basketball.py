"""Tests for video_structure.data.basketball."""

import numpy as np
import pytest

from video_structure import config
from video_structure.data import basketball, loading

# One play of 3 steps: the ball, then 5 offensive players, far apart (feet).
_BALL_AND_PLAYERS = (
    np.array([[[25.0, 25.0], [8, 8], [8, 42], [40, 8], [40, 42], [25, 10]]] * 3)
    + np.arange(3)[:, None, None]
)


def _layouts(objects):
    """The play in every accepted layout (defence at random for Zhan et al.'s)."""
    flat = objects.reshape(objects.shape[:2] + (12,))
    defence = np.random.default_rng(0).uniform(0, 50, flat.shape[:2] + (10,))
    return [objects, flat, np.concatenate([flat, defence], axis=-1)]


@pytest.mark.parametrize("layout", range(3))
def test_players_and_ball_of_every_layout(layout):
    trajectories = _layouts(_BALL_AND_PLAYERS[None])[layout]
    objects = basketball.players_and_ball(trajectories)
    assert objects.shape == (1, 3, 6, 2)
    np.testing.assert_array_equal(objects[0, :, :5], _BALL_AND_PLAYERS[:, 1:])
    np.testing.assert_array_equal(objects[0, :, 5], _BALL_AND_PLAYERS[:, 0])


@pytest.mark.parametrize(
    "array,match",
    [(np.zeros((1, 3, 20)), r"shape \(1, 3, 20\)"), (np.full((1, 3, 22), np.nan), "NaN")],
)
def test_players_and_ball_refuses_other_arrays(array, match):
    with pytest.raises(ValueError, match=match):
        basketball.players_and_ball(array, "my plays")


def test_render_draws_each_object_in_its_colour_at_its_position():
    frames, positions = basketball.render(_BALL_AND_PLAYERS[None], image_size=64)
    assert frames.shape == (1, 3, 64, 64, 3) and frames.dtype == np.uint8
    # Feet to keypoints: 0 ft -> -1, 50 ft -> 1, y up.
    np.testing.assert_allclose(positions[0, 0, 0], [8 / 25 - 1, 8 / 25 - 1], atol=1e-6)
    colors = np.concatenate([basketball.PLAYER_COLORS, basketball.BALL_COLOR[None]])
    for step in range(3):
        for index, (x, y) in enumerate(positions[0, step]):
            column = int((x + 1) * 32 - 0.5 + 0.5)
            row = int((1 - y) * 32 - 0.5 + 0.5)
            np.testing.assert_allclose(frames[0, step, row, column] / 255, colors[index], atol=0.01)
    # Far from every dot the frame is the court.
    court = np.round(basketball.court(64) * 255)
    np.testing.assert_array_equal(frames[0, 0, 30:34, 0:4], court[30:34, 0:4])
    assert len(np.unique(court.reshape(-1, 3), axis=0)) > 2  # floor, lines, blends


def test_load_trajectories_of_every_file_format(tmp_path):
    plays = np.random.default_rng(0).uniform(0, 50, (2, 4, 22))
    np.savez(tmp_path / "train.npz", data=plays)
    np.save(tmp_path / "train.npy", plays)
    np.savetxt(tmp_path / "train.txt", plays.reshape(8, 22))
    for name in ("train.npz", "train.npy", "train.txt"):
        loaded = basketball.load_trajectories(str(tmp_path / name), play_length=4)
        np.testing.assert_allclose(loaded, plays, rtol=1e-12)
    with pytest.raises(ValueError, match="not a multiple of play_length=3"):
        basketball.load_trajectories(str(tmp_path / "train.txt"), play_length=3)
    np.savez(tmp_path / "other.npz", positions=plays)
    with pytest.raises(ValueError, match=r"other.npz has no array `data`"):
        basketball.load_trajectories(str(tmp_path / "other.npz"))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        basketball.load_trajectories(str(tmp_path / "missing.npz"))


def test_written_dataset_is_the_basketball_dataset(tmp_path):
    rng = np.random.default_rng(1)
    splits = {split: rng.uniform(5, 45, (3, 5, 6, 2)) for split in basketball.SPLITS}
    basketball.write_dataset(str(tmp_path), splits, image_size=32, source="test")
    assert basketball.is_complete(str(tmp_path))
    cfg = config.get_preset("synthetic", batch_size=3, observed_steps=3, predicted_steps=2)
    data, action_size = loading.load_split(
        "basketball", "test", cfg, 3, data_dir=str(tmp_path), shuffle=False, repeat=False
    )
    (batch,) = list(data)
    frames, positions = basketball.render(splits["test"], image_size=32)
    assert action_size == 0
    np.testing.assert_allclose(batch["positions"].numpy(), positions, atol=1e-6)
    np.testing.assert_allclose(batch["frames"].numpy(), frames / 255, atol=1e-6)
    # A rerun keeps the files written (resuming), rewriting none.
    path = tmp_path / "test" / "000000.npz"
    mtime = path.stat().st_mtime_ns
    basketball.write_dataset(str(tmp_path), splits, image_size=32)
    assert path.stat().st_mtime_ns == mtime
