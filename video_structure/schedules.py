"""Training schedules: KL annealing, scheduled sampling, learning rate (S1.2, S1.3).

Also, not from the paper, the keypoint width of the reconstructor's maps.

Each takes the global training step (a Python number or a tensor) and returns
a float32 tensor, so they run inside `train_step` and in numpy-based tests.
"""

import keras
import tensorflow as tf


def _ramp(step, ramp_steps: int) -> tf.Tensor:
    """Rises linearly from 0 at step 0 to 1 at `ramp_steps`, then stays at 1."""
    if ramp_steps <= 0:
        return tf.constant(1.0)
    return tf.minimum(tf.cast(step, tf.float32) / float(ramp_steps), 1.0)


def kl_scale(step, beta: float, annealing_steps: int) -> tf.Tensor:
    """The KL scale, annealed linearly from 0 to beta over `annealing_steps` (S1.2)."""
    return beta * _ramp(step, annealing_steps)


def sampling_probability(step, final_probability: float, ramp_steps: int) -> tf.Tensor:
    """Probability of feeding the model's own sample to the RNN (S1.3).

    It rises linearly from 0 (pure teacher forcing) to `final_probability`.
    """
    return final_probability * _ramp(step, ramp_steps)


def keypoint_sigma(step, sigma: float, start_factor: float, decay_steps: int) -> tf.Tensor:
    """The width of the reconstructor's keypoint maps during training (not from the paper).

    It starts at `start_factor` x `sigma` and decays geometrically to `sigma`
    at `decay_steps`, then stays there. Geometric rather than linear: the
    blob's reach is a multiplicative quantity, so each halving of the width
    takes the same number of steps and the run does not linger wide (a
    constant wide blob blurs the reconstructions, docs/fidelity.md).
    """
    return sigma * start_factor ** (1.0 - _ramp(step, decay_steps))


def learning_rate(initial: float, decay_steps: int, decay_factor: float):
    """Multiplies the learning rate by `decay_factor` every `decay_steps` steps (S1.2)."""
    return keras.optimizers.schedules.ExponentialDecay(
        initial, decay_steps, decay_factor, staircase=True
    )
