"""Tests for video_structure.metrics."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from video_structure import metrics, pretrained
from video_structure.pretrained import i3d, vgg16, weights

requires_vgg_weights = pytest.mark.skipif(
    not weights.is_installed(vgg16.VGG16_IMAGENET),
    reason=(f"VGG16 weights not installed: {vgg16.VGG16_IMAGENET.install_command}"),
)


requires_i3d_weights = pytest.mark.skipif(
    not weights.is_installed(i3d.I3D_KINETICS400),
    reason=(f"I3D weights not installed: {i3d.I3D_KINETICS400.install_command}"),
)


@pytest.fixture(scope="module")
def random_vgg():
    tf.keras.utils.set_random_seed(0)
    return pretrained.build_vgg16_features(weights=None)


@pytest.fixture(scope="module")
def random_i3d():
    tf.keras.utils.set_random_seed(0)
    return pretrained.build_i3d(weights=None)


def _frames(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


# PSNR and SSIM.


def test_psnr_identical_frames_is_inf_and_shape_is_per_frame():
    frames = _frames((2, 3, 5, 16, 16, 3))
    values = metrics.psnr(frames, frames).numpy()
    assert values.shape == (2, 3, 5)
    assert np.all(np.isposinf(values))


@pytest.mark.parametrize("offset,expected_db", [(0.1, 20.0), (0.01, 40.0), (0.5, 6.0206)])
def test_psnr_of_constant_offset(offset, expected_db):
    target = np.full((1, 2, 16, 16, 3), 0.25, np.float32)
    values = metrics.psnr(target, target + offset).numpy()
    np.testing.assert_allclose(values, expected_db, rtol=1e-4)


def test_ssim_identical_frames_is_one():
    frames = _frames((2, 4, 16, 16, 3))
    values = metrics.ssim(frames, frames).numpy()
    assert values.shape == (2, 4)
    np.testing.assert_allclose(values, 1.0, atol=1e-6)


def test_ssim_of_constant_frames_is_luminance_term():
    # Constant frames have zero variance, so only the luminance term is left:
    # (2 a b + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * max_val)^2.
    a, b, c1 = 0.2, 0.6, 1e-4
    target = np.full((1, 1, 16, 16, 1), a, np.float32)
    prediction = np.full((1, 1, 16, 16, 1), b, np.float32)
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    # TF computes the zero variances as E[x^2] - E[x]^2 in float32; the
    # cancellation error, divided by C2 = 9e-4, perturbs the result by ~1e-4.
    np.testing.assert_allclose(metrics.ssim(target, prediction).numpy(), [[expected]], rtol=1e-3)


def test_ssim_drops_with_noise():
    frames = _frames((1, 1, 32, 32, 3))
    rng = np.random.default_rng(1)
    values = [
        float(
            metrics.ssim(
                frames, np.clip(frames + s * rng.normal(size=frames.shape), 0, 1).astype(np.float32)
            )[0, 0]
        )
        for s in (0.0, 0.05, 0.3)
    ]
    assert values[0] > values[1] > values[2]


def test_frame_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="prediction shape"):
        metrics.psnr(np.zeros((1, 2, 16, 16, 3)), np.zeros((1, 3, 16, 16, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(np.zeros((1, 2, 8, 8, 3)), np.zeros((1, 2, 8, 8, 3)))


# VGG cosine similarity.


def test_feature_cosine_similarity_matches_numpy():
    rng = np.random.default_rng(0)
    shapes = [(3, 4, 4, 5), (3, 2, 2, 7)]
    a = [rng.normal(size=s).astype(np.float32) for s in shapes]
    b = [rng.normal(size=s).astype(np.float32) for s in shapes]
    expected = np.zeros(3)
    for fa, fb in zip(a, b):
        cos = np.sum(fa * fb, -1) / (np.linalg.norm(fa, axis=-1) * np.linalg.norm(fb, axis=-1))
        expected += cos.mean(axis=(1, 2)) / len(shapes)
    np.testing.assert_allclose(metrics.feature_cosine_similarity(a, b).numpy(), expected, rtol=1e-5)


def test_feature_cosine_similarity_orthogonal_and_opposite():
    a = np.zeros((1, 1, 1, 2), np.float32)
    a[..., 0] = 2.0
    b = np.zeros_like(a)
    b[..., 1] = 3.0
    np.testing.assert_allclose(
        metrics.feature_cosine_similarity([a, a], [b, -a]).numpy(), [-0.5], atol=1e-6
    )


def _vgg_noise_curve(model, frames):
    rng = np.random.default_rng(2)
    values = []
    for sigma in (0.0, 0.05, 0.3):
        noisy = np.clip(frames + sigma * rng.normal(size=frames.shape), 0, 1)
        values.append(
            metrics.vgg_cosine_similarity(frames, noisy.astype(np.float32), model).numpy()
        )
    return values


def test_vgg_cosine_similarity_random_init(random_vgg):
    frames = _frames((2, 3, 32, 32, 3))
    identical, small, large = _vgg_noise_curve(random_vgg, frames)
    assert identical.shape == (2, 3)
    np.testing.assert_allclose(identical, 1.0, atol=1e-5)
    assert np.all(small < 1.0 - 1e-4)
    assert np.all(large < small)


def test_vgg_cosine_similarity_batches_consistently(random_vgg):
    target = _frames((2, 3, 32, 32, 3), seed=3)
    prediction = _frames((2, 3, 32, 32, 3), seed=4)
    np.testing.assert_allclose(
        metrics.vgg_cosine_similarity(target, prediction, random_vgg, batch_size=4).numpy(),
        metrics.vgg_cosine_similarity(target, prediction, random_vgg, batch_size=64).numpy(),
        rtol=1e-5,
    )


class _CountingModel:
    """Calls a model and counts the frames it was given."""

    def __init__(self, model):
        self.model = model
        self.frames = 0

    def __call__(self, images, training):
        self.frames += len(images)
        return self.model(images, training=training)


def test_vgg_cosine_similarity_broadcasts_the_target_and_embeds_it_once(random_vgg):
    target = _frames((2, 1, 3, 16, 16, 3), seed=3)
    prediction = _frames((2, 5, 3, 16, 16, 3), seed=4)
    prediction[:, 2] = target[:, 0]
    counting = _CountingModel(random_vgg)
    # Chunks of 4 frames: the 6 target frames span two chunks.
    values = metrics.vgg_cosine_similarity(target, prediction, counting, batch_size=4).numpy()
    assert counting.frames == 6 + 30
    expected = metrics.vgg_cosine_similarity(
        np.broadcast_to(target, prediction.shape), prediction, random_vgg
    ).numpy()
    assert values.shape == (2, 5, 3)
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    np.testing.assert_allclose(values[:, 2], 1.0, atol=1e-5)
    assert np.all(values[:, [0, 1, 3, 4]] < 0.999)


def test_vgg_cosine_similarity_rejects_bad_shapes(random_vgg):
    with pytest.raises(ValueError, match="does not broadcast"):
        metrics.vgg_cosine_similarity(
            np.zeros((2, 3, 16, 16, 3)), np.zeros((2, 5, 3, 16, 16, 3)), random_vgg
        )
    with pytest.raises(ValueError, match="RGB"):
        gray = np.zeros((1, 16, 16, 1))
        metrics.vgg_cosine_similarity(gray, gray, random_vgg)


@requires_vgg_weights
def test_vgg_cosine_similarity_pretrained():
    model = pretrained.build_vgg16_features("imagenet")
    # A smooth image (bright square on a gradient) rather than noise, so the
    # ImageNet features respond to structure.
    y, x = np.mgrid[0:64, 0:64] / 63.0
    image = np.stack([x, y, 0.5 * np.ones_like(x)], -1)
    image[20:40, 24:44] = 1.0
    frames = np.broadcast_to(image, (1, 2, 64, 64, 3)).astype(np.float32)
    identical, small, large = _vgg_noise_curve(model, frames)
    np.testing.assert_allclose(identical, 1.0, atol=1e-5)
    assert np.all(small < 0.99)
    assert np.all(large < small)


# Closest / furthest sample selection.


def test_select_closest_and_furthest():
    # [batch=2, samples=3, time=4]; the first step is observed and ignored.
    values = np.array(
        [
            [[9.0, 0.5, 0.5, 0.5], [0.0, 0.9, 0.8, 0.7], [5.0, 0.1, 0.2, 0.3]],
            [[0.0, 0.2, 0.2, 0.2], [0.0, 0.2, 0.2, 0.2], [0.0, 0.3, 0.0, 0.0]],
        ]
    )
    selection = metrics.select_closest_and_furthest(values, num_observed_steps=1)
    # Sequence 1 ties samples 0 and 1 for closest: the lower index wins.
    np.testing.assert_array_equal(selection.closest_index, [1, 0])
    np.testing.assert_array_equal(selection.furthest_index, [2, 2])
    np.testing.assert_array_equal(selection.closest, values[[0, 1], [1, 0]])
    np.testing.assert_array_equal(selection.furthest, values[[0, 1], [2, 2]])
    distances = metrics.select_closest_and_furthest(
        values, num_observed_steps=1, higher_is_better=False
    )
    np.testing.assert_array_equal(distances.closest_index, [2, 2])
    np.testing.assert_array_equal(distances.furthest_index, [1, 0])
    # Ranking over all steps lets the large observed value of sample 0 win.
    with_observed = metrics.select_closest_and_furthest(values)
    np.testing.assert_array_equal(with_observed.closest_index, [0, 0])


def test_select_closest_and_furthest_rejects_bad_input():
    with pytest.raises(ValueError, match="batch, samples, time"):
        metrics.select_closest_and_furthest(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no predicted step"):
        metrics.select_closest_and_furthest(np.zeros((2, 3, 4)), num_observed_steps=4)


# Fréchet distance and FVD.


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
    np.testing.assert_allclose(metrics.frechet_distance(a, b), expected, rtol=1e-6)
    np.testing.assert_allclose(metrics.frechet_distance(b, a), expected, rtol=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(40, 16))
    assert abs(metrics.frechet_distance(a, a)) < 1e-8


def test_frechet_distance_of_constant_sets_is_squared_mean_distance():
    a = np.tile([1.0, 2.0, 3.0], (16, 1))
    b = np.tile([1.0, 0.0, 3.0], (16, 1))
    np.testing.assert_allclose(metrics.frechet_distance(a, b), 4.0, atol=1e-9)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="equal D"):
        metrics.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))


def test_fvd_preprocess_uses_tf1_bilinear_resize():
    # With align_corners=False and half_pixel_centers=False output pixel i
    # samples input position i * in / out: a 2-pixel ramp [0, 1] becomes
    # [0, .5, 1, 1, ...] (TF2's tf.image.resize would give [0, .25, .75, 1]).
    row = np.zeros((1, 1, 2, 2, 3), np.float32)
    row[..., 1, :] = 1.0
    out = metrics.fvd_preprocess(row).numpy()
    assert out.shape == (1, 1, 224, 224, 3)
    expected = np.clip(np.arange(224) * 2 / 224, 0, 1) * 2 - 1
    np.testing.assert_allclose(out[0, 0, 0, :, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out[0, 0, :, 5, 1], expected[5], atol=1e-6)


def test_i3d_logits_needs_nine_frames(random_i3d):
    with pytest.raises(ValueError, match="at least 9 frames"):
        metrics.i3d_logits(np.zeros((2, 8, 16, 16, 3), np.float32), random_i3d)


def test_i3d_logits_rejects_values_outside_unit_range(random_i3d):
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        metrics.i3d_logits(np.full((2, 9, 16, 16, 3), 255.0, np.float32), random_i3d)


def test_i3d_embedder_batches_across_sets_without_changing_logits(random_i3d):
    videos = _frames((4, 9, 16, 16, 3), seed=8)
    # The first batch holds videos of both sets; logits() embeds the rest.
    embedder = metrics.I3dEmbedder(random_i3d, batch_size=3)
    embedder.add("a", videos[:2])
    embedder.add("b", videos[2:3])
    embedder.add("a", videos[3:])
    expected = random_i3d(metrics.fvd_preprocess(videos), training=False).numpy()
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
        result = metrics.fvd(videos_a, videos_b, random_i3d, batch_size=2)
    assert (result.num_videos_a, result.num_videos_b) == (2, 3)
    expected = metrics.frechet_distance(
        metrics.i3d_logits(videos_a, random_i3d), metrics.i3d_logits(videos_b, random_i3d)
    )
    np.testing.assert_allclose(result.fvd, expected, rtol=1e-6)
    assert result.fvd > 0
    assert "below 256 videos" in result.warning
    assert metrics.FvdResult(1.0, 256, 300).warning is None
    with pytest.raises(ValueError, match="at least 2 videos"):
        metrics.fvd(videos_a[:1], videos_b, random_i3d)
    with pytest.raises(ValueError, match="at least 2 videos"):
        metrics.fvd_from_logits(np.zeros((2, 400)), np.zeros((1, 400)))


@pytest.fixture(scope="module")
def pretrained_i3d():
    if not weights.is_installed(i3d.I3D_KINETICS400):
        pytest.skip(f"I3D weights not installed: {i3d.I3D_KINETICS400.install_command}")
    return pretrained.build_i3d("kinetics400")


def test_fvd_of_black_and_white_videos_matches_the_reference(pretrained_i3d):
    # The FVD reference's sanity check: 16 all-zero vs 16 all-255 videos of 15
    # frames at 64x64 give "around 131" (a PyTorch port: 134.24). The videos of
    # a set are identical, so both covariances vanish and FVD is the squared
    # distance of two logit vectors: two I3D passes suffice.
    black_and_white = np.stack([np.zeros((15, 64, 64, 3)), np.ones((15, 64, 64, 3))])
    logits = metrics.i3d_logits(black_and_white, pretrained_i3d)
    with pytest.warns(UserWarning, match="FVD from 16 and 16 videos"):
        result = metrics.fvd_from_logits(
            np.repeat(logits[:1], 16, axis=0), np.repeat(logits[1:], 16, axis=0)
        )
    # Our value (benchmarks/fvd_sanity.py, all 32 videos through I3D: 133.91).
    np.testing.assert_allclose(result.fvd, 133.909, atol=0.02)
    assert abs(result.fvd - 131.0) < 5.0


@pytest.mark.slow
def test_fvd_pretrained_matches_scipy_same_set_is_zero_and_symmetric(pretrained_i3d):
    rng = np.random.default_rng(7)
    # Moving bright squares on noise, so that the videos' logits differ.
    videos = rng.uniform(0, 0.3, size=(4, 9, 32, 32, 3)).astype(np.float32)
    for i in range(4):
        for t in range(9):
            videos[i, t, 4 + i : 12 + i, 2 * t : 2 * t + 8] = 1.0
    other = videos[:, ::-1] * 0.5
    with pytest.warns(UserWarning):
        result = metrics.fvd(videos, other, pretrained_i3d)
    logits = metrics.i3d_logits(videos, pretrained_i3d, batch_size=3)
    logits_other = metrics.i3d_logits(other, pretrained_i3d, batch_size=3)
    expected = _scipy_frechet(logits.astype(np.float64), logits_other.astype(np.float64))
    assert expected > 10.0
    np.testing.assert_allclose(result.fvd, expected, rtol=1e-5)
    with pytest.warns(UserWarning):
        same = metrics.fvd_from_logits(logits, logits).fvd
        backward = metrics.fvd_from_logits(logits_other, logits).fvd
    assert abs(same) < 1e-6 * expected
    np.testing.assert_allclose(backward, result.fvd, rtol=1e-6)
