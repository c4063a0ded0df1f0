import numpy as np
from PIL import Image

from video_structure import visualize


def test_keypoints_are_drawn_where_they_are():
    frames = np.zeros([2, 16, 16, 3], np.float32)
    keypoints = np.array([[[0.5, 0.5, 1.0]], [[-0.5, -0.5, 1.0]]], np.float32)
    drawn = visualize.draw_keypoints(frames, keypoints, scale=4)
    assert drawn.shape == (2, 64, 64, 3) and drawn.dtype == np.uint8
    color = visualize.palette(1)[0]
    # (0.5, 0.5) is up and to the right: column 48, row 16 of the 64x64 image.
    np.testing.assert_array_equal(drawn[0, 16, 48], color)
    np.testing.assert_array_equal(drawn[1, 48, 16], color)
    assert drawn[0, 48, 16].sum() == 0


def test_keypoints_with_small_scale_are_not_drawn():
    drawn = visualize.draw_keypoints(np.zeros([1, 8, 8, 3]), np.array([[[0, 0, 0.01]]]))
    assert drawn.sum() == 0


def test_grid_gif_and_png(tmp_path):
    rows = [np.full([3, 8, 8, 3], 100, np.uint8), np.full([3, 8, 8, 3], 200, np.uint8)]
    image = visualize.grid(rows, border=1, border_colors=[(0, 255, 0)] * 2 + [(255, 0, 0)])
    assert image.shape == (20, 30, 3)
    np.testing.assert_array_equal(image[0, 25], [255, 0, 0])
    visualize.save_png(image, str(tmp_path / "grid.png"))
    frames = np.arange(3, dtype=np.uint8)[:, None, None, None] * np.full([3, 8, 8, 3], 60, np.uint8)
    visualize.save_gif(frames, str(tmp_path / "a.gif"))
    assert Image.open(tmp_path / "grid.png").size == (30, 20)
    assert Image.open(tmp_path / "a.gif").n_frames == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "grid.png"]
