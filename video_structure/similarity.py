"""Frame metrics of predicted videos: PSNR, SSIM and VGG cosine similarity.

Each takes frames [..., time, H, W, C] with values in [0, 1] and returns one
value per frame [..., time]. `select_closest_and_furthest` picks, of several
samples per sequence, the ones a metric ranks closest to and furthest from the
ground truth.

The VGG network comes from `video_structure.pretrained` and is passed in, so
that callers build it once.
"""

import typing

import numpy as np
import tensorflow as tf

# The frame metrics of evaluation.py, in the order of its tables and plots.
FRAME_METRICS = ("vgg_cosine", "ssim", "psnr")


def _check_frames(target, prediction):
    target = tf.convert_to_tensor(target, tf.float32)
    prediction = tf.convert_to_tensor(prediction, tf.float32)
    if target.shape != prediction.shape:
        raise ValueError(f"target shape {target.shape} != prediction shape {prediction.shape}.")
    if target.shape.rank < 4:
        raise ValueError(f"Frames must be [..., time, H, W, C]; got shape {target.shape}.")
    return target, prediction


def _per_image(fn, target, prediction):
    """Applies fn to images flattened to [N, H, W, C]; returns [...]."""
    lead = tf.shape(target)[:-3]
    image_shape = tf.shape(target)[-3:]
    flat_shape = tf.concat([[-1], image_shape], axis=0)
    values = fn(tf.reshape(target, flat_shape), tf.reshape(prediction, flat_shape))
    return tf.reshape(values, lead)


def psnr(target, prediction):
    """Peak signal-to-noise ratio per frame, in dB, for values in [0, 1].

    Identical frames give +inf (zero mean squared error). Inf propagates into
    means, so average only over frames that were actually predicted.

    Args:
        target: float [..., time, H, W, C] ground-truth frames in [0, 1].
        prediction: float, same shape, predicted frames in [0, 1].

    Returns:
        float32 [..., time].
    """
    target, prediction = _check_frames(target, prediction)
    return _per_image(lambda a, b: tf.image.psnr(a, b, max_val=1.0), target, prediction)


def ssim(target, prediction):
    """Structural similarity per frame (11x11 Gaussian window, sigma 1.5).

    Args:
        target: float [..., time, H, W, C] ground-truth frames in [0, 1];
            H and W must be at least 11.
        prediction: float, same shape, predicted frames in [0, 1].

    Returns:
        float32 [..., time]; 1 for identical frames.
    """
    target, prediction = _check_frames(target, prediction)
    if min(target.shape[-3], target.shape[-2]) < 11:
        raise ValueError(
            "SSIM needs frames of at least 11x11 pixels; got "
            f"{target.shape[-3]}x{target.shape[-2]}."
        )
    return _per_image(
        lambda a, b: tf.image.ssim(a, b, max_val=1.0, filter_size=11, filter_sigma=1.5),
        target,
        prediction,
    )


def feature_cosine_similarity(features_a, features_b, eps=1e-10):
    """Mean over layers of spatially averaged channel-wise cosine similarity.

    Each feature map is L2-normalised over channels at every location; the dot
    product of the normalised vectors is averaged over locations, then over
    layers.

    Args:
        features_a: list of float [N, h_l, w_l, c_l] feature maps.
        features_b: list of float maps of the same shapes.
        eps: Added to the norms so all-zero (dead ReLU) vectors give 0.

    Returns:
        float32 [N].
    """
    if len(features_a) != len(features_b) or not features_a:
        raise ValueError(
            "Need the same, non-zero number of feature maps; got "
            f"{len(features_a)} and {len(features_b)}."
        )
    per_layer = []
    for a, b in zip(features_a, features_b):
        a = a / (tf.norm(a, axis=-1, keepdims=True) + eps)
        b = b / (tf.norm(b, axis=-1, keepdims=True) + eps)
        per_layer.append(tf.reduce_mean(tf.reduce_sum(a * b, axis=-1), axis=[1, 2]))
    return tf.reduce_mean(tf.stack(per_layer, axis=0), axis=0)


# Traced once per VGG model and twice per frame size (the first chunk's
# batch, then any batch): in graph mode grappler fuses each convolution with
# its bias and ReLU, and the cosine's normalisations run as one graph, which
# eager execution does op by op.
@tf.function(reduce_retracing=True)
def _vgg_features(vgg_model, frames):
    return vgg_model(frames, training=False)


@tf.function(reduce_retracing=True)
def _cosine_to_targets(vgg_model, target_features, target_index, predictions):
    """Cosine of each predicted frame's features with its target's, [predictions]."""
    targets = [tf.gather(features, target_index) for features in target_features]
    return feature_cosine_similarity(targets, vgg_model(predictions, training=False))


def vgg_cosine_similarity(target, prediction, vgg_model, batch_size=64):
    """VGG16 feature cosine similarity per frame (higher is better).

    Uses the five block outputs of `pretrained.build_vgg16_features` (ReLU of
    the last convolution of each block, as in the SAVP evaluation code).
    `target` may have fewer distinct frames than `prediction`: its leading
    axes broadcast against prediction's (numpy rules), e.g. [batch, 1, time]
    against [batch, samples, time], and each target frame goes through VGG
    once however many predictions it is compared with.

    Args:
        target: float [..., time, H, W, 3] ground-truth frames in [0, 1].
        prediction: float [..., time, H, W, 3] predicted frames in [0, 1], with
            target's leading axes or axes that target's broadcast to.
        vgg_model: Model from `pretrained.build_vgg16_features`; it maps [0, 1]
            RGB images to the list of five feature maps.
        batch_size: Frames per forward pass.

    Returns:
        float32 [..., time] with prediction's leading axes; 1 for identical
        frames.

    Raises:
        ValueError: on shapes that do not broadcast or frames that are not RGB.
    """
    target = np.asarray(target, np.float32)
    prediction = np.asarray(prediction, np.float32)
    lead = prediction.shape[:-3]
    try:
        broadcasts = np.broadcast_shapes(target.shape[:-3], lead) == lead
    except ValueError:
        broadcasts = False
    if target.ndim < 4 or target.shape[-3:] != prediction.shape[-3:] or not broadcasts:
        raise ValueError(
            f"target shape {target.shape} does not broadcast to prediction shape "
            f"{prediction.shape} (frames [..., time, H, W, C])."
        )
    if target.shape[-1] != 3:
        raise ValueError(f"VGG needs RGB frames; got {target.shape[-1]} channels.")
    flat_target = target.reshape((-1,) + target.shape[-3:])
    flat_prediction = prediction.reshape((-1,) + prediction.shape[-3:])
    # The target frame each predicted frame is compared with.
    target_index = np.broadcast_to(
        np.arange(len(flat_target)).reshape(target.shape[:-3]), lead
    ).reshape(-1)
    values = np.empty(len(flat_prediction), np.float32)
    for start in range(0, len(flat_target), batch_size):
        target_features = _vgg_features(vgg_model, flat_target[start : start + batch_size])
        (paired,) = np.nonzero((target_index >= start) & (target_index < start + batch_size))
        for chunk_start in range(0, len(paired), batch_size):
            chunk = paired[chunk_start : chunk_start + batch_size]
            values[chunk] = _cosine_to_targets(
                vgg_model, target_features, target_index[chunk] - start, flat_prediction[chunk]
            ).numpy()
    return tf.constant(values.reshape(lead))


class SampleSelection(typing.NamedTuple):
    """Closest and furthest of several samples per sequence.

    Attributes:
        closest: [batch, time] per-step metric of the sample closest to ground
            truth.
        furthest: [batch, time] per-step metric of the furthest sample.
        closest_index: int [batch] sample index of `closest`.
        furthest_index: int [batch] sample index of `furthest`.
    """

    closest: np.ndarray
    furthest: np.ndarray
    closest_index: np.ndarray
    furthest_index: np.ndarray


def select_closest_and_furthest(values, num_observed_steps=0, higher_is_better=True):
    """Picks per sequence the samples closest to and furthest from ground truth.

    Samples are ranked by their metric averaged over the predicted steps
    (time steps from `num_observed_steps` on); the full per-step values of the
    chosen samples are returned. Ties go to the lowest sample index.

    Args:
        values: float [batch, samples, time] per-step metric of every sample.
        num_observed_steps: Number of leading (observed) steps excluded from the
            ranking.
        higher_is_better: True for similarities (VGG cosine, SSIM, PSNR), False
            for distances.

    Returns:
        A `SampleSelection`.

    Raises:
        ValueError: on a wrong rank or when no predicted step is left.
    """
    values = np.asarray(values)
    if values.ndim != 3:
        raise ValueError(f"values must be [batch, samples, time]; got shape {values.shape}.")
    if not 0 <= num_observed_steps < values.shape[2]:
        raise ValueError(
            f"num_observed_steps={num_observed_steps} leaves no "
            f"predicted step out of {values.shape[2]}."
        )
    score = values[:, :, num_observed_steps:].mean(axis=2)  # [batch, samples]
    if not higher_is_better:
        score = -score
    closest_index = np.argmax(score, axis=1)
    furthest_index = np.argmin(score, axis=1)
    rows = np.arange(values.shape[0])
    return SampleSelection(
        closest=values[rows, closest_index],
        furthest=values[rows, furthest_index],
        closest_index=closest_index,
        furthest_index=furthest_index,
    )
