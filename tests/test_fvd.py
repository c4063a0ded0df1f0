"""Tests for video_structure.fvd."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from video_structure import fvd, pretrained


@pytest.fixture(scope="module")
def random_i3d():
    tf.keras.utils.set_random_seed(0)
    return pretrained.build_i3d(weights=None)


def _frames(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _scipy_frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)


@pytest.mark.parametrize("n_a,n_b,dim", [(50, 60, 8), (200, 120, 30)])
def test_frechet_distance_matches_scipy_and_is_symmetric(n_a, n_b, dim):
    rng = np.random.default_rng(dim)
    mixing = rng.normal(size=(dim, dim))
    a = rng.normal(size=(n_a, dim)) @ mixing
    b = 0.7 * rng.normal(size=(n_b, dim)) @ mixing.T + 0.5
    expected = _scipy_frechet(a, b)
    assert expected > 1.0
    np.testing.assert_allclose(fvd.frechet_distance(a, b), expected, rtol=1e-6)
    np.testing.assert_allclose(fvd.frechet_distance(b, a), expected, rtol=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(40, 16))
    assert abs(fvd.frechet_distance(a, a)) < 1e-8


def test_frechet_distance_of_constant_sets_is_squared_mean_distance():
    a = np.tile([1.0, 2.0, 3.0], (16, 1))
    b = np.tile([1.0, 0.0, 3.0], (16, 1))
    np.testing.assert_allclose(fvd.frechet_distance(a, b), 4.0, atol=1e-9)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="equal D"):
        fvd.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        fvd.frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))


def test_fvd_preprocess_uses_tf1_bilinear_resize():
    # With align_corners=False and half_pixel_centers=False output pixel i
    # samples input position i * in / out: a 2-pixel ramp [0, 1] becomes
    # [0, .5, 1, 1, ...] (TF2's tf.image.resize would give [0, .25, .75, 1]).
    row = np.zeros((1, 1, 2, 2, 3), np.float32)
    row[..., 1, :] = 1.0
    out = fvd.fvd_preprocess(row).numpy()
    assert out.shape == (1, 1, 224, 224, 3)
    expected = np.clip(np.arange(224) * 2 / 224, 0, 1) * 2 - 1
    np.testing.assert_allclose(out[0, 0, 0, :, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out[0, 0, :, 5, 1], expected[5], atol=1e-6)


def test_i3d_logits_needs_nine_frames(random_i3d):
    with pytest.raises(ValueError, match="at least 9 frames"):
        fvd.i3d_logits(np.zeros((2, 8, 16, 16, 3), np.float32), random_i3d)


def test_i3d_logits_rejects_values_outside_unit_range(random_i3d):
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        fvd.i3d_logits(np.full((2, 9, 16, 16, 3), 255.0, np.float32), random_i3d)


def test_i3d_embedder_batches_across_sets_without_changing_logits(random_i3d):
    videos = _frames((4, 9, 16, 16, 3), seed=8)
    # The first batch holds videos of both sets; logits() embeds the rest.
    embedder = fvd.I3dEmbedder(random_i3d, batch_size=3)
    embedder.add("a", videos[:2])
    embedder.add("b", videos[2:3])
    embedder.add("a", videos[3:])
    expected = random_i3d(fvd.fvd_preprocess(videos), training=False).numpy()
    np.testing.assert_allclose(embedder.logits("a"), expected[[0, 1, 3]], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(embedder.logits("b"), expected[[2]], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="cannot join"):
        embedder.add("a", _frames((1, 10, 16, 16, 3)))
    with pytest.raises(KeyError, match="'c'"):
        embedder.logits("c")


def test_fvd_reports_n_and_warns_below_the_recommended_size(random_i3d):
    videos_a = _frames((2, 9, 16, 16, 3), seed=5)
    videos_b = _frames((3, 9, 16, 16, 3), seed=6)
    with pytest.warns(UserWarning, match="FVD from 2 and 3 videos.*strongly biased"):
        result = fvd.fvd(videos_a, videos_b, random_i3d, batch_size=2)
    assert (result.num_videos_a, result.num_videos_b) == (2, 3)
    expected = fvd.frechet_distance(
        fvd.i3d_logits(videos_a, random_i3d), fvd.i3d_logits(videos_b, random_i3d)
    )
    np.testing.assert_allclose(result.fvd, expected, rtol=1e-6)
    assert result.fvd > 0
    assert "below 256 videos" in result.warning
    assert fvd.FvdResult(1.0, 256, 300).warning is None
    with pytest.raises(ValueError, match="at least 2 videos"):
        fvd.fvd(videos_a[:1], videos_b, random_i3d)
    with pytest.raises(ValueError, match="at least 2 videos"):
        fvd.fvd_from_logits(np.zeros((2, 400)), np.zeros((1, 400)))


@pytest.fixture(scope="module")
def pretrained_i3d():
    return pretrained.build_i3d("kinetics400")


@pytest.mark.needs_i3d_weights
def test_fvd_of_black_and_white_videos_matches_the_reference(pretrained_i3d):
    # The FVD reference's sanity check: 16 all-zero vs 16 all-255 videos of 15
    # frames at 64x64 give "around 131" (a PyTorch port: 134.24). The videos of
    # a set are identical, so both covariances vanish and FVD is the squared
    # distance of two logit vectors: two I3D passes suffice.
    black_and_white = np.stack([np.zeros((15, 64, 64, 3)), np.ones((15, 64, 64, 3))])
    logits = fvd.i3d_logits(black_and_white, pretrained_i3d)
    with pytest.warns(UserWarning, match="FVD from 16 and 16 videos"):
        result = fvd.fvd_from_logits(
            np.repeat(logits[:1], 16, axis=0), np.repeat(logits[1:], 16, axis=0)
        )
    # Our value (benchmarks/fvd_sanity.py, all 32 videos through I3D: 133.91).
    np.testing.assert_allclose(result.fvd, 133.909, atol=0.02)
    assert abs(result.fvd - 131.0) < 5.0


@pytest.mark.slow
@pytest.mark.needs_i3d_weights
def test_fvd_pretrained_matches_scipy_same_set_is_zero_and_symmetric(pretrained_i3d):
    rng = np.random.default_rng(7)
    # Moving bright squares on noise, so that the videos' logits differ.
    videos = rng.uniform(0, 0.3, size=(4, 9, 32, 32, 3)).astype(np.float32)
    for i in range(4):
        for t in range(9):
            videos[i, t, 4 + i : 12 + i, 2 * t : 2 * t + 8] = 1.0
    other = videos[:, ::-1] * 0.5
    with pytest.warns(UserWarning):
        result = fvd.fvd(videos, other, pretrained_i3d)
    logits = fvd.i3d_logits(videos, pretrained_i3d, batch_size=3)
    logits_other = fvd.i3d_logits(other, pretrained_i3d, batch_size=3)
    expected = _scipy_frechet(logits.astype(np.float64), logits_other.astype(np.float64))
    assert expected > 10.0
    np.testing.assert_allclose(result.fvd, expected, rtol=1e-5)
    with pytest.warns(UserWarning):
        same = fvd.fvd_from_logits(logits, logits).fvd
        backward = fvd.fvd_from_logits(logits_other, logits).fvd
    assert abs(same) < 1e-6 * expected
    np.testing.assert_allclose(backward, result.fvd, rtol=1e-6)
