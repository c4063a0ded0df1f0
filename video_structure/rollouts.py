"""Rollouts of a loaded export, batch after batch: the loop evaluation and collection share.

Works on the SavedModel of `export.load` (its signatures only). Batch i of a
pass draws its samples from the stateless seed [seed, i], so a pass gives the
same samples whatever else runs before it.
"""

import itertools
from collections.abc import Iterator

import numpy as np
import tensorflow as tf


def batch_seeds(seed: int) -> Iterator[tf.Tensor]:
    """The stateless seeds [seed, 0], [seed, 1], ... of a pass's batches."""
    return (tf.constant([seed, index]) for index in itertools.count())


def predict(loaded, observed_keypoints, num_samples: int, seed, actions=None) -> dict:
    """The export's `predict_keypoints`, with the actions only where it takes them.

    Args:
        loaded: the SavedModel of `export.load`.
        observed_keypoints: float32 [batch, T, K, 3].
        num_samples: N.
        seed: int32 [2] stateless seed.
        actions: float32 [batch, T + Delta T, A] for action-conditional exports.

    Returns:
        {"keypoints": [batch, N, T + Delta T, K, 3], "states": [batch, N,
        T + Delta T, rnn_units]} tensors.
    """
    inputs = [observed_keypoints, tf.constant(num_samples), seed]
    if actions is not None:
        inputs.append(actions)
    return loaded.predict_keypoints(*inputs)


def sample_videos(
    loaded,
    observed_frames: np.ndarray,
    num_samples: int,
    seed,
    actions=None,
    steps: slice = slice(None),
    render_batch_size: int = 32,
) -> np.ndarray:
    """The export's `rollout`, rendered a few sample videos at a time.

    Keypoints of all samples are predicted at once (they are small); the
    reconstructor then renders `render_batch_size` videos per call, so memory
    does not grow with batch x samples, and only the time `steps` asked for.
    Same samples as `rollout` for a seed.

    Args:
        loaded: the SavedModel of `export_lib.load`.
        observed_frames: float32 [batch, T, H, W, C] in [0, 1].
        num_samples: N.
        seed: int32 [2] stateless seed.
        actions: float32 [batch, T + Delta T, A], for action-conditional exports.
        steps: the time steps of the rollout to render.
        render_batch_size: videos per reconstructor call.

    Returns:
        float32 [batch, N, steps, H, W, C], not clipped.
    """
    observed = loaded.detect_keypoints(observed_frames)["keypoints"]  # [batch, T, K, 3]
    keypoints = predict(loaded, observed, num_samples, seed, actions)["keypoints"]
    batch = keypoints.shape[0]
    flat = tf.reshape(keypoints, (-1,) + tuple(keypoints.shape[2:]))[:, steps]  # [batch * N, ...]
    first_frames = tf.repeat(observed_frames[:, 0], num_samples, axis=0)
    first_keypoints = tf.repeat(observed[:, 0], num_samples, axis=0)
    videos = np.concatenate(
        [
            loaded.reconstruct(
                flat[i : i + render_batch_size],
                first_frames[i : i + render_batch_size],
                first_keypoints[i : i + render_batch_size],
            )["frames"].numpy()
            for i in range(0, len(flat), render_batch_size)
        ]
    )
    return videos.reshape((batch, num_samples) + videos.shape[1:])
