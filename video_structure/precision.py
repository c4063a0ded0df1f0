"""Mixed precision: which parts compute in bfloat16 or float16 and which stay float32.

train.py --mixed_precision picks one of `run_options.POLICIES`, a Keras dtype
policy. It applies to the nets alone, the convolutions, dense layers and GRU cell, which
take it from `policy` when they are built; their variables stay float32 in
every policy. The
layers that hold the nets (detector, appearance net, reconstructor, VRNN cell,
the model) are float32 layers that cast every net's output to float32 at once
(`float32`), so that these compute in float32:

* the keypoint ops: Eq. S1 normalises a map over all its pixels and Eq. S2
  takes coordinate means; with bfloat16's 8-bit mantissa a keypoint would move
  by up to a heatmap pixel, and the Gaussian maps of Eq. S4 would lose their
  tails;
* v_1 + delta (Eq. S5): frames in [0, 1] are off by up to 0.004 in bfloat16;
* the VRNN's Gaussians (softplus scales down to min_latent_std), their KL and
  the GRU state carried between steps;
* every loss term: sums over some 10^4 pixels or over time, and their
  gradients up to the nets' outputs.

float16's range (largest 65504, smallest normal 6e-5) needs loss scaling:
`optimizers.make_optimizer` wraps Adam in Keras' LossScaleOptimizer for it.
"""

import contextlib

import keras
import tensorflow as tf

from video_structure import run_options


@contextlib.contextmanager
def policy(name: str):
    """Makes `name` (of `run_options.POLICIES`) the dtype policy of the layers built inside."""
    if name not in run_options.POLICIES:
        raise ValueError(
            f"--mixed_precision={name} is not one of {', '.join(run_options.POLICIES)}."
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32(tensor: tf.Tensor) -> tf.Tensor:
    """A net's output in float32 (a no-op under the float32 policy)."""
    return tf.cast(tensor, tf.float32)
