"""The optimizer of S1.2: Adam with a step-wise halved learning rate.

Under tf.distribute each replica clips its share of the gradient
(`distribute.global_gradients`); under mixed_float16 Adam is wrapped in
Keras' dynamic loss scaling (`precision`).
"""

import keras

from video_structure import config as config_lib
from video_structure import schedules


def make_optimizer(
    config: config_lib.Config, num_replicas: int = 1, policy: str = "float32"
) -> keras.optimizers.Optimizer:
    """Adam with the step-wise halved learning rate of S1.2.

    Args:
        config: the hyperparameters.
        num_replicas: replicas training in sync; each clips its copy of the
            global gradient divided by R at clipnorm / R
            (`distribute.global_gradients`).
        policy: one of `run_options.POLICIES`; "mixed_float16" wraps Adam in
            Keras' dynamic loss scaling, which float16's narrow range needs.

    Returns:
        The optimizer.
    """
    optimizer = keras.optimizers.Adam(
        learning_rate=schedules.learning_rate(
            config.learning_rate, config.lr_decay_steps, config.lr_decay_factor
        ),
        beta_1=config.adam_beta1,
        beta_2=config.adam_beta2,
        clipnorm=config.clipnorm / num_replicas if config.clipnorm else None,
    )
    if policy == "mixed_float16":
        # Keras' default first scale, 2^15, suits losses near 1; ours are sums of
        # some 10^3-10^4 per sequence, whose float16 gradients overflowed at every
        # scale down to 2^10 in our runs, each skipping its step. From 1 the scale
        # grows as long as the gradients stay finite.
        return keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=1.0)
    return optimizer
