"""Keypoint ops: score maps <-> (x, y, mu) keypoints (Eq. S1-S4).

Coordinate convention, used by every module of the package and by the
datasets' ground-truth positions:

* x and y lie in [-1, 1] across the image: x = -1 is the left edge and +1 the
  right edge; y = +1 is the top edge and -1 the bottom edge (y points up).
* The centre of pixel column u (0-based) of a map of width W is
  x = -1 + (2u + 1) / W, and of pixel row v (0-based, from the top) of height
  H is y = 1 - (2v + 1) / H. Edges rather than pixel centres are aligned, so a
  point has the same coordinates in a 16x16 heatmap and in the 64x64 frame.
* A keypoint is (x, y, mu): mu >= 0 is its scale, the mean intensity of its
  score map (Eq. S3), used as a continuous presence indicator.
"""

import tensorflow as tf

# Keeps normalisations finite for all-zero maps.
EPSILON = 1e-6


def pixel_centers(size: int) -> tf.Tensor:
    """Coordinates of the pixel centres along x (left to right) of a map of `size`."""
    return (2.0 * tf.range(size, dtype=tf.float32) + 1.0) / size - 1.0


def maps_to_keypoints(heatmaps: tf.Tensor, normalize_scales: bool = True) -> tf.Tensor:
    """Reduces non-negative score maps R to keypoints (Eq. S1-S3).

    Args:
        heatmaps: [batch, H, W, K] non-negative score maps R.
        normalize_scales: if True, divides mu by its maximum over the K keypoints
            of the frame, so mu lies in [0, 1]. This removes a degeneracy between
            the detector's and the reconstructor's scales (docs/fidelity.md).

    Returns:
        [batch, K, 3] keypoints (x, y, mu).
    """
    height, width = heatmaps.shape[1], heatmaps.shape[2]
    # Eq. S1: normalise each map to a distribution over pixels.
    total = tf.reduce_sum(heatmaps, axis=[1, 2])  # [batch, K]
    weights = heatmaps / (total[:, tf.newaxis, tf.newaxis, :] + EPSILON)
    # Eq. S2: the expected pixel coordinate; marginals keep it two cheap sums.
    x_marginal = tf.reduce_sum(weights, axis=1)  # [batch, W, K]
    y_marginal = tf.reduce_sum(weights, axis=2)  # [batch, H, K]
    x = tf.einsum("bwk,w->bk", x_marginal, pixel_centers(width))
    y = tf.einsum("bhk,h->bk", y_marginal, -pixel_centers(height))
    # Eq. S3: the mean intensity of the raw map.
    mu = total / float(height * width)  # [batch, K]
    if normalize_scales:
        mu = mu / (tf.reduce_max(mu, axis=-1, keepdims=True) + EPSILON)
    return tf.stack([x, y, mu], axis=-1)


def keypoints_to_maps(keypoints: tf.Tensor, sigma: float, heatmap_size: int) -> tf.Tensor:
    """Renders keypoints as Gaussian blobs scaled by mu (Eq. S4).

    Args:
        keypoints: [batch, K, 3] keypoints (x, y, mu).
        sigma: standard deviation of the blobs in heatmap pixels (sigma_k.p.).
        heatmap_size: height and width of the maps.

    Returns:
        [batch, heatmap_size, heatmap_size, K] maps.
    """
    # One heatmap pixel spans 2 / heatmap_size coordinate units.
    sigma_coords = sigma * 2.0 / heatmap_size
    grid = pixel_centers(heatmap_size)  # [size]
    x = keypoints[:, tf.newaxis, :, 0]  # [batch, 1, K]
    y = keypoints[:, tf.newaxis, :, 1]
    mu = keypoints[:, tf.newaxis, tf.newaxis, :, 2]  # [batch, 1, 1, K]
    # The 2D Gaussian factorises into an x and a y profile.
    x_profile = tf.exp(-tf.square(grid[tf.newaxis, :, tf.newaxis] - x) / (2.0 * sigma_coords**2))
    y_profile = tf.exp(-tf.square(-grid[tf.newaxis, :, tf.newaxis] - y) / (2.0 * sigma_coords**2))
    maps = y_profile[:, :, tf.newaxis, :] * x_profile[:, tf.newaxis, :, :]  # [batch, H, W, K]
    return mu * maps


def add_coord_channels(images: tf.Tensor) -> tf.Tensor:
    """Appends x and y coordinate channels ("CoordConv"), in the convention above.

    They let convolutions compute position-dependent outputs, which the
    detector needs to place keypoints (code; docs/fidelity.md).

    Args:
        images: [batch, H, W, C].

    Returns:
        [batch, H, W, C + 2].
    """
    shape = tf.shape(images)
    height, width = images.shape[1], images.shape[2]
    x = tf.broadcast_to(pixel_centers(width)[tf.newaxis, :, tf.newaxis], [height, width, 1])
    y = tf.broadcast_to(-pixel_centers(height)[:, tf.newaxis, tf.newaxis], [height, width, 1])
    coords = tf.broadcast_to(
        tf.concat([x, y], axis=-1)[tf.newaxis], tf.stack([shape[0], height, width, 2])
    )
    return tf.concat([images, tf.cast(coords, images.dtype)], axis=-1)


def coordinates_to_pixels(xy, height: int, width: int):
    """Maps (x, y) coordinates to continuous (column, row) pixel positions.

    Works on numpy arrays and tensors alike; pixel centres are at integers.

    Args:
        xy: [..., 2] coordinates.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        (column, row): two [...] arrays of positions.
    """
    column = (xy[..., 0] + 1.0) * width / 2.0 - 0.5
    row = (1.0 - xy[..., 1]) * height / 2.0 - 0.5
    return column, row


# A keypoint counts as active when mu is at least this share of the frame's
# largest mu (with normalised mu, whose largest is 1, simply mu >= 0.1).
ACTIVE_THRESHOLD = 0.1


def keypoint_statistics(keypoints: tf.Tensor, threshold: float = ACTIVE_THRESHOLD):
    """How many keypoints are in use, how far apart and how much they move.

    A collapsed detector shows few active keypoints sitting at one place
    without motion.

    Args:
        keypoints: [batch, time, K, 3] keypoints (x, y, mu).
        threshold: the share of the frame's largest mu at or above which a
            keypoint counts as active; relative, so that it means the same
            whether or not mu is normalised.

    Returns:
        Dict of scalars: `active_keypoints`, the mean number of active
        keypoints per frame; `keypoint_spread`, the mean distance of active
        keypoints from the frame's mean active position; `keypoint_motion`,
        the mean distance a keypoint active in two consecutive frames moves
        between them (coordinate units).
    """
    xy, mu = keypoints[..., :2], keypoints[..., 2]
    largest = tf.reduce_max(mu, axis=-1, keepdims=True)  # [batch, time, 1]
    active = tf.cast((mu >= threshold * largest) & (largest > 0), tf.float32)  # [batch, time, K]
    count = tf.reduce_sum(active, axis=-1)  # [batch, time]
    centre = (
        tf.reduce_sum(xy * active[..., tf.newaxis], axis=2, keepdims=True)
        / tf.maximum(count, 1.0)[..., tf.newaxis, tf.newaxis]
    )  # [batch, time, 1, 2]
    distance = tf.norm(xy - centre, axis=-1)  # [batch, time, K]
    both = active[:, 1:] * active[:, :-1]  # [batch, time - 1, K]
    moved = tf.norm(xy[:, 1:] - xy[:, :-1], axis=-1)
    return {
        "active_keypoints": tf.reduce_mean(count),
        "keypoint_spread": tf.reduce_sum(distance * active)
        / tf.maximum(tf.reduce_sum(active), 1.0),
        "keypoint_motion": tf.reduce_sum(moved * both) / tf.maximum(tf.reduce_sum(both), 1.0),
    }
