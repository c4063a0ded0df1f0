"""Fréchet Video Distance (Unterthiner et al., 2018) between sets of videos.

FVD compares two sets of videos [batch, time >= 9, H, W, 3] with values in
[0, 1] through their I3D Kinetics-400 logits, following the reference
implementation (google-research/frechet_video_distance with tensorflow_gan's
Fréchet distance).

The I3D network comes from `video_structure.pretrained` and is passed in, so
that callers build it once.
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
