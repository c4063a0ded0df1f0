"""Struct-VRNN: one Keras model from frames to keypoints to dynamics to frames.

Training (`train_step`) optimises Eq. 9:

    L_image + lambda_sep L_sep + lambda_sparse L_sparse + L_VRNN + L_future

plus L2 weight decay on the convolution kernels. The dynamics model sees the
detected keypoints through a stop-gradient, so its errors never reach the
detector (footnote 2).

Validation (`test_step`) logs the same terms, except that `future` is the
prediction error of one prior sample per sequence (`prediction_loss`): the
optimised best of many picks, at every predicted step, the sample closest to
the true future, which a prediction cannot know. That best-of-many value is
logged beside it as `future_bom`; `loss` stays the optimised objective.

Inference methods, batched and vectorised over samples:

* `detect(frames)`: frames -> keypoints.
* `predict_keypoints(observed_keypoints, ...)`: observe keypoints, then roll
  the dynamics out with N prior samples (optionally given actions); returns
  the keypoints and the GRU states h_t (used for reward prediction).
* `reconstruct(keypoints, first_frame, first_keypoints)`: keypoints -> frames.
* `rollout(frames, ...)`: the three above in a row.

Mixed precision: see video_structure/precision.py.
"""

import keras
import tensorflow as tf

from video_structure import config as config_lib
from video_structure import distribute, dynamics, keypoint_ops, losses, schedules, vision

LOSS_TERMS = (
    "loss",
    "image",
    "separation",
    "sparsity",
    "vrnn",
    "kl",
    "future",
    "supervised",
    "weight_decay",
)
# Validation logs these; its `future` is the single-sample prediction error.
VALIDATION_TERMS = LOSS_TERMS + ("future_bom",)
# Logged beside the losses of a keypoint model, to make a collapsed detector
# visible (`keypoint_ops.keypoint_statistics`).
KEYPOINT_MONITORS = ("active_keypoints", "keypoint_spread", "keypoint_motion")


class StructVRNN(keras.Model):
    """The Struct-VRNN model of Figure 1."""

    def __init__(
        self,
        config: config_lib.Config,
        action_size: int = 0,
        seed: int = 0,
        micro_batch_size: int = 0,
        **kwargs,
    ):
        """Builds the parts.

        Args:
            config: the hyperparameters.
            action_size: A, the action vector's size; 0 for a model without actions.
            seed: seeds the model's random draws (best of many, scheduled sampling).
            micro_batch_size: if positive and smaller than a replica's batch,
                `train_step` computes the gradients this many sequences at a
                time and averages them (`_accumulated_gradients`).
        """
        # float32 whatever the policy: the losses (precision.py).
        super().__init__(dtype="float32", **kwargs)
        self.config = config
        self.action_size = action_size
        self.micro_batch_size = micro_batch_size
        if config.representation == "cnn":
            self.detector = vision.FeatureDetector(config, name="detector")
        else:
            self.detector = vision.KeypointDetector(config, name="detector")
        self.appearance = vision.AppearanceNet(config, name="appearance")
        self.reconstructor = vision.Reconstructor(config, name="reconstructor")
        self.vrnn = dynamics.VRNNCell(config, action_size, name="vrnn")
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in VALIDATION_TERMS + KEYPOINT_MONITORS
        }

    @property
    def metrics(self):
        return list(self.trackers.values())

    def build_all(self) -> None:
        """Creates every variable by running each part once on zeros."""
        config = self.config
        frames = tf.zeros(
            [1, config.sequence_length, config.image_size, config.image_size, config.image_channels]
        )
        batch = {"frames": frames}
        if self.action_size:
            batch["actions"] = tf.zeros([1, config.sequence_length, self.action_size])
        if config.supervision_scale:
            batch["positions"] = tf.zeros([1, config.sequence_length, 1, 2])
        self.compute_losses(batch, training=False)
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras' fit() builds the model from a batch
        # reduced across replicas, which MultiWorkerMirroredStrategy cannot reduce
        # for a dict of tensors (keras-team/keras#20329), and it would find the
        # VRNN cell, used through its methods and never called, unbuilt. After
        # build_all() there is nothing left to build.
        if not self.built:
            super()._maybe_symbolic_build(iterator, data_batch)

    def call(self, frames: tf.Tensor) -> tf.Tensor:
        """Reconstructs [batch, time, H, W, C] frames through their keypoints."""
        keypoints, _ = self.detector(frames)
        return self.reconstruct(keypoints, frames[:, 0], keypoints[:, 0])

    # Inference API.

    def detect(self, frames: tf.Tensor) -> tf.Tensor:
        """phi_det on [batch, time, H, W, C] frames -> [batch, time, K, 3] keypoints."""
        return self.detector(frames)[0]

    def reconstruct(
        self,
        keypoints: tf.Tensor,
        first_frame: tf.Tensor,
        first_keypoints: tf.Tensor,
        sigma=None,
    ) -> tf.Tensor:
        """phi_rec: renders keypoints given the first frame and its keypoints (Eq. S5).

        Args:
            keypoints: [batch, time, K, 3] or [batch, samples, time, K, 3].
            first_frame: [batch, H, W, C] v_1.
            first_keypoints: [batch, K, 3] keypoints detected in v_1.
            sigma: the width of the keypoint maps; None (inference, export) is
                keypoint_sigma.

        Returns:
            [batch, time, H, W, C] or [batch, samples, time, H, W, C] frames.
        """
        appearance = self.appearance(first_frame)
        if keypoints.shape.rank == 4:
            return self.reconstructor(
                keypoints, first_keypoints, appearance, first_frame, sigma=sigma
            )
        samples = tf.shape(keypoints)[1]
        shape = tf.shape(keypoints)
        merged = tf.reshape(keypoints, tf.concat([[-1], shape[2:]], axis=0))

        def repeat(tensor):
            return tf.repeat(tensor, samples, axis=0)

        frames = self.reconstructor(
            merged, repeat(first_keypoints), repeat(appearance), repeat(first_frame), sigma=sigma
        )
        return tf.reshape(frames, tf.concat([shape[:3], tf.shape(frames)[2:]], axis=0))

    def predict_keypoints(
        self,
        observed_keypoints: tf.Tensor,
        num_samples,
        predicted_steps: int,
        seed,
        actions: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """Observes keypoints, then predicts with `num_samples` samples from the prior.

        Every sample is an independent rollout: on observed steps its latents come
        from the posterior and the GRU is fed its own decoded keypoints, as at the
        end of training (S1.3); afterwards the latents come from the prior.

        Args:
            observed_keypoints: [batch, T, K, 3] detected keypoints.
            num_samples: N, a Python int or scalar int32 tensor.
            predicted_steps: Delta T.
            seed: [2] int32 stateless seed.
            actions: [batch, T + Delta T, A]; `actions[:, t]` produced frame t.

        Returns:
            keypoints: [batch, N, T + Delta T, K, 3] decoded keypoints.
            states: [batch, N, T + Delta T, rnn_units] GRU states h_t.
        """
        observed_steps = observed_keypoints.shape[1]
        total_steps = observed_steps + predicted_steps
        batch = tf.shape(observed_keypoints)[0]
        flat = _flatten_keypoints(observed_keypoints)
        if actions is not None:
            actions = tf.repeat(actions, num_samples, axis=0)
        rollout = dynamics.unroll(
            self.vrnn,
            tf.repeat(flat, num_samples, axis=0),
            observed_steps,
            total_steps,
            seed,
            actions=actions,
            deterministic=self.config.deterministic_belief,
            sample_prob_observed=1.0,
            sample_prob_predicted=1.0,
        )
        keypoints = tf.reshape(
            rollout.keypoints, [batch, num_samples, total_steps, self.config.num_keypoints, 3]
        )
        states = tf.reshape(rollout.states, [batch, num_samples, total_steps, -1])
        return {"keypoints": keypoints, "states": states}

    def prediction_loss(self, keypoints: tf.Tensor, actions: tf.Tensor | None = None) -> tf.Tensor:
        """L_future of one prior sample per sequence, predicted as at inference.

        The dynamics model sees only the first T steps of `keypoints`; one
        rollout of `predict_keypoints` (the GRU fed its own samples) predicts
        the Delta T later ones, and no best of many looks at them.

        Args:
            keypoints: [batch, T + Delta T, K, 3] detected keypoints.
            actions: [batch, T + Delta T, A] for an action-conditional model.

        Returns:
            Scalar: the per-sequence sum over predicted steps of the keypoint
            negative log-likelihood, averaged over the batch.
        """
        observed = self.config.observed_steps
        predicted = self.predict_keypoints(
            keypoints[:, :observed], 1, self.config.predicted_steps, self._next_seed(), actions
        )
        nll = losses.keypoint_nll(
            _flatten_keypoints(keypoints[:, observed:]),
            _flatten_keypoints(predicted["keypoints"][:, 0, observed:]),
        )
        return losses.future_loss(
            nll,
            self.config.loss_normalization,  # nll: [batch, Delta T]
            self.config.sequence_length,
        )

    def rollout(
        self,
        frames: tf.Tensor,
        num_samples,
        predicted_steps: int,
        seed,
        actions: tf.Tensor | None = None,
    ) -> dict[str, tf.Tensor]:
        """Detects keypoints in observed frames, predicts and renders N futures.

        Args:
            frames: [batch, T, H, W, C] observed frames in [0, 1].
            num_samples: N.
            predicted_steps: Delta T.
            seed: [2] int32 stateless seed.
            actions: [batch, T + Delta T, A].

        Returns:
            The outputs of `predict_keypoints`, plus `observed_keypoints`
            [batch, T, K, 3] from the detector and `frames`
            [batch, N, T + Delta T, H, W, C] rendered from the decoded keypoints.
        """
        observed = self.detect(frames)
        outputs = self.predict_keypoints(observed, num_samples, predicted_steps, seed, actions)
        outputs["observed_keypoints"] = observed
        outputs["frames"] = self.reconstruct(outputs["keypoints"], frames[:, 0], observed[:, 0])
        return outputs

    # Training.

    def compute_losses(self, batch: dict[str, tf.Tensor], training: bool, global_batch=None):
        """Evaluates every term of Eq. 9 on a batch.

        Args:
            batch: `frames` [batch, T + Delta T, H, W, C] in [0, 1] and, for an
                action-conditional model, `actions` [batch, T + Delta T, A].
            training: use the scheduled-sampling probabilities (and keypoint
                width) of the current step; otherwise the RNN always gets the
                model's own samples and the maps have keypoint_sigma.
            global_batch: the number of sequences of the whole step's batch, of
                which `batch` is a share; None: batch times the replicas.
                Only the code's L_sparse reads it.

        Returns:
            (total loss, dict of the unscaled terms, dict of outputs).
        """
        config = self.config
        frames = batch["frames"]
        _check_frames(frames, config)
        keypoints, heatmaps = self.detector(frames)
        step = self.optimizer.iterations if self.optimizer is not None else 0
        sigma = None
        if training and config.keypoint_sigma_start_factor != 1.0:
            sigma = schedules.keypoint_sigma(
                step,
                config.keypoint_sigma,
                config.keypoint_sigma_start_factor,
                config.keypoint_sigma_decay_steps,
            )
        reconstructed = self.reconstruct(keypoints, frames[:, 0], keypoints[:, 0], sigma)

        # Footnote 2: the dynamics model learns from, but never shapes, the keypoints.
        targets = tf.stop_gradient(_flatten_keypoints(keypoints))  # [batch, time, K * 3]
        if training:
            prob_observed = schedules.sampling_probability(
                step, config.sampling_final_prob_observed, config.ramp_steps
            )
            prob_predicted = schedules.sampling_probability(
                step, config.sampling_final_prob_predicted, config.ramp_steps
            )
        else:
            prob_observed = prob_predicted = 1.0
        rollout = dynamics.unroll(
            self.vrnn,
            targets,
            config.observed_steps,
            config.sequence_length,
            self._next_seed(),
            actions=batch.get("actions") if self.action_size else None,
            num_samples=config.num_bom_samples,
            deterministic=config.deterministic_belief,
            sample_prob_observed=prob_observed,
            sample_prob_predicted=prob_predicted,
        )
        nll = losses.keypoint_nll(targets, rollout.keypoints)  # [batch, time]
        beta = schedules.kl_scale(step, config.kl_scale, config.kl_annealing_steps)

        # A term whose scale is 0 is not computed and reports 0; config
        # validation keeps the keypoint priors at 0 for the CNN-VRNN.
        normalization, length = config.loss_normalization, config.sequence_length
        # The authors' code separates the observed steps' trajectories only.
        separated = keypoints[:, : config.observed_steps] if normalization == "code" else keypoints
        # The code divides by the whole batch: under tf.distribute, the global one.
        if global_batch is None:
            global_batch = tf.shape(frames)[0] * distribute.num_replicas()
        terms = {
            "image": losses.image_loss(frames, reconstructed, normalization),
            "separation": (
                losses.separation_loss(separated, config.separation_sigma, normalization)
                if config.separation_scale
                else tf.constant(0.0)
            ),
            "sparsity": (
                losses.sparsity_loss(
                    self._sparsity_scales(keypoints, heatmaps), normalization, global_batch
                )
                if config.sparsity_scale
                else tf.constant(0.0)
            ),
            "vrnn": losses.vrnn_loss(
                nll[:, : config.observed_steps], rollout.kl, beta, normalization, length
            ),
            "kl": tf.reduce_mean(tf.reduce_sum(rollout.kl, axis=1)),
            "future": losses.future_loss(nll[:, config.observed_steps :], normalization, length),
            "supervised": (
                losses.supervised_loss(keypoints, _positions(batch), normalization)
                if config.supervision_scale
                else tf.constant(0.0)
            ),
            "weight_decay": tf.add_n(self.losses) if self.losses else tf.constant(0.0),
        }
        total = tf.add_n(list(scaled_terms(terms, config).values()))
        outputs = {
            "keypoints": keypoints,
            "heatmaps": heatmaps,
            "reconstructed": reconstructed,
            "decoded_keypoints": rollout.keypoints,
            "beta": beta,
            "sample_prob_observed": prob_observed,
            "sample_prob_predicted": prob_predicted,
            "keypoint_statistics": (
                keypoint_ops.keypoint_statistics(keypoints)
                if config.representation == "keypoints"
                else {}
            ),
        }
        return total, terms, outputs

    def _next_seed(self) -> tf.Tensor:
        """A fresh [2] int32 stateless seed from the model's seed generator, this replica's own."""
        return distribute.replica_seed(
            keras.random.randint([2], 0, 2**31 - 1, seed=self.seed_generator, dtype="int32")
        )

    def _sparsity_scales(self, keypoints: tf.Tensor, heatmaps: tf.Tensor) -> tf.Tensor:
        """The mu that L_sparse penalises: raw map means (Eq. S3) or the normalised mu."""
        if self.config.sparsity_on_raw_scales:
            return tf.reduce_mean(heatmaps, axis=[2, 3])  # [batch, time, K]
        return keypoints[..., 2]

    def _update_metrics(self, total, terms, outputs):
        """Updates the trackers of `total`, `terms` and the keypoint statistics.

        `outputs` holds what `_logged_outputs` keeps of `compute_losses`' outputs.

        Returns:
            The trackers' results, the step's logs.
        """
        self.trackers["loss"].update_state(total)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        for name, value in outputs["keypoint_statistics"].items():
            self.trackers[name].update_state(value)
        logs = {
            name: self.trackers[name].result()
            for name in ("loss", *terms, *outputs["keypoint_statistics"])
        }
        logs.update({name: outputs[name] for name in _SCHEDULE_LOGS})
        return distribute.reducible_logs(logs)

    # Keras traces train_step and test_step in a tf.function whose AutoGraph
    # would rewrite their source and that of every function they call. They
    # branch and loop on Python values only (the same 15,584 operations either
    # way at the authors' config), so the rewrite only costs time: tracing
    # train_step took 6.5-14.7 s without it against 20.6-21.1 s with it
    # (authors' config, batch 8, loaded machine, A B A B).
    @tf.autograph.experimental.do_not_convert
    def train_step(self, batch):
        size = self.micro_batch_size
        batch_size = batch["frames"].shape[0]
        if size and batch_size is not None and batch_size > size:
            total, terms, logged, gradients = self._accumulated_gradients(batch, size)
        else:
            total, terms, outputs, gradients = self._loss_gradients(batch)
            logged = _logged_outputs(outputs)
        gradients = distribute.global_gradients(gradients)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._update_metrics(total, terms, logged)

    def _loss_gradients(self, batch, global_batch=None):
        """Eq. 9 on `batch` and its gradients: (total, terms, outputs, gradients).

        `global_batch` as for `compute_losses`.
        """
        with tf.GradientTape() as tape:
            total, terms, outputs = self.compute_losses(
                batch, training=True, global_batch=global_batch
            )
            # Each replica's terms are means over its share of the global batch;
            # 1/R of each sums to the global mean's gradient (distribute.py).
            # scale_loss: float16's loss scale, 1 otherwise.
            scaled = self.optimizer.scale_loss(total / distribute.num_replicas())
        return total, terms, outputs, tape.gradient(scaled, self.trainable_variables)

    def _accumulated_gradients(self, batch, size: int):
        """`_loss_gradients` of `batch`, computed `size` sequences at a time.

        Every term of Eq. 9 is a mean over the batch's sequences (in both
        normalisations; the code's L_sparse, which divides that mean by the
        batch size once more, is told the whole batch's), so the mean over
        equal micro-batches of their terms and gradients is the whole batch's;
        only the random draws (best of many, scheduled sampling) differ, as
        they would for another seed. A tf.while_loop runs the micro-batches one
        after another, so the step is traced once and only one micro-batch's
        activations are alive at a time: less memory at about the same speed
        (dmcs at batch 32 on 2 CPU cores: 4.3 GiB against 6.4-6.6, 8.4-8.8
        s/step against 8.9-9.4 with micro-batches of 8;
        benchmarks/train_step.py --micro_batch_sizes).

        Returns:
            (total, terms, logged outputs, gradients), each the micro-batches' mean.
        """
        batch_size = batch["frames"].shape[0]
        if batch_size % size:
            raise ValueError(
                f"micro_batch_size={size} does not divide the per-replica batch of "
                f"{batch_size} sequences."
            )
        count = batch_size // size
        pieces = tf.nest.map_structure(
            lambda tensor: tf.reshape(tensor, [count, size, *tensor.shape[1:]]), batch
        )

        global_batch = batch_size * distribute.num_replicas()

        def mean_of_piece(index):
            total, terms, outputs, gradients = self._loss_gradients(
                tf.nest.map_structure(lambda tensor: tensor[index], pieces), global_batch
            )
            # A variable that a micro-batch leaves without gradient gets zeros,
            # which move neither Adam's moments nor the weights.
            gradients = [
                tf.zeros_like(variable) if gradient is None else gradient
                for gradient, variable in zip(gradients, self.trainable_variables)
            ]
            values = (total, terms, _logged_outputs(outputs), gradients)
            return tf.nest.map_structure(lambda value: tf.cast(value, tf.float32) / count, values)

        # The loop's running sums start at zero, in the structure mean_of_piece returns.
        zero = tf.constant(0.0)
        monitors = KEYPOINT_MONITORS if self.config.representation == "keypoints" else ()
        logged = {name: zero for name in _SCHEDULE_LOGS}
        logged["keypoint_statistics"] = {name: zero for name in monitors}
        start = (
            zero,
            {name: zero for name in LOSS_TERMS[1:]},
            logged,
            [tf.zeros_like(variable) for variable in self.trainable_variables],
        )
        _, mean = tf.while_loop(
            lambda index, _: index < count,
            lambda index, mean: (
                index + 1,
                tf.nest.map_structure(tf.add, mean, mean_of_piece(index)),
            ),
            (tf.constant(0), start),
        )
        return mean

    @tf.autograph.experimental.do_not_convert
    def test_step(self, batch):
        total, terms, outputs = self.compute_losses(batch, training=False)
        # Same detected keypoints, so the vision part runs once; the extra
        # unroll is the dynamics model's alone.
        terms["future_bom"] = terms["future"]
        terms["future"] = self.prediction_loss(
            outputs["keypoints"], batch.get("actions") if self.action_size else None
        )
        return self._update_metrics(total, terms, _logged_outputs(outputs))


def scaled_terms(terms: dict[str, tf.Tensor], config: config_lib.Config) -> dict[str, tf.Tensor]:
    """The summands of Eq. 9's total loss: each term of `compute_losses` times its scale.

    L_VRNN already holds beta times the KL (the "kl" term is reported, not
    added again); the image, VRNN, future and weight-decay terms enter with
    scale 1.

    Args:
        terms: the terms dict of `StructVRNN.compute_losses`.
        config: the hyperparameters holding the scales.

    Returns:
        Dict from term name to its scaled value; the values sum to the loss.
    """
    scales = {
        "image": 1.0,
        "separation": config.separation_scale,
        "sparsity": config.sparsity_scale,
        "vrnn": 1.0,
        "future": 1.0,
        "supervised": config.supervision_scale,
        "weight_decay": 1.0,
    }
    return {name: scale * terms[name] for name, scale in scales.items()}


# The schedules' values among `compute_losses`' outputs, logged by every step.
_SCHEDULE_LOGS = ("beta", "sample_prob_observed", "sample_prob_predicted")


def _logged_outputs(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The scalars of `compute_losses`' outputs that a step logs."""
    logged = {name: tf.cast(outputs[name], tf.float32) for name in _SCHEDULE_LOGS}
    logged["keypoint_statistics"] = outputs["keypoint_statistics"]
    return logged


def _positions(batch) -> tf.Tensor:
    if "positions" not in batch:
        raise ValueError(
            "supervision_scale > 0 needs ground-truth `positions` in the data; "
            "this dataset has none."
        )
    return batch["positions"]


def _flatten_keypoints(keypoints: tf.Tensor) -> tf.Tensor:
    """[batch, time, K, 3] -> [batch, time, K * 3]."""
    return tf.reshape(keypoints, tf.concat([tf.shape(keypoints)[:2], [-1]], axis=0))


def _check_frames(frames: tf.Tensor, config: config_lib.Config) -> None:
    """Raises ValueError for frames whose static shape does not fit the config."""
    expected = [config.sequence_length, config.image_size, config.image_size, config.image_channels]
    shape = frames.shape.as_list()
    if len(shape) != 5 or any(s is not None and s != e for s, e in zip(shape[1:], expected)):
        raise ValueError(
            f"frames have shape {shape}; the config expects "
            f"[batch, {', '.join(map(str, expected))}] "
            "(batch, observed + predicted steps, height, width, channels)."
        )
