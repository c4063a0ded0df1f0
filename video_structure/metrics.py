"""Video prediction metrics: PSNR, SSIM, VGG cosine similarity and FVD.

Frame metrics take frames [..., time, H, W, C] with values in [0, 1] and
return one value per frame [..., time]. FVD (Unterthiner et al., 2018)
compares two sets of videos through I3D Kinetics-400 logits, following the
reference implementation (google-research/frechet_video_distance with
tensorflow_gan's Fréchet distance).

Networks come from `video_structure.pretrained` and are passed in, so that
callers build them once.
"""

import collections
import typing
import warnings

import numpy as np
import tensorflow as tf

from video_structure.pretrained import i3d

# FVD from fewer videos is strongly biased (the 400-d covariance has rank
# < N) and not comparable across sample sizes; the FVD paper evaluates with
# sets of 256 videos or more.
FVD_MIN_RECOMMENDED_VIDEOS = 256


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
        target_features = vgg_model(flat_target[start : start + batch_size], training=False)
        (paired,) = np.nonzero((target_index >= start) & (target_index < start + batch_size))
        for chunk_start in range(0, len(paired), batch_size):
            chunk = paired[chunk_start : chunk_start + batch_size]
            features = vgg_model(flat_prediction[chunk], training=False)
            targets = [tf.gather(f, target_index[chunk] - start) for f in target_features]
            values[chunk] = feature_cosine_similarity(targets, features).numpy()
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


def fvd_preprocess(videos):
    """Resizes videos to 224x224 and scales [0, 1] values to [-1, 1] for I3D.

    Uses TF1's bilinear resize (align_corners=False, half_pixel_centers=False)
    like the reference implementation; TF2's `tf.image.resize` samples at pixel
    centres and gives different frames. The reference scaled 0-255 values,
    which is the same as scaling [0, 1] values since resizing is linear.

    Args:
        videos: float [batch, time, H, W, 3] with values in [0, 1].

    Returns:
        float32 [batch, time, 224, 224, 3] in [-1, 1].
    """
    videos = tf.convert_to_tensor(videos, tf.float32)
    if videos.shape.rank != 5 or videos.shape[-1] != 3:
        raise ValueError(f"videos must be [batch, time, H, W, 3]; got shape {videos.shape}.")
    size = i3d.I3D_IMAGE_SIZE
    batch, time = tf.shape(videos)[0], tf.shape(videos)[1]
    frames = tf.reshape(videos, tf.concat([[-1], tf.shape(videos)[2:]], 0))
    frames = tf.compat.v1.image.resize_bilinear(
        frames, (size, size), align_corners=False, half_pixel_centers=False
    )
    return tf.reshape(2.0 * frames - 1.0, [batch, time, size, size, 3])


def _check_fvd_videos(videos):
    """Returns videos as float32 numpy after checking they suit I3D."""
    videos = np.asarray(videos, np.float32)
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"videos must be [batch, time, H, W, 3]; got shape {videos.shape}.")
    if videos.shape[1] < i3d.I3D_MIN_FRAMES:
        raise ValueError(
            f"FVD needs videos of at least {i3d.I3D_MIN_FRAMES} frames "
            f"(I3D's final temporal pooling fails below); got {videos.shape[1]}."
        )
    if videos.size:
        low, high = float(videos.min()), float(videos.max())
        # Same tolerance as the reference's assertion on [-1, 1]-scaled inputs;
        # catches 0-255 inputs and unclipped predictions.
        if low < -5e-4 or high > 1.0 + 5e-4:
            raise ValueError(
                f"FVD needs video values in [0, 1]; got [{low:.4g}, "
                f"{high:.4g}]. Clip predictions to [0, 1] first."
            )
    return videos


class I3dEmbedder:
    """I3D Kinetics-400 logits, the FVD embedding, of named sets of videos.

    Videos can be added a few at a time (e.g. one rollout batch at a time):
    they are buffered and go through I3D `batch_size` at a time, whichever set
    they belong to, in one traced tf.function. The network runs in inference
    mode, so the logits do not depend on how videos are batched.
    """

    def __init__(self, i3d_model, batch_size=8):
        """Creates the embedder.

        Args:
            i3d_model: Model from `pretrained.build_i3d`.
            batch_size: Videos per forward pass (speed and memory only).
        """
        self.batch_size = batch_size
        self._forward = tf.function(
            lambda videos: i3d_model(fvd_preprocess(videos), training=False),
            input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)],
        )
        self._video_shape = None
        self._pending = []  # (set name, video [time, H, W, 3])
        self._logits = collections.defaultdict(list)  # set name -> [400] arrays

    def add(self, name, videos):
        """Adds videos to set `name`; embeds every full batch.

        Args:
            name: The set's name.
            videos: float [batch, time >= 9, H, W, 3] with values in [0, 1]; every
                video added to the embedder must have the same shape.

        Raises:
            ValueError: on a wrong shape, fewer than 9 frames (I3D's final
                temporal pooling needs at least 9) or values outside [0, 1].
        """
        videos = _check_fvd_videos(videos)
        if self._video_shape is None:
            self._video_shape = videos.shape[1:]
        elif videos.shape[1:] != self._video_shape:
            raise ValueError(
                f"Videos of shape {videos.shape[1:]} cannot join videos of shape "
                f"{self._video_shape}."
            )
        # Copies: a caller may reuse its buffer before the batch is embedded.
        self._pending.extend((name, np.array(video)) for video in videos)
        while len(self._pending) >= self.batch_size:
            self._embed(self.batch_size)

    def logits(self, name):
        """Returns float32 numpy [N, 400] logits of set `name`, in the order added."""
        if self._pending:
            self._embed(len(self._pending))
        if name not in self._logits:
            raise KeyError(f"No videos were added to the set {name!r}.")
        return np.stack(self._logits[name])

    def _embed(self, count):
        batch, self._pending = self._pending[:count], self._pending[count:]
        logits = self._forward(np.stack([video for _, video in batch])).numpy()
        for (name, _), row in zip(batch, logits):
            self._logits[name].append(row)


def i3d_logits(videos, i3d_model, batch_size=8):
    """I3D Kinetics-400 logits of videos, the FVD embedding.

    Args:
        videos: float [batch, time >= 9, H, W, 3] with values in [0, 1].
        i3d_model: Model from `pretrained.build_i3d`.
        batch_size: Videos per forward pass (memory only; results do not depend
            on it).

    Returns:
        float32 numpy [batch, 400].

    Raises:
        ValueError: if the videos have fewer than 9 frames or values outside
            [0, 1].
    """
    embedder = I3dEmbedder(i3d_model, batch_size)
    embedder.add("videos", videos)
    return embedder.logits("videos")


def _symmetric_psd_sqrt(matrix, eps=1e-10):
    """Square root of a symmetric PSD matrix through its SVD.

    As in tensorflow_gan, singular values below eps are kept as they are
    rather than square-rooted, which damps round-off noise.
    """
    u, s, vh = np.linalg.svd(matrix)
    root = np.where(s < eps, s, np.sqrt(s))
    return (u * root) @ vh


def frechet_distance(activations_a, activations_b):
    """Fréchet distance between Gaussians fitted to two sets of activations.

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) in float64 with
    unbiased (N - 1) covariances. Tr((S_a S_b)^(1/2)) is computed as
    Tr((A S_b A)^(1/2)) with A = S_a^(1/2), which only needs square roots of
    symmetric matrices (the tensorflow_gan formulation used by the FVD
    reference). Like the reference, singular values below 1e-10 are not
    square-rooted, so activations whose variances are below ~1e-5 (e.g. of an
    untrained network) are not resolved and give a small positive bias.

    Args:
        activations_a: float [N_a, D].
        activations_b: float [N_b, D].

    Returns:
        The distance as a Python float (symmetric in its arguments up to
        round-off).

    Raises:
        ValueError: on wrong shapes or fewer than 2 rows in a set.
    """
    a = np.asarray(activations_a, np.float64)
    b = np.asarray(activations_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"Activations must be [N, D] with equal D; got {a.shape} and {b.shape}.")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError(
            "Need at least 2 activations per set for a covariance; "
            f"got {a.shape[0]} and {b.shape[0]}."
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False, ddof=1)
    cov_b = np.cov(b, rowvar=False, ddof=1)
    sqrt_a = _symmetric_psd_sqrt(cov_a)
    trace_sqrt = np.trace(_symmetric_psd_sqrt(sqrt_a @ cov_b @ sqrt_a))
    return float(
        np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    )


class FvdResult(typing.NamedTuple):
    """An FVD value with the sample sizes it was computed from.

    FVD is biased and depends on the number of videos: always report N.
    """

    fvd: float
    num_videos_a: int
    num_videos_b: int

    @property
    def warning(self):
        """Why the value should not be compared widely, or None."""
        if min(self.num_videos_a, self.num_videos_b) >= FVD_MIN_RECOMMENDED_VIDEOS:
            return None
        return (
            f"FVD from {self.num_videos_a} and {self.num_videos_b} videos: below "
            f"{FVD_MIN_RECOMMENDED_VIDEOS} videos per set FVD is strongly biased; only "
            "compare values computed from equal numbers of videos."
        )


def _check_fvd_set_sizes(num_a, num_b):
    if min(num_a, num_b) < 2:
        raise ValueError(f"FVD needs at least 2 videos per set; got {num_a} and {num_b}.")


def fvd_from_logits(logits_a, logits_b):
    """Fréchet Video Distance between two sets of I3D logits.

    Warns (`UserWarning`, the result's `warning`) when a set has fewer than
    `FVD_MIN_RECOMMENDED_VIDEOS` videos.

    Args:
        logits_a: float [N_a, 400] from `i3d_logits` or `I3dEmbedder` (e.g. of
            real videos).
        logits_b: float [N_b, 400] (e.g. of generated videos).

    Returns:
        An `FvdResult` (value and both set sizes).

    Raises:
        ValueError: on fewer than 2 videos per set.
    """
    num_a, num_b = len(logits_a), len(logits_b)
    _check_fvd_set_sizes(num_a, num_b)
    result = FvdResult(frechet_distance(logits_a, logits_b), num_a, num_b)
    if result.warning:
        warnings.warn(result.warning, stacklevel=2)
    return result


def fvd(videos_a, videos_b, i3d_model, batch_size=8):
    """Fréchet Video Distance between two sets of videos.

    Warns (`UserWarning`) when a set has fewer than
    `FVD_MIN_RECOMMENDED_VIDEOS` videos.

    Args:
        videos_a: float [N_a, time >= 9, H, W, 3] in [0, 1] (e.g. real videos).
        videos_b: float [N_b, time, H, W, 3] in [0, 1] (e.g. generated videos).
        i3d_model: Model from `pretrained.build_i3d`.
        batch_size: Videos per I3D forward pass.

    Returns:
        An `FvdResult` (value and both set sizes).

    Raises:
        ValueError: on fewer than 9 frames, values outside [0, 1] or fewer than
            2 videos per set.
    """
    _check_fvd_set_sizes(len(videos_a), len(videos_b))
    embedder = I3dEmbedder(i3d_model, batch_size)
    embedder.add("a", videos_a)
    embedder.add("b", videos_b)
    return fvd_from_logits(embedder.logits("a"), embedder.logits("b"))
