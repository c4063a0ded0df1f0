"""The losses of Eq. 9, as pure functions, under two normalisations.

"paper" (`NORMALIZATIONS[0]`): within a sequence every term is the sum the
paper writes (over time steps, pixels, keypoints and keypoint pairs); over
sequences it is the mean, so the scales of Table S1 apply per sequence.

"code": each term as the authors' public TF1 code computes it, the
normalisation under which Table S1's scales may have been tuned (S1.4):
image and keypoint L2 as `tf.nn.l2_loss` (half the sum) divided by batch x
time; L_sep on the observed steps only, averaged over the batch, its constant
diagonal removed and divided by K (K - 1), so that it lies in [0, 1]; L_sparse
a Keras activity regulariser on the raw maps: per frame the mean over batch and
keypoints of the map means, divided once more by the batch size (as the Keras
of TF 1.14-1.15 does with activity regularisers), summed over frames; KL a mean
over batch and observed steps. docs/fidelity.md gives the factors between the
two and the measurements that chose each preset's.
"""

import tensorflow as tf

NORMALIZATIONS = ("paper", "code")


def _check(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")


def image_loss(
    frames: tf.Tensor, reconstructed: tf.Tensor, normalization: str = "paper"
) -> tf.Tensor:
    """L_image = sum_t ||v_t - v_hat_t||^2 (Section 4.1).

    Args:
        frames: [batch, time, H, W, C] true frames v.
        reconstructed: [batch, time, H, W, C] reconstructions v_hat.
        normalization: "paper" or "code" (see the module docstring).

    Returns:
        Scalar: "paper": the per-sequence sum, averaged over the batch; "code":
        half the sum, divided by batch x time.
    """
    _check(normalization)
    per_sequence = tf.reduce_sum(tf.square(frames - reconstructed), axis=[1, 2, 3, 4])  # [batch]
    if normalization == "code":
        return 0.5 * tf.reduce_mean(per_sequence) / frames.shape[1]
    return tf.reduce_mean(per_sequence)


def separation_loss(keypoints: tf.Tensor, sigma: float, normalization: str = "paper") -> tf.Tensor:
    """Temporal separation loss L_sep (Eq. 5).

    L_sep = sum_k sum_k' exp(-d_kk' / (2 sigma^2)), where d_kk' is the mean over
    time of the squared distance between the mean-centred trajectories of
    keypoints k and k'. The k = k' terms are the constant K, as written.

    Args:
        keypoints: [batch, time, K, 3] keypoints (only x and y are used); the
            code's normalisation expects the observed steps only.
        sigma: sigma_sep, in coordinate units.
        normalization: "paper" or "code" (see the module docstring).

    Returns:
        Scalar: "paper": the per-sequence loss, averaged over the batch;
        "code": (that - K) / (K (K - 1)), in [0, 1].
    """
    _check(normalization)
    xy = keypoints[..., :2]
    centred = xy - tf.reduce_mean(xy, axis=1, keepdims=True)  # [batch, time, K, 2]
    differences = centred[:, :, :, tf.newaxis] - centred[:, :, tf.newaxis]  # [b, t, K, K, 2]
    distances = tf.reduce_mean(tf.reduce_sum(tf.square(differences), axis=-1), axis=1)  # [b, K, K]
    loss = tf.reduce_mean(tf.reduce_sum(tf.exp(-distances / (2.0 * sigma**2)), axis=[1, 2]))
    if normalization == "code":
        num_keypoints = keypoints.shape[2]
        return (loss - num_keypoints) / (num_keypoints * (num_keypoints - 1))
    return loss


def sparsity_loss(scales: tf.Tensor, normalization: str = "paper", batch_size=None) -> tf.Tensor:
    """L_sparse = sum_k |mu_k| for each frame, summed over the sequence (Section 4.1).

    Args:
        scales: [batch, time, K] keypoint scales mu (the code's normalisation
            penalises the raw map means, Eq. S3).
        normalization: "paper" or "code" (see the module docstring).
        batch_size: "code": the batch size it divides by, the global batch of
            which `scales` is one replica's share; None: `scales`' batch.

    Returns:
        Scalar: "paper": the per-sequence sum, averaged over the batch; "code":
        per frame the mean over batch and keypoints, summed over frames and
        divided by the batch size.
    """
    _check(normalization)
    per_sequence = tf.reduce_mean(tf.reduce_sum(tf.abs(scales), axis=[1, 2]))
    if normalization == "code":
        batch = tf.cast(tf.shape(scales)[0] if batch_size is None else batch_size, scales.dtype)
        return per_sequence / scales.shape[2] / batch
    return per_sequence


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


def vrnn_loss(
    nll: tf.Tensor,
    kl: tf.Tensor,
    beta,
    normalization: str = "paper",
    sequence_length: int | None = None,
) -> tf.Tensor:
    """L_VRNN = -sum_{t<=T} E[log p(x_t | ...) - beta KL(q_t || p_t)] (Eq. 6).

    Args:
        nll: [batch, T] keypoint negative log-likelihoods of the observed steps.
        kl: [batch, T] KL divergences of the observed steps.
        beta: the (annealed) KL scale.
        normalization: "paper" or "code" (see the module docstring).
        sequence_length: T + Delta T; the code divides its keypoint L2 over
            all steps by it. Required for "code".

    Returns:
        Scalar: "paper": the per-sequence sum, averaged over the batch; "code":
        the NLL summed over the observed steps divided by T + Delta T, plus
        beta times the mean KL over observed steps, averaged over the batch.
    """
    _check(normalization)
    if normalization == "code":
        return tf.reduce_mean(
            tf.reduce_sum(nll, axis=1) / sequence_length + beta * tf.reduce_mean(kl, axis=1)
        )
    return tf.reduce_mean(tf.reduce_sum(nll + beta * kl, axis=1))


def future_loss(
    nll: tf.Tensor, normalization: str = "paper", sequence_length: int | None = None
) -> tf.Tensor:
    """L_future = -sum_{t=T+1}^{T+Delta T} E[log p(x_t | z_<=t, x_<=T)] (Eq. 7).

    Args:
        nll: [batch, Delta T] keypoint negative log-likelihoods of the predicted steps.
        normalization: "paper" or "code" (see the module docstring).
        sequence_length: T + Delta T; required for "code".

    Returns:
        Scalar: the per-sequence sum ("code": divided by T + Delta T), averaged
        over the batch.
    """
    _check(normalization)
    loss = tf.reduce_mean(tf.reduce_sum(nll, axis=1))
    return loss / sequence_length if normalization == "code" else loss


def supervised_loss(
    keypoints: tf.Tensor, positions: tf.Tensor, normalization: str = "paper"
) -> tf.Tensor:
    """Pulls the first N keypoints to the N ground-truth positions (Section 5.2).

    The supervised baselines of Figure 4 add this term; for CNN-VRNN the
    "keypoints" are its features shaped [K, 3], so the first two features of
    each of the first N triplets are pulled. Missing positions (NaN) do not
    count.

    Args:
        keypoints: [batch, time, K, 3] keypoints (or features).
        positions: [batch, time, N, 2] ground-truth positions, N <= K.
        normalization: "paper" or "code"; the authors' code has no such term,
            so "code" normalises it as the code's keypoint L2 (half the sum,
            divided by batch x time).

    Returns:
        Scalar: sum over time, objects and coordinates of squared errors,
        averaged over the batch ("code": half of that divided by time).
    """
    _check(normalization)
    num_objects = positions.shape[2]
    if num_objects > keypoints.shape[2]:
        raise ValueError(
            f"{num_objects} ground-truth objects but only {keypoints.shape[2]} "
            "keypoints to supervise."
        )
    valid = tf.math.is_finite(positions)
    error = tf.where(
        valid, keypoints[:, :, :num_objects, :2] - tf.where(valid, positions, 0.0), 0.0
    )
    loss = tf.reduce_mean(tf.reduce_sum(tf.square(error), axis=[1, 2, 3]))
    return 0.5 * loss / keypoints.shape[1] if normalization == "code" else loss
