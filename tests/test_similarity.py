"""Tests for video_structure.similarity."""

import numpy as np
import pytest
import tensorflow as tf

from video_structure import pretrained, similarity


@pytest.fixture(scope="module")
def random_vgg():
    tf.keras.utils.set_random_seed(0)
    return pretrained.build_vgg16_features(weights=None)


def _frames(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


# PSNR and SSIM.


def test_psnr_identical_frames_is_inf_and_shape_is_per_frame():
    frames = _frames((2, 3, 5, 16, 16, 3))
    values = similarity.psnr(frames, frames).numpy()
    assert values.shape == (2, 3, 5)
    assert np.all(np.isposinf(values))


@pytest.mark.parametrize("offset,expected_db", [(0.1, 20.0), (0.01, 40.0), (0.5, 6.0206)])
def test_psnr_of_constant_offset(offset, expected_db):
    target = np.full((1, 2, 16, 16, 3), 0.25, np.float32)
    values = similarity.psnr(target, target + offset).numpy()
    np.testing.assert_allclose(values, expected_db, rtol=1e-4)


def test_ssim_identical_frames_is_one():
    frames = _frames((2, 4, 16, 16, 3))
    values = similarity.ssim(frames, frames).numpy()
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
    np.testing.assert_allclose(similarity.ssim(target, prediction).numpy(), [[expected]], rtol=1e-3)


def test_ssim_drops_with_noise():
    frames = _frames((1, 1, 32, 32, 3))
    rng = np.random.default_rng(1)
    values = [
        float(
            similarity.ssim(
                frames, np.clip(frames + s * rng.normal(size=frames.shape), 0, 1).astype(np.float32)
            )[0, 0]
        )
        for s in (0.0, 0.05, 0.3)
    ]
    assert values[0] > values[1] > values[2]


def test_frame_metrics_reject_bad_shapes():
    with pytest.raises(ValueError, match="prediction shape"):
        similarity.psnr(np.zeros((1, 2, 16, 16, 3)), np.zeros((1, 3, 16, 16, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        similarity.ssim(np.zeros((1, 2, 8, 8, 3)), np.zeros((1, 2, 8, 8, 3)))


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
    np.testing.assert_allclose(
        similarity.feature_cosine_similarity(a, b).numpy(), expected, rtol=1e-5
    )


def test_feature_cosine_similarity_orthogonal_and_opposite():
    a = np.zeros((1, 1, 1, 2), np.float32)
    a[..., 0] = 2.0
    b = np.zeros_like(a)
    b[..., 1] = 3.0
    np.testing.assert_allclose(
        similarity.feature_cosine_similarity([a, a], [b, -a]).numpy(), [-0.5], atol=1e-6
    )


def _vgg_noise_curve(model, frames):
    rng = np.random.default_rng(2)
    values = []
    for sigma in (0.0, 0.05, 0.3):
        noisy = np.clip(frames + sigma * rng.normal(size=frames.shape), 0, 1)
        values.append(
            similarity.vgg_cosine_similarity(frames, noisy.astype(np.float32), model).numpy()
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
        similarity.vgg_cosine_similarity(target, prediction, random_vgg, batch_size=4).numpy(),
        similarity.vgg_cosine_similarity(target, prediction, random_vgg, batch_size=64).numpy(),
        rtol=1e-5,
    )


class _CountingModel:
    """Calls a model and counts the frames it was given, also inside a tf.function."""

    def __init__(self, model):
        self.model = model
        self.frames = tf.Variable(0)

    def __call__(self, images, training):
        self.frames.assign_add(tf.shape(images)[0])
        return self.model(images, training=training)


def test_vgg_cosine_similarity_broadcasts_the_target_and_embeds_it_once(random_vgg):
    target = _frames((2, 1, 3, 16, 16, 3), seed=3)
    prediction = _frames((2, 5, 3, 16, 16, 3), seed=4)
    prediction[:, 2] = target[:, 0]
    counting = _CountingModel(random_vgg)
    # Chunks of 4 frames: the 6 target frames span two chunks.
    values = similarity.vgg_cosine_similarity(target, prediction, counting, batch_size=4).numpy()
    assert int(counting.frames) == 6 + 30
    expected = similarity.vgg_cosine_similarity(
        np.broadcast_to(target, prediction.shape), prediction, random_vgg
    ).numpy()
    assert values.shape == (2, 5, 3)
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    np.testing.assert_allclose(values[:, 2], 1.0, atol=1e-5)
    assert np.all(values[:, [0, 1, 3, 4]] < 0.999)


def test_vgg_cosine_similarity_rejects_bad_shapes(random_vgg):
    with pytest.raises(ValueError, match="does not broadcast"):
        similarity.vgg_cosine_similarity(
            np.zeros((2, 3, 16, 16, 3)), np.zeros((2, 5, 3, 16, 16, 3)), random_vgg
        )
    with pytest.raises(ValueError, match="RGB"):
        gray = np.zeros((1, 16, 16, 1))
        similarity.vgg_cosine_similarity(gray, gray, random_vgg)


@pytest.mark.needs_vgg_weights
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
    selection = similarity.select_closest_and_furthest(values, num_observed_steps=1)
    # Sequence 1 ties samples 0 and 1 for closest: the lower index wins.
    np.testing.assert_array_equal(selection.closest_index, [1, 0])
    np.testing.assert_array_equal(selection.furthest_index, [2, 2])
    np.testing.assert_array_equal(selection.closest, values[[0, 1], [1, 0]])
    np.testing.assert_array_equal(selection.furthest, values[[0, 1], [2, 2]])
    distances = similarity.select_closest_and_furthest(
        values, num_observed_steps=1, higher_is_better=False
    )
    np.testing.assert_array_equal(distances.closest_index, [2, 2])
    np.testing.assert_array_equal(distances.furthest_index, [1, 0])
    # Ranking over all steps lets the large observed value of sample 0 win.
    with_observed = similarity.select_closest_and_furthest(values)
    np.testing.assert_array_equal(with_observed.closest_index, [0, 0])


def test_select_closest_and_furthest_rejects_bad_input():
    with pytest.raises(ValueError, match="batch, samples, time"):
        similarity.select_closest_and_furthest(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no predicted step"):
        similarity.select_closest_and_furthest(np.zeros((2, 3, 4)), num_observed_steps=4)
