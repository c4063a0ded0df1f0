import numpy as np
import pytest
import tensorflow as tf

from video_structure import losses


def numpy_eq5(keypoints, sigma):
    """Eq. 5 written out with loops, averaged over the batch."""
    batch, time, num_keypoints, _ = keypoints.shape
    values = []
    for b in range(batch):
        xy = keypoints[b, :, :, :2]
        centred = xy - xy.mean(axis=0, keepdims=True)
        total = 0.0
        for k in range(num_keypoints):
            for k2 in range(num_keypoints):
                d = np.mean([np.sum((centred[t, k] - centred[t, k2]) ** 2) for t in range(time)])
                total += np.exp(-d / (2 * sigma**2))
        values.append(total)
    return np.mean(values)


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5])
def test_separation_loss_matches_numpy_eq5(sigma):
    keypoints = np.random.default_rng(0).uniform(-1, 1, size=(3, 6, 5, 3)).astype(np.float32)
    keypoints[:, :, 1, :2] = keypoints[:, :, 0, :2] + 0.3  # Same trajectory, shifted.
    value = losses.separation_loss(tf.constant(keypoints), sigma).numpy()
    np.testing.assert_allclose(value, numpy_eq5(keypoints, sigma), rtol=1e-5)


def test_separation_loss_counts_translated_copies_as_overlapping():
    rng = np.random.default_rng(1)
    keypoints = rng.uniform(-1, 1, size=(1, 8, 2, 3)).astype(np.float32)
    keypoints[:, :, 1, :2] = keypoints[:, :, 0, :2] + 0.5
    # Identical centred trajectories: every term is exp(0) = 1.
    assert losses.separation_loss(tf.constant(keypoints), 0.02).numpy() == pytest.approx(4.0)


def test_image_loss_is_sum_over_sequence_mean_over_batch():
    frames = np.zeros([2, 3, 4, 4, 3], np.float32)
    reconstructed = frames.copy()
    reconstructed[0] += 0.5
    expected = (3 * 4 * 4 * 3 * 0.25 + 0.0) / 2
    assert losses.image_loss(frames, reconstructed).numpy() == pytest.approx(expected)


def test_sparsity_loss_sums_absolute_scales():
    scales = np.zeros([2, 3, 4], np.float32)
    scales[0] = 0.5
    scales[1, 0, 0] = -1.0
    assert losses.sparsity_loss(scales).numpy() == pytest.approx((3 * 4 * 0.5 + 1.0) / 2)


def test_vrnn_and_future_losses():
    nll = losses.keypoint_nll(tf.zeros([2, 4, 6]), tf.ones([2, 4, 6]))
    np.testing.assert_allclose(nll.numpy(), np.full([2, 4], 3.0))
    kl = tf.fill([2, 2], 10.0)
    assert losses.vrnn_loss(nll[:, :2], kl, 0.1).numpy() == pytest.approx(2 * 3.0 + 2 * 1.0)
    assert losses.future_loss(nll[:, 2:]).numpy() == pytest.approx(6.0)


# The authors' TF1 code's reductions, written out in numpy (losses.py, "code").
def numpy_code_separation(keypoints, sigma):
    """Their temporal_separation_loss: batch mean of the matrix, diagonal off, / K(K-1)."""
    num_keypoints = keypoints.shape[2]
    return (numpy_eq5(keypoints, sigma) - num_keypoints) / (num_keypoints * (num_keypoints - 1))


@pytest.mark.parametrize("sigma", [0.02, 0.5])
def test_code_separation_loss_matches_the_authors_formula(sigma):
    keypoints = np.random.default_rng(2).uniform(-1, 1, size=(3, 4, 5, 3)).astype(np.float32)
    value = losses.separation_loss(tf.constant(keypoints), sigma, "code").numpy()
    np.testing.assert_allclose(value, numpy_code_separation(keypoints, sigma), rtol=1e-5)
    assert 0.0 <= value <= 1.0


def test_code_image_loss_is_l2_loss_over_batch_times_time():
    rng = np.random.default_rng(3)
    frames, reconstructed = rng.uniform(size=(2, 2, 5, 4, 4, 3)).astype(np.float32)
    l2_loss = 0.5 * np.sum((frames - reconstructed) ** 2)  # tf.nn.l2_loss
    np.testing.assert_allclose(
        losses.image_loss(frames, reconstructed, "code").numpy(), l2_loss / (2 * 5), rtol=1e-5
    )


def test_code_sparsity_loss_is_a_keras_activity_regulariser_per_frame():
    scales = np.random.default_rng(4).uniform(size=(4, 3, 6)).astype(np.float32)
    # Per frame: mean over batch and keypoints, divided by the batch size; summed over frames.
    expected = sum(np.mean(np.abs(scales[:, t])) / 4 for t in range(3))
    np.testing.assert_allclose(losses.sparsity_loss(scales, "code").numpy(), expected, rtol=1e-5)


def test_code_keypoint_losses_divide_the_l2_of_all_steps_by_batch_times_time():
    rng = np.random.default_rng(5)
    target, decoded = rng.uniform(size=(2, 3, 6, 9)).astype(np.float32)  # [batch, time, D]
    kl = rng.uniform(size=(3, 4)).astype(np.float32)  # [batch, observed steps]
    nll = losses.keypoint_nll(tf.constant(target), tf.constant(decoded))
    vrnn = losses.vrnn_loss(nll[:, :4], tf.constant(kl), 0.1, "code", 6).numpy()
    future = losses.future_loss(nll[:, 4:], "code", 6).numpy()
    # Their l2_loss of all steps / (batch x time), plus beta x the mean KL.
    l2_loss = 0.5 * np.sum((target - decoded) ** 2)
    np.testing.assert_allclose(vrnn + future, l2_loss / (3 * 6) + 0.1 * kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        future, 0.5 * np.sum((target - decoded)[:, 4:] ** 2) / (3 * 6), rtol=1e-5
    )


def test_unknown_normalization_is_named():
    with pytest.raises(ValueError, match="normalization"):
        losses.image_loss(tf.zeros([1, 1, 2, 2, 1]), tf.zeros([1, 1, 2, 2, 1]), "mean")
