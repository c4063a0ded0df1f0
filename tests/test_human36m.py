"""Tests for video_structure.data.human36m."""

import numpy as np
import pytest

from video_structure.data import human36m


def test_load_human36m_sequences(tmp_path):
    image = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    positions = np.zeros((2, 12, 2), np.float32)
    positions[1, 3] = np.nan  # Joint 3 missing from frame 1.
    np.savez(tmp_path / "b.npz", image=image, action_label=np.int32(4))
    np.savez(tmp_path / "a.npz", image=image, action_label=np.int64(14), true_object_pos=positions)
    (tmp_path / "notes.txt").write_text("ignored")
    sequences = human36m.load_human36m_sequences(str(tmp_path))
    assert [s.name for s in sequences] == ["a", "b"]
    assert [s.action_label for s in sequences] == [14, 4]
    np.testing.assert_array_equal(sequences[0].positions, positions)
    assert sequences[1].positions is None
    np.testing.assert_array_equal(sequences[1].image, image)


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(image=np.zeros((2, 4, 4, 3), np.uint8)), "lacks.*'action_label'"),
        (dict(image=np.zeros((2, 4, 4, 3), np.uint8), action_label=1.0), "one integer"),
        (dict(image=np.zeros((2, 4, 4, 3), np.float32), action_label=1), "image must be uint8"),
        (
            dict(image=np.zeros((2, 4, 4, 3), np.uint8), action_label=15),
            r"action_label must be one integer in \[0, 15\)",
        ),
        (
            dict(
                image=np.zeros((2, 4, 4, 3), np.uint8),
                action_label=1,
                true_object_pos=np.zeros((3, 5, 2)),
            ),
            r"T = 2",
        ),
        (
            dict(
                image=np.zeros((2, 4, 4, 3), np.uint8),
                action_label=1,
                true_object_pos=np.full((2, 5, 2), np.inf),
            ),
            "infinite",
        ),
    ],
)
def test_load_human36m_sequences_rejects_bad_files(tmp_path, arrays, match):
    np.savez(tmp_path / "seq.npz", **arrays)
    with pytest.raises(ValueError, match=match) as error:
        human36m.load_human36m_sequences(str(tmp_path))
    assert "seq.npz" in str(error.value)


def test_load_human36m_sequences_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        human36m.load_human36m_sequences(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="No .npz files"):
        human36m.load_human36m_sequences(str(tmp_path))
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="broken.npz"):
        human36m.load_human36m_sequences(str(tmp_path))
