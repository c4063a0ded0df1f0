"""Tests for video_structure.explorer_figures: Figures 6, 7 and S3 from a tiny export."""

import numpy as np
import pytest
from PIL import Image

from video_structure import explorer_figures


@pytest.fixture(scope="module")
def explored(tiny_export):
    _, path, _ = tiny_export(3, 2)  # Shared with test_collection.py and test_manipulation.py.
    return explorer_figures.load_export("tiny", path, "synthetic", num_sequences=4)


def test_load_export_reads_test_sequences_and_refuses_bad_indices(explored):
    size = explored.config.image_size
    assert explored.sequences["frames"].shape == (4, 5, size, size, 3)
    assert explored.sequences["positions"].shape[:2] == (4, 5)
    batch = explorer_figures.sequence(explored, 3)
    assert batch["keypoints"].shape == (1, 5, explored.config.num_keypoints, 3)
    with pytest.raises(ValueError, match="sequence 4 is out of range: 4 test sequences"):
        explorer_figures.sequence(explored, 4)
    with pytest.raises(ValueError, match="a sequence index is an int, got 2.0"):
        explorer_figures.sequence(explored, 2.0)


def test_make_figures_writes_the_three_figures(explored, tmp_path):
    paths, moved = explorer_figures.make_figures(
        [explored, explored], 1, str(tmp_path), keypoints=[2], num_samples=2, diversity_samples=3
    )
    assert moved == [2]
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "figure6_counterfactual.png",
        "figure7_rerender.png",
        "figureS3_diversity.png",
    ]
    for path in paths:
        assert Image.open(path).size[0] > 100
    # Figure 7: three rows (original, moved, difference) of the 5 frames, scaled 2x with borders.
    tile = 2 * explored.config.image_size + 2
    assert Image.open(paths[1]).size == (5 * tile, 3 * tile)


def test_rerender_figure_difference_is_black_where_the_frames_agree(tmp_path):
    frames = np.full((2, 8, 8, 3), 0.5, np.float32)
    moved = frames.copy()
    moved[1, 2, 3] = 0.9  # One pixel of the second frame changes.
    keypoints = np.zeros((2, 1, 3), np.float32)
    path = str(tmp_path / "figure7.png")
    explorer_figures.rerender_figure(frames, moved, keypoints, keypoints, path)
    image = np.asarray(Image.open(path))  # 3 rows of 2 frames of 16 + 2 border pixels.
    difference = image[36:54, :, 0]
    assert difference[1 + 2 * 2, 18 + 1 + 2 * 3] == 255  # The changed pixel, at full scale,
    assert np.count_nonzero(difference[1:17, 1:17]) == 0  # the unchanged frame black.
