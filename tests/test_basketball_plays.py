"""Tests for video_structure.data.basketball_plays."""

import numpy as np
import pytest

from video_structure.data import basketball, basketball_plays


@pytest.fixture(scope="module")
def plays():
    return basketball_plays.generate(200, seed=3)


def test_plays_are_deterministic_and_the_splits_differ(plays):
    np.testing.assert_array_equal(basketball_plays.generate(200, seed=3), plays)
    assert not np.allclose(basketball_plays.generate(200, seed=3, split="test"), plays)
    assert plays.shape == (200, basketball.PLAY_LENGTH, 6, 2)


def test_players_move_with_momentum_inside_the_court(plays):
    players = plays[:, :, 1:]
    assert np.all(players >= basketball_plays.BOUNDS[0] - 1e-9)
    assert np.all(players <= basketball_plays.BOUNDS[1] + 1e-9)
    steps = np.diff(players, axis=1)
    assert np.linalg.norm(steps, axis=-1).max() <= 2 * basketball_plays.MAX_SPEED + 1e-9
    # Momentum: a player's step is much like the one before it.
    cosine = np.sum(steps[:, 1:] * steps[:, :-1], -1) / (
        np.linalg.norm(steps[:, 1:], axis=-1) * np.linalg.norm(steps[:, :-1], axis=-1) + 1e-9
    )
    assert np.median(cosine) > 0.5


def test_the_ball_is_held_or_passed_between_players(plays):
    ball, players = plays[:, :, 0], plays[:, :, 1:]
    distance = np.linalg.norm(ball[:, :, None] - players, axis=-1)  # [plays, T, 5]
    held = distance.min(axis=-1) <= 1.0 + 1e-9
    assert held.mean() > 0.6  # dribbled beside the carrier most of the time
    ball_steps = np.linalg.norm(np.diff(ball, axis=1), axis=-1)
    flying = ~held[:, 1:]
    assert ball_steps[flying].max() <= basketball_plays.PASS_SPEED + 1e-9
    carriers = np.where(held, distance.argmin(axis=-1), -1)
    passes = [len(set(c[c >= 0])) - 1 for c in carriers]
    assert np.mean(passes) > 1  # several players hold the ball in a play


def test_teammates_gather_around_the_carrier(plays):
    ball, players = plays[:, :, 0], plays[:, :, 1:]
    # Late in a play the teammates are nearer the ball than in another play's
    # frames: they follow the carrier, not an independent drift.
    late = slice(30, None)
    own = np.linalg.norm(players[:, late] - ball[:, late, None], axis=-1).mean()
    other = np.linalg.norm(
        players[:, late] - np.roll(ball, 1, axis=0)[:, late, None], axis=-1
    ).mean()
    assert own < 0.8 * other


def test_prepare_writes_synthetic_plays_once(tmp_path, monkeypatch):
    monkeypatch.setattr(basketball_plays, "DEFAULT_TRAIN_PLAYS", 2)
    monkeypatch.setattr(basketball_plays, "DEFAULT_TEST_PLAYS", 1)
    basketball_plays.prepare(str(tmp_path), image_size=16, seed=5)
    names = {
        split: sorted(p.name for p in (tmp_path / split).iterdir()) for split in ("train", "test")
    }
    assert names == {"train": ["000000.npz", "000001.npz"], "test": ["000000.npz"]}
    with np.load(tmp_path / "train" / "000001.npz") as arrays:
        _, positions = basketball.render(basketball_plays.generate(2, seed=5)[1:], 16)
        np.testing.assert_allclose(arrays["true_object_pos"], positions[0])
        assert arrays["image"].shape == (basketball.PLAY_LENGTH, 16, 16, 3)
    (tmp_path / "test" / "000000.npz").unlink()
    basketball_plays.prepare(str(tmp_path), image_size=16, seed=5)  # complete: nothing written
    assert not (tmp_path / "test" / "000000.npz").exists()
