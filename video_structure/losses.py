"""The losses of Eq. 9, as pure functions.

Within a sequence every term is the sum the paper writes (over time steps,
pixels, keypoints and keypoint pairs); over sequences it is the mean, so the
scales of Table S1 apply per sequence. docs/fidelity.md compares this with the
authors' code, which normalises several terms differently.
"""

import tensorflow as tf


def image_loss(frames: tf.Tensor, reconstructed: tf.Tensor) -> tf.Tensor:
    """L_image = sum_t ||v_t - v_hat_t||^2 (Section 4.1).

    Args:
        frames: [batch, time, H, W, C] true frames v.
        reconstructed: [batch, time, H, W, C] reconstructions v_hat.

    Returns:
        Scalar: the per-sequence sum, averaged over the batch.
    """
    return tf.reduce_mean(tf.reduce_sum(tf.square(frames - reconstructed), axis=[1, 2, 3, 4]))


def separation_loss(keypoints: tf.Tensor, sigma: float) -> tf.Tensor:
    """Temporal separation loss L_sep (Eq. 5).

    L_sep = sum_k sum_k' exp(-d_kk' / (2 sigma^2)), where d_kk' is the mean over
    time of the squared distance between the mean-centred trajectories of
    keypoints k and k'. The k = k' terms are the constant K, as written.

    Args:
        keypoints: [batch, time, K, 3] keypoints (only x and y are used).
        sigma: sigma_sep, in coordinate units.

    Returns:
        Scalar: the per-sequence loss, averaged over the batch.
    """
    xy = keypoints[..., :2]
    centred = xy - tf.reduce_mean(xy, axis=1, keepdims=True)  # [batch, time, K, 2]
    differences = centred[:, :, :, tf.newaxis] - centred[:, :, tf.newaxis]  # [b, t, K, K, 2]
    distances = tf.reduce_mean(tf.reduce_sum(tf.square(differences), axis=-1), axis=1)  # [b, K, K]
    return tf.reduce_mean(tf.reduce_sum(tf.exp(-distances / (2.0 * sigma**2)), axis=[1, 2]))


def sparsity_loss(scales: tf.Tensor) -> tf.Tensor:
    """L_sparse = sum_k |mu_k| for each frame, summed over the sequence (Section 4.1).

    Args:
        scales: [batch, time, K] keypoint scales mu.

    Returns:
        Scalar: the per-sequence sum, averaged over the batch.
    """
    return tf.reduce_mean(tf.reduce_sum(tf.abs(scales), axis=[1, 2]))


def keypoint_nll(target: tf.Tensor, decoded: tf.Tensor) -> tf.Tensor:
    """-log p(x_t | z_<=t, x_<t) per step, up to a constant (Eq. 6, 7).

    p is a unit-variance Gaussian around the decoded keypoints, so the negative
    log-likelihood is half the squared error over all keypoint components.

    Args:
        target: [batch, time, D] keypoints x_t from the detector.
        decoded: [batch, time, D] keypoints decoded from the latent belief.

    Returns:
        [batch, time] negative log-likelihoods.
    """
    return 0.5 * tf.reduce_sum(tf.square(target - decoded), axis=-1)


def vrnn_loss(nll: tf.Tensor, kl: tf.Tensor, beta) -> tf.Tensor:
    """L_VRNN = -sum_{t<=T} E[log p(x_t | ...) - beta KL(q_t || p_t)] (Eq. 6).

    Args:
        nll: [batch, T] keypoint negative log-likelihoods of the observed steps.
        kl: [batch, T] KL divergences of the observed steps.
        beta: the (annealed) KL scale.

    Returns:
        Scalar: the per-sequence sum, averaged over the batch.
    """
    return tf.reduce_mean(tf.reduce_sum(nll + beta * kl, axis=1))


def future_loss(nll: tf.Tensor) -> tf.Tensor:
    """L_future = -sum_{t=T+1}^{T+Delta T} E[log p(x_t | z_<=t, x_<=T)] (Eq. 7).

    Args:
        nll: [batch, Delta T] keypoint negative log-likelihoods of the predicted steps.

    Returns:
        Scalar: the per-sequence sum, averaged over the batch.
    """
    return tf.reduce_mean(tf.reduce_sum(nll, axis=1))


def supervised_loss(keypoints: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Pulls the first N keypoints to the N ground-truth positions (Section 5.2).

    The supervised baselines of Figure 4 add this term; for CNN-VRNN the
    "keypoints" are its features shaped [K, 3], so the first two features of
    each of the first N triplets are pulled. Missing positions (NaN) do not
    count.

    Args:
        keypoints: [batch, time, K, 3] keypoints (or features).
        positions: [batch, time, N, 2] ground-truth positions, N <= K.

    Returns:
        Scalar: sum over time, objects and coordinates of squared errors,
        averaged over the batch.
    """
    num_objects = positions.shape[2]
    if num_objects > keypoints.shape[2]:
        raise ValueError(f"{num_objects} ground-truth objects but only {keypoints.shape[2]} "
                         "keypoints to supervise.")
    valid = tf.math.is_finite(positions)
    error = tf.where(valid, keypoints[:, :, :num_objects, :2] - tf.where(valid, positions, 0.0),
                     0.0)
    return tf.reduce_mean(tf.reduce_sum(tf.square(error), axis=[1, 2, 3]))
