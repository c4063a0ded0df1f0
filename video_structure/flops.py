"""Floating-point operations of one training step, by part: by hand and by TF's profiler.

`layers(config)` lists every convolution and dense layer of `model.StructVRNN`
with the shape of each of its applications in one training step; from it
`training_step(config)` counts the FLOPs of each part (detector, appearance
net, reconstructor, VRNN unroll with best of many, losses, optimizer) and
`parameters(config)` the trainable weights. The rules:

* A multiply-add counts as 2 FLOPs: a convolution 2 H_out W_out k^2 C_in C_out
  per frame, a dense layer 2 C_in C_out per row. Biases, activations, the
  keypoint ops (Eq. S1-S4), upsampling and the GRU's gates are left out (each
  well under 1% of the layer's products).
* Backward = 2x forward (one product of the forward's size for the input
  gradient, one for the weight gradient) for every application on a path to
  the loss; 1x (the weight gradient alone) where the input needs no gradient:
  the first convolution of the detector and of the appearance net (the
  frames), and on the VRNN's first step the products of the zero initial state
  and of the stop-gradient keypoints; 0 where no loss depends on
  the output: the prior on predicted steps (stop-gradient, `dynamics.unroll`)
  and the last GRU update, which nothing reads.
* Losses and Adam are element-wise: `_loss_flops` and `_ADAM_FLOPS` give the
  operations per element; a loss's backward counts as much as its forward.

`profiled(config)` counts the same step from the registered FLOP statistics
of each op in the traced graph of the loss and its gradients, attributed to a
part by the layer name its op lies under. It counts every op TensorFlow
traces, also the input gradient of the first convolutions, which no output
reads (so the runtime prunes it), and no optimizer.
"""

import dataclasses
import math
import re

from video_structure import config as config_lib

PARTS = ("detector", "appearance", "reconstructor", "vrnn", "losses", "optimizer")

# Adam per weight: first and second moments (7), the update (4) with its square
# root, and clipnorm's squared norm and rescaling (3).
_ADAM_FLOPS = 15


@dataclasses.dataclass(frozen=True)
class Layer:
    """A convolution or dense layer and its applications in one training step.

    Attributes:
        part: one of `PARTS`.
        in_channels: C_in (input units of a dense layer).
        out_channels: C_out.
        kernel: k of a k x k convolution; 1 for a 1x1 convolution or dense layer.
        positions: output pixels H_out x W_out per row; 1 for a dense layer.
        uses: (rows, backward factor) of each application: frames or sequences
            (times samples) it runs on, and 2, 1 or 0 as the module docstring says.
        biases: bias vectors of C_out (the GRU has two).
    """

    part: str
    in_channels: int
    out_channels: int
    kernel: int = 1
    positions: int = 1
    uses: tuple[tuple[int, int], ...] = ()
    biases: int = 1

    @property
    def flops_per_row(self) -> float:
        return 2.0 * self.positions * self.kernel**2 * self.in_channels * self.out_channels

    @property
    def parameters(self) -> int:
        return (
            self.kernel**2 * self.in_channels * self.out_channels + self.biases * self.out_channels
        )


def _levels(config: config_lib.Config) -> int:
    return int(round(math.log2(config.image_size // config.heatmap_size)))


def _encoder(
    config: config_lib.Config,
    part: str,
    rows: int,
    output_channels: int | None,
    coord_channels: bool = True,
    output_coord_channels: bool = False,
) -> list[Layer]:
    """The convolutions of `vision.ImageEncoder` on `rows` frames."""
    result = []
    size, channels = config.image_size, config.image_channels + 2 * coord_channels
    filters = config.encoder_filters
    for level in range(_levels(config) + 1):
        if level:
            filters *= 2
            size = (size + 1) // 2  # stride 2, "same" padding
        for _ in range(1 + config.layers_per_scale):
            # The first convolution reads the frames, which need no gradient.
            backward = 1 if not result else 2
            result.append(Layer(part, channels, filters, 3, size**2, ((rows, backward),)))
            channels = filters
    if output_channels is not None:
        in_channels = channels + 2 * output_coord_channels
        result.append(Layer(part, in_channels, output_channels, 1, size**2, ((rows, 2),)))
    return result


def _reconstructor(config: config_lib.Config, rows: int) -> list[Layer]:
    """The convolutions of `vision.Reconstructor` on `rows` frames."""
    levels, size = _levels(config), config.heatmap_size
    filters = config.encoder_filters * 2**levels
    appearance = config.num_keypoints if config.appearance_features == "paper" else filters
    # [R_t, R_1, phi_app(v_1)] and the coordinate channels.
    channels = 2 * config.num_keypoints + appearance + 2
    result = [Layer("reconstructor", channels, filters, 1, size**2, ((rows, 2),))]
    # The channels of the features; with no convolution per scale (code, no
    # extra layers) the input convolution's reach the output.
    current = filters
    for _ in range(levels):
        size *= 2
        filters //= 2
        for _ in range(config.reconstructor_convs_per_scale):
            result.append(Layer("reconstructor", current, filters, 3, size**2, ((rows, 2),)))
            current = filters
    result.append(
        Layer(
            "reconstructor",
            current,
            config.image_channels,
            1,
            config.image_size**2,
            ((rows, 2),),
        )
    )
    return result


def _vrnn(config: config_lib.Config, batch: int, action_size: int) -> list[Layer]:
    """The dense layers of `dynamics.VRNNCell` over the unroll of `dynamics.unroll`."""
    observed, total = config.observed_steps, config.sequence_length
    samples = 1 if config.deterministic_belief else config.num_bom_samples
    keypoints, latent, units = 3 * config.num_keypoints, config.latent_size, config.rnn_units
    # The prior on predicted steps feeds only stop-gradient beliefs.
    prior = tuple((batch, 2 if t < observed else 0) for t in range(total))
    posterior = ((batch, 2),) * observed
    # Best of many decodes every sample; the gradient reaches all of them.
    decoder = ((samples * batch, 2),) * total
    # The last update's state is read by no loss.
    gru = tuple((batch, 2 if t < total - 1 else 0) for t in range(total))

    def first_step_weights_only(uses):
        # The inputs of step 0 (the zero initial state, stop-gradient keypoints)
        # need no gradient.
        return ((uses[0][0], min(uses[0][1], 1)), *uses[1:])

    return [
        # Prior (Eq. S6), posterior (S7), keypoint decoder (S8): hidden and output.
        Layer("vrnn", units, config.prior_net_size, uses=first_step_weights_only(prior)),
        Layer("vrnn", config.prior_net_size, 2 * latent, uses=prior),
        Layer(
            "vrnn",
            keypoints + units,
            config.posterior_net_size,
            uses=first_step_weights_only(posterior),
        ),
        Layer("vrnn", config.posterior_net_size, 2 * latent, uses=posterior),
        Layer("vrnn", latent + units, config.decoder_net_size, uses=decoder),
        Layer("vrnn", config.decoder_net_size, keypoints, uses=decoder),
        # The GRU (S9): its input and its recurrent products, with their biases.
        Layer("vrnn", keypoints + latent + action_size, 3 * units, uses=gru, biases=0),
        Layer("vrnn", units, 3 * units, uses=first_step_weights_only(gru), biases=2),
    ]


def layers(config: config_lib.Config, action_size: int = 0) -> list[Layer]:
    """Every convolution and dense layer of the model, applied as in one training step.

    Args:
        config: the hyperparameters; `batch_size` sequences per step.
        action_size: A of an action-conditional model, 0 without actions.

    Returns:
        The `Layer`s in the order of `PARTS`.

    Raises:
        ValueError: for the CNN-VRNN representation, which this count does not cover.
    """
    if config.representation != "keypoints":
        raise ValueError(
            f"FLOPs are counted for representation=keypoints only, not {config.representation!r}."
        )
    batch, frames = config.batch_size, config.batch_size * config.sequence_length
    paper_appearance = config.appearance_features == "paper"
    return [
        *_encoder(
            config,
            "detector",
            frames,
            config.num_keypoints,
            output_coord_channels=config.detector_start_spread > 0,
        ),
        *_encoder(
            config,
            "appearance",
            batch,
            config.num_keypoints if paper_appearance else None,
            coord_channels=paper_appearance,
        ),
        *_reconstructor(config, frames),
        *_vrnn(config, batch, action_size),
    ]


def parameters(config: config_lib.Config, action_size: int = 0) -> int:
    """Trainable weights of the model, as `StructVRNN.count_params()` counts them."""
    return sum(layer.parameters for layer in layers(config, action_size))


def _loss_flops(config: config_lib.Config) -> float:
    """Forward element-wise FLOPs of the terms of Eq. 9 and the weight decay."""
    batch, time = config.batch_size, config.sequence_length
    keypoints = config.num_keypoints
    pixels = config.image_size**2 * config.image_channels
    # L_image: difference, square, sum per pixel.
    flops = 3.0 * batch * time * pixels
    if config.separation_scale:
        separated = config.observed_steps if config.loss_normalization == "code" else time
        # L_sep: per pair and step, the 2 differences, squares and sums (6) and the
        # mean over time (1); per pair the Gaussian (3) and its sum (1).
        flops += batch * keypoints**2 * (7.0 * separated + 4.0)
    # L_sparse: absolute value and sum per scale.
    if config.sparsity_scale:
        flops += 2.0 * batch * time * keypoints
        if config.sparsity_on_raw_scales:
            # The mean of each raw map (Eq. S3) rather than the normalised mu.
            flops += batch * time * config.heatmap_size**2 * keypoints
    # Keypoint NLL (difference, square, sum, half) and the KL of two diagonal
    # Gaussians (about 8 per latent dimension).
    flops += 4.0 * batch * time * 3 * keypoints
    flops += 8.0 * batch * config.observed_steps * config.latent_size
    # Weight decay: square, sum and scale per convolution weight.
    kernels = sum(
        layer.parameters - layer.out_channels
        for layer in layers(config)
        if layer.part in ("detector", "appearance", "reconstructor")
    )
    return flops + 3.0 * kernels


def training_step(config: config_lib.Config, action_size: int = 0) -> dict[str, dict[str, float]]:
    """FLOPs of one training step (batch `config.batch_size`) by part, counted by hand.

    Args:
        config: the hyperparameters.
        action_size: A of an action-conditional model, 0 without actions.

    Returns:
        {part: {"forward": FLOPs, "backward": FLOPs}} for every part of `PARTS`;
        the optimizer's update counts as "backward".
    """
    counts = {part: {"forward": 0.0, "backward": 0.0} for part in PARTS}
    for layer in layers(config, action_size):
        for rows, backward in layer.uses:
            counts[layer.part]["forward"] += rows * layer.flops_per_row
            counts[layer.part]["backward"] += backward * rows * layer.flops_per_row
    losses = _loss_flops(config)
    counts["losses"] = {"forward": losses, "backward": losses}
    counts["optimizer"]["backward"] = float(_ADAM_FLOPS * parameters(config, action_size))
    return counts


def total(counts: dict[str, dict[str, float]]) -> float:
    """The sum over parts and passes of `training_step`'s or `profiled`'s counts."""
    return sum(sum(passes.values()) for passes in counts.values())


def profiled(config: config_lib.Config) -> dict:
    """FLOPs of one training step by part, from TF's registered FLOP statistics.

    Traces (without running) the loss of `StructVRNN.compute_losses` and its
    gradients on `config.batch_size` sequences and adds up each op's "flops"
    statistic: ops under the name of the detector, appearance net or
    reconstructor, or of a layer of the VRNN cell, count for that part; the
    rest (losses, keypoint flattening, sampling) for "losses". Ops under
    `gradient_tape/` are the backward pass.

    Returns:
        {"parts": {part: {"forward", "backward"}} without "optimizer",
        "parameters": the model's trainable weights}.
    """
    # TensorFlow only here: the hand count above is arithmetic, which the
    # benchmarks run before any TensorFlow process starts.
    import keras
    import tensorflow as tf
    from tensorflow.python.framework import ops

    from video_structure import model as model_lib
    from video_structure import optimizers

    # The FLOP registry uses TF1 graph utilities and warns of their deprecation.
    tf.get_logger().setLevel("ERROR")
    model = model_lib.StructVRNN(config)
    model.compile(optimizer=optimizers.make_optimizer(config))
    model.build_all()
    part_of = {model.detector.name: "detector", model.appearance.name: "appearance"}
    part_of[model.reconstructor.name] = "reconstructor"
    for layer in vars(model.vrnn).values():
        if isinstance(layer, keras.layers.Layer):
            part_of[layer.name] = "vrnn"
    shape = [config.batch_size, config.sequence_length, config.image_size, config.image_size]
    spec = {"frames": tf.TensorSpec(shape + [config.image_channels], tf.float32)}

    def loss_and_gradients(batch):
        with tf.GradientTape() as tape:
            loss = model.compute_losses(batch, training=True)[0]
        return loss, tape.gradient(loss, model.trainable_variables)

    graph = tf.function(loss_and_gradients).get_concrete_function(spec).graph
    counts = {part: {"forward": 0.0, "backward": 0.0} for part in PARTS[:-1]}
    for op in graph.get_operations():
        try:
            flops = ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except ValueError:  # Its statistics need shapes the trace does not know.
            continue
        if not flops:
            continue
        name = op.name
        backward = name.startswith("gradient_tape/")
        scope = re.sub(r"_\d+$", "", name.removeprefix("gradient_tape/").split("/")[0])
        part = part_of.get(scope, "losses")
        counts[part]["backward" if backward else "forward"] += float(flops)
    return {"parts": counts, "parameters": model.count_params()}
