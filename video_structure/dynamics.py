"""The stochastic dynamics model: a VRNN over keypoints (Eq. 1-4, S6-S9).

`VRNNCell` holds the four nets of Figure 1 (prior, posterior, keypoint
decoder, GRU) and returns tensorflow-probability distributions; `unroll`
runs it over a sequence, for training (best-of-many samples, Eq. 8, and
scheduled sampling, S1.3) and for prediction (prior samples after the
observed steps).

Keypoints enter and leave the cell flattened: [batch, K * 3]. Under mixed
precision the cell's dense layers and GRU compute in the policy's dtype; the
cell is a float32 layer that casts their outputs to float32, so that the
distributions, their KL and the carried state are float32 (precision.py says why).
"""

import dataclasses

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from video_structure import config as config_lib
from video_structure import precision

tfd = tfp.distributions


class VRNNCell(keras.layers.Layer):
    """Prior, posterior, decoder and GRU of the VRNN (S1.1.2)."""

    def __init__(self, config: config_lib.Config, action_size: int = 0, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.action_size = action_size
        self.action_timing = config.action_timing
        self.rnn_units = config.rnn_units
        self.keypoint_size = 3 * config.num_keypoints
        self.min_std = config.min_latent_std

        def hidden(units, name):
            return keras.layers.Dense(
                units, activation="relu", kernel_initializer="he_uniform", name=name
            )

        # Eq. S6.
        self.prior_hidden = hidden(config.prior_net_size, "prior_hidden")
        self.prior_params = keras.layers.Dense(2 * config.latent_size, name="prior_params")
        # Eq. S7.
        self.posterior_hidden = hidden(config.posterior_net_size, "posterior_hidden")
        self.posterior_params = keras.layers.Dense(2 * config.latent_size, name="posterior_params")
        # Eq. S8. tanh keeps decoded keypoints in the coordinate range (code).
        self.decoder_hidden = hidden(config.decoder_net_size, "decoder_hidden")
        self.decoder_output = keras.layers.Dense(
            self.keypoint_size, activation="tanh", name="decoder_output"
        )
        # Eq. S9.
        self.gru = keras.layers.GRUCell(config.rnn_units, name="gru")

    def _gaussian(self, params: tf.Tensor) -> tfd.Distribution:
        loc, raw_scale = tf.split(precision.float32(params), 2, axis=-1)
        return tfd.MultivariateNormalDiag(loc, tf.nn.softplus(raw_scale) + self.min_std)

    def initial_state(self, batch_size) -> tf.Tensor:
        return tf.zeros([batch_size, self.rnn_units])

    def prior(self, state: tf.Tensor) -> tfd.Distribution:
        """p(z_t | x_<t, z_<t) = phi_prior(h_{t-1}) (Eq. 1, S6)."""
        return self._gaussian(self.prior_params(self.prior_hidden(state)))

    def posterior(self, state: tf.Tensor, keypoints: tf.Tensor) -> tfd.Distribution:
        """q(z_t | x_<=t, z_<t) = phi_enc([x_t, h_{t-1}]) (Eq. 2, S7)."""
        hidden = self.posterior_hidden(tf.concat([keypoints, state], axis=-1))
        return self._gaussian(self.posterior_params(hidden))

    def decode(self, latent: tf.Tensor, state: tf.Tensor) -> tf.Tensor:
        """x_t = phi_dec([z_t, h_{t-1}]) (Eq. 3, S8).

        p(x_t | z_<=t, x_<t) is a unit-variance Gaussian around this output, so
        its negative log-likelihood is 0.5 * ||x_t - x||^2 up to a constant.

        Args:
            latent: [..., batch, latent_size]; leading sample dimensions allowed.
            state: [batch, rnn_units].

        Returns:
            [..., batch, K * 3] keypoints.
        """
        state = tf.broadcast_to(state, tf.concat([tf.shape(latent)[:-1], [self.rnn_units]], 0))
        decoded = self.decoder_output(self.decoder_hidden(tf.concat([latent, state], axis=-1)))
        return precision.float32(decoded)

    def step(
        self,
        keypoints: tf.Tensor,
        latent: tf.Tensor,
        state: tf.Tensor,
        action: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """h_t = phi_rnn([x_t, z_t, a], h_{t-1}) (Eq. 4, S9); `a` as `step_actions` aligns it."""
        inputs = [keypoints, latent]
        if self.action_size:
            inputs.append(action)
        new_state, _ = self.gru(tf.concat(inputs, axis=-1), state)
        return precision.float32(new_state)


@dataclasses.dataclass
class Rollout:
    """What `unroll` returns.

    Attributes:
        keypoints: [batch, time, K * 3] decoded keypoints x_hat_t.
        states: [batch, time, rnn_units] GRU states h_t after each step.
        kl: [batch, observed_steps] KL(q || p) of the observed steps.
        prior_std: [batch, time] mean prior standard deviation, for monitoring.
    """

    keypoints: tf.Tensor
    states: tf.Tensor
    kl: tf.Tensor
    prior_std: tf.Tensor


def unroll(
    cell: VRNNCell,
    keypoints: tf.Tensor,
    observed_steps: int,
    total_steps: int,
    seed,
    actions: tf.Tensor | None = None,
    num_samples: int = 1,
    deterministic: bool = False,
    sample_prob_observed=1.0,
    sample_prob_predicted=1.0,
) -> Rollout:
    """Runs the VRNN over observed steps, then predicts to `total_steps`.

    On observed steps z_t comes from the posterior, afterwards from the prior
    (Eq. 8, S8). With `num_samples` > 1 each step draws that many latents and
    keeps, per sequence, the one whose decoded keypoints are closest to the
    target keypoints (best of many, Eq. 8). The GRU is then fed the target
    keypoints (teacher forcing) or the kept sample, the latter with probability
    `sample_prob_*`, drawn per sequence and step (scheduled sampling, S1.3).

    Args:
        cell: the VRNN cell.
        keypoints: [batch, time, K * 3] detected keypoints, time >= observed_steps.
            Steps after `observed_steps` are targets for best of many and
            teacher forcing only; they may be absent when neither is used.
        observed_steps: T.
        total_steps: T + Delta T.
        seed: [2] int32 stateless seed.
        actions: [batch, total_steps, A]; `actions[:, t]` is the action that
            produced frame t; `step_actions` says which one enters the GRU
            update of step t. Required iff the cell takes actions.
        num_samples: latents drawn per step for best of many.
        deterministic: use the latent mean instead of samples (Struct-RNN).
        sample_prob_observed: probability of feeding the model's sample on
            observed steps.
        sample_prob_predicted: same on predicted steps.

    Returns:
        A `Rollout`.
    """
    if (actions is None) == bool(cell.action_size):
        raise ValueError(
            f"The VRNN cell takes actions of size {cell.action_size}, but actions were "
            f"{'not ' if actions is None else ''}given."
        )
    batch_size = tf.shape(keypoints)[0]
    num_targets = keypoints.shape[1]
    state = cell.initial_state(batch_size)
    seeds = tfp.random.split_seed(seed, n=2 * total_steps)
    if cell.action_size:
        actions = step_actions(actions, cell.action_timing)
    outputs, states, kls, prior_stds = [], [], [], []
    for t in range(total_steps):
        target = keypoints[:, t] if t < num_targets else None
        prior = cell.prior(state)
        prior_stds.append(tf.reduce_mean(prior.stddev(), axis=-1))
        if t < observed_steps:
            belief = cell.posterior(state, target)
            kls.append(tfd.kl_divergence(belief, prior))
        else:
            # No posterior constrains the prior here, so the future loss must
            # not train the prior net (code; docs/fidelity.md).
            belief = tfd.MultivariateNormalDiag(
                tf.stop_gradient(prior.mean()), tf.stop_gradient(prior.stddev())
            )
        if deterministic:
            latents = belief.mean()[tf.newaxis]  # [1, batch, latent]
        else:
            latents = belief.sample(num_samples, seed=seeds[2 * t])  # [samples, batch, latent]
        decoded = cell.decode(latents, state)  # [samples, batch, K * 3]
        if latents.shape[0] > 1:
            best = best_of_many(decoded, target)  # [batch]
            latent = tf.gather(tf.transpose(latents, [1, 0, 2]), best, batch_dims=1)
            output = tf.gather(tf.transpose(decoded, [1, 0, 2]), best, batch_dims=1)
        else:
            latent, output = latents[0], decoded[0]
        prob = sample_prob_observed if t < observed_steps else sample_prob_predicted
        rnn_keypoints = output
        if target is not None:
            use_sample = tf.random.stateless_uniform([batch_size], seeds[2 * t + 1]) < prob
            rnn_keypoints = tf.where(use_sample[:, tf.newaxis], output, target)
        action = actions[:, t] if cell.action_size else None
        state = cell.step(rnn_keypoints, latent, state, action)
        outputs.append(output)
        states.append(state)
    kl = tf.stack(kls, axis=1) if kls else tf.zeros([batch_size, 0])
    return Rollout(
        keypoints=tf.stack(outputs, axis=1),
        states=tf.stack(states, axis=1),
        kl=kl,
        prior_std=tf.stack(prior_stds, axis=1),
    )


def step_actions(actions: tf.Tensor, timing: str) -> tf.Tensor:
    """Aligns actions with the GRU updates: row t is the action update t sees.

    h_t (Eq. 4) is what the prior and decoder of step t + 1 read. With "paper"
    timing it takes a_{t-1} of S1.1.2, the action that produced frame t, which
    x_t already shows; the action that produces frame t + 1 then arrives only
    after frame t + 1 was predicted, and the last action of a window is never
    used. With "next" timing h_t takes the action that produces frame t + 1, as
    in PlaNet-style models, so a prediction knows the action it follows from;
    the last update, which no prediction reads, gets zeros.

    Args:
        actions: [batch, time, A]; `actions[:, t]` produced frame t.
        timing: "next" or "paper".

    Returns:
        [batch, time, A].
    """
    if timing == "paper":
        return actions
    if timing != "next":
        raise ValueError(f"action timing must be 'next' or 'paper', got {timing!r}.")
    return tf.concat([actions[:, 1:], tf.zeros_like(actions[:, :1])], axis=1)


def best_of_many(samples: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Index of the sample closest to the target, per sequence (Eq. 8).

    The squared Euclidean distance over all keypoint components (x, y, mu) is
    the sample's negative log-likelihood under p(x_t | z_t) up to constants, so
    the closest sample is the most likely one.

    Args:
        samples: [samples, batch, D].
        target: [batch, D].

    Returns:
        [batch] int32 indices.
    """
    distances = tf.reduce_sum(tf.square(samples - target[tf.newaxis]), axis=-1)  # [samples, batch]
    return tf.argmin(distances, axis=0, output_type=tf.int32)
