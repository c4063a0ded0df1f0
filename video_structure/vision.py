"""Pixels <-> keypoints: detector phi_det, appearance net and reconstructor phi_rec (S1.1.1).

The convolutional nets run once on the merged batch x time axis; nothing here
loops over frames. Under mixed precision the convolutions and dense layers
compute in the policy's dtype and the layers here are float32 layers that cast
their outputs to float32 (video_structure/precision.py says why).
"""

import functools
import math

import keras
import tensorflow as tf

from video_structure import config as config_lib
from video_structure import keypoint_ops, precision


def _conv(
    config: config_lib.Config,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    activation="leaky_relu",
    name=None,
    kernel_initializer="he_uniform",
) -> keras.layers.Conv2D:
    """A convolution with the paper's initialisation and weight decay (S1.1.1, S1.2)."""
    if activation == "leaky_relu":
        activation = functools.partial(tf.nn.leaky_relu, alpha=config.leaky_relu_slope)
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        activation=activation,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=keras.regularizers.L2(config.weight_decay),
        name=name,
    )


def ramp_initializer(gain: float, base="he_uniform"):
    """Kernel initialiser of a 1x1 convolution whose last two inputs are (x, y).

    The feature rows start as `base`; output k's (x, y) rows start as
    gain * (cos theta_k, sin theta_k) with theta_k = 2 pi k / K, so its score
    map starts as a ramp rising towards its own direction. After softplus a
    ramp of gain 4 puts a map's centre of mass about 0.55 from the centre:
    the keypoints start on a ring, one per direction, not all at the centre.

    Args:
        gain: slope of the ramps, in score units per coordinate unit.
        base: initialiser of the feature rows.

    Returns:
        A callable (shape, dtype) -> kernel of shape [1, 1, C + 2, K].
    """
    base = keras.initializers.get(base)

    def initialize(shape, dtype=None):
        kernel = base(shape, dtype=dtype)  # [1, 1, C + 2, K]
        angles = 2.0 * math.pi * tf.range(shape[-1], dtype=tf.float32) / shape[-1]
        ramps = gain * tf.stack([tf.cos(angles), tf.sin(angles)])  # [2, K]
        return tf.concat([kernel[:, :, :-2], tf.cast(ramps, kernel.dtype)[None, None]], axis=2)

    return initialize


def _num_levels(config: config_lib.Config) -> int:
    return int(round(math.log2(config.image_size // config.heatmap_size)))


def _merge_time(tensor: tf.Tensor) -> tf.Tensor:
    """[batch, time, ...] -> [batch * time, ...]."""
    shape = tf.shape(tensor)
    return tf.reshape(tensor, tf.concat([[-1], shape[2:]], axis=0))


def _split_time(tensor: tf.Tensor, time: int) -> tf.Tensor:
    """[batch * time, ...] -> [batch, time, ...]."""
    shape = tf.shape(tensor)
    return tf.reshape(tensor, tf.concat([[-1, time], shape[1:]], axis=0))


class _Layer(keras.layers.Layer):
    """A float32 layer that makes all of its sublayers in __init__.

    It is built from the start; its sublayers build themselves on their first
    call. Keras would otherwise trace the call() of a layer without a build()
    once symbolically before its first call, only to find that it makes no
    variables of its own: that halved the time StructVRNN.build_all takes
    (3.8 s against 7.5 s at the authors' config on a loaded machine).
    """

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.built = True


class ImageEncoder(_Layer):
    """Stride-2 convolutions from the frame down to heatmap_size x heatmap_size.

    Each scale has one convolution (stride 2 after the first scale) plus
    `layers_per_scale` stride-1 convolutions; the number of filters doubles at
    each stride-2 step. A final 1x1 convolution maps to `output_channels`.

    Args:
        config: the hyperparameters.
        output_channels: channels of the final 1x1 convolution; None ends with
            the stack (encoder_filters x 2^levels channels).
        output_activation: that convolution's activation.
        coord_channels: append x/y coordinate channels to the input.
        output_ramp_gain: if positive, the final convolution also reads the
            coordinate channels, starting as ramps of this gain
            (`ramp_initializer`).
    """

    def __init__(
        self,
        config: config_lib.Config,
        output_channels: int | None,
        output_activation=None,
        coord_channels: bool = True,
        output_ramp_gain: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.coord_channels = coord_channels
        self.output_coord_channels = output_ramp_gain > 0
        self.convs = []
        filters = config.encoder_filters
        for level in range(_num_levels(config) + 1):
            if level:
                filters *= 2
            self.convs.append(_conv(config, filters, strides=2 if level else 1))
            self.convs.extend(_conv(config, filters) for _ in range(config.layers_per_scale))
        self.output_conv = None
        if output_channels is not None:
            self.output_conv = _conv(
                config,
                output_channels,
                kernel_size=1,
                activation=output_activation,
                kernel_initializer=(
                    ramp_initializer(output_ramp_gain)
                    if self.output_coord_channels
                    else "he_uniform"
                ),
            )

    def call(self, images: tf.Tensor) -> tf.Tensor:
        """Maps [batch, H, W, C] frames in [0, 1] to [batch, h, w, output_channels]."""
        # Centre the inputs around zero, as the authors' [-0.5, 0.5] frames.
        features = images - 0.5
        if self.coord_channels:
            features = keypoint_ops.add_coord_channels(features)
        for conv in self.convs:
            features = conv(features)
        if self.output_conv is not None:
            if self.output_coord_channels:
                features = keypoint_ops.add_coord_channels(features)
            features = self.output_conv(features)
        return precision.float32(features)


class KeypointDetector(_Layer):
    """phi_det: frames -> score maps R (softplus) -> keypoints (Eq. S1-S3)."""

    def __init__(self, config: config_lib.Config, **kwargs):
        super().__init__(**kwargs)
        self.normalize_scales = config.normalize_keypoint_scales
        self.encoder = ImageEncoder(
            config,
            config.num_keypoints,
            tf.nn.softplus,
            output_ramp_gain=config.detector_start_spread,
            name="encoder",
        )

    def call(self, frames: tf.Tensor):
        """Detects keypoints in every frame.

        Args:
            frames: [batch, time, H, W, C] in [0, 1].

        Returns:
            keypoints: [batch, time, K, 3] (x, y, mu).
            heatmaps: [batch, time, h, w, K] raw score maps R.
        """
        time = tf.shape(frames)[1]
        heatmaps = self.encoder(_merge_time(frames))  # [batch * time, h, w, K]
        keypoints = keypoint_ops.maps_to_keypoints(heatmaps, self.normalize_scales)
        return _split_time(keypoints, time), _split_time(heatmaps, time)


class FeatureDetector(_Layer):
    """The CNN-VRNN baseline's encoder: frames -> an unstructured vector of 3K features.

    The same convolutions as phi_det, then a dense layer to 3K features (as
    many numbers as K keypoints, Section 5.1), layer-normalised and squashed
    by tanh into the keypoint decoder's range, shaped [K, 3] so that the
    dynamics model is unchanged. Without the normalisation the first few
    updates (image losses of ~7e4 per sequence on DMCS) drove every feature
    into tanh's flat tails for good (docs/fidelity.md).
    """

    def __init__(self, config: config_lib.Config, **kwargs):
        super().__init__(**kwargs)
        self.num_keypoints = config.num_keypoints
        self.map_size = config.heatmap_size**2 * config.num_keypoints
        self.encoder = ImageEncoder(config, config.num_keypoints, "leaky_relu", name="encoder")
        self.features = keras.layers.Dense(3 * config.num_keypoints, name="features")
        self.normalize = keras.layers.LayerNormalization(name="feature_norm")

    def call(self, frames: tf.Tensor):
        """Encodes [batch, time, H, W, C] frames.

        Returns:
            features: [batch, time, K, 3].
            maps: [batch, time, h, w, K] the convolutional feature maps.
        """
        time = tf.shape(frames)[1]
        maps = self.encoder(_merge_time(frames))  # [batch * time, h, w, K]
        flat = tf.reshape(maps, [-1, self.map_size])  # [batch * time, h * w * K]
        features = precision.float32(self.normalize(self.features(flat)))
        features = tf.tanh(features)  # [batch * time, 3K]
        features = tf.reshape(features, [-1, self.num_keypoints, 3])
        return _split_time(features, time), _split_time(maps, time)


class AppearanceNet(_Layer):
    """phi_appearance (Eq. S5), as `config.appearance_features` says.

    "paper": phi_det's architecture without its final nonlinearity, K channels.
    "code": the authors' code's appearance encoder, the convolution stack alone
    (no final layer, no coordinate channels): encoder_filters x 2^levels channels.
    """

    def __init__(self, config: config_lib.Config, **kwargs):
        super().__init__(**kwargs)
        if config.appearance_features == "paper":
            self.encoder = ImageEncoder(config, config.num_keypoints, None, name="encoder")
        else:
            self.encoder = ImageEncoder(config, None, coord_channels=False, name="encoder")

    def call(self, first_frame: tf.Tensor) -> tf.Tensor:
        """Maps [batch, H, W, C] first frames to [batch, h, w, K] appearance features."""
        return self.encoder(first_frame)


class Reconstructor(_Layer):
    """phi_rec: v_t = v_1 + phi_rec([R_t, R_1, phi_app(v_1)]) (Eq. S5).

    Alternates 2x bilinear upsampling and convolutions from the heatmap size
    up to the frame size, halving the filters at each step: per scale one
    convolution plus `layers_per_scale` extra stride-1 ones, or the extra ones
    alone under `reconstructor_convs="code"` (the authors' code).
    """

    def __init__(self, config: config_lib.Config, **kwargs):
        super().__init__(**kwargs)
        self.sigma = config.keypoint_sigma
        self.heatmap_size = config.heatmap_size
        self.num_keypoints = config.num_keypoints
        # CNN-VRNN: a dense layer turns the feature vector into maps of the size
        # the Gaussian blobs would have.
        self.features_to_maps = None
        if config.representation == "cnn":
            self.features_to_maps = keras.layers.Dense(
                config.heatmap_size**2 * config.num_keypoints, name="features_to_maps"
            )
        levels = _num_levels(config)
        filters = config.encoder_filters * 2**levels
        self.input_conv = _conv(config, filters, kernel_size=1)
        self.upsample = keras.layers.UpSampling2D(2, interpolation="bilinear")
        self.scales = []
        for _ in range(levels):
            filters //= 2
            self.scales.append(
                [_conv(config, filters) for _ in range(config.reconstructor_convs_per_scale)]
            )
        self.output_conv = _conv(
            config,
            config.image_channels,
            kernel_size=1,
            activation=None,
            kernel_initializer="zeros" if config.reconstructor_zero_init else "he_uniform",
        )

    def render(self, keypoints: tf.Tensor, sigma=None) -> tf.Tensor:
        """[batch, K, 3] keypoints (or features) -> [batch, h, w, K] maps R_hat.

        `sigma` (a number or a scalar tensor) replaces keypoint_sigma, for
        training's width schedule; features ignore it.
        """
        if self.features_to_maps is None:
            sigma = self.sigma if sigma is None else sigma
            return keypoint_ops.keypoints_to_maps(keypoints, sigma, self.heatmap_size)
        maps = self.features_to_maps(tf.reshape(keypoints, [-1, 3 * self.num_keypoints]))
        maps = precision.float32(maps)
        return tf.reshape(maps, [-1, self.heatmap_size, self.heatmap_size, self.num_keypoints])

    def call(
        self,
        keypoints: tf.Tensor,
        first_keypoints: tf.Tensor,
        appearance: tf.Tensor,
        first_frame: tf.Tensor,
        sigma=None,
    ) -> tf.Tensor:
        """Renders frames from keypoints.

        Args:
            keypoints: [batch, time, K, 3] keypoints to render.
            first_keypoints: [batch, K, 3] keypoints of the first frame v_1.
            appearance: [batch, h, w, F] phi_app(v_1).
            first_frame: [batch, H, W, C] v_1.
            sigma: the blobs' width in heatmap pixels; None is keypoint_sigma.

        Returns:
            [batch, time, H, W, C] frames (not clipped).
        """
        time = tf.shape(keypoints)[1]
        maps = self.render(_merge_time(keypoints), sigma)  # [batch * time, h, w, K]
        first_maps = self.render(first_keypoints, sigma)
        static = tf.concat([first_maps, appearance], axis=-1)  # [batch, h, w, K + F]
        static = tf.repeat(static, time, axis=0)  # [batch * time, h, w, K + F]
        features = keypoint_ops.add_coord_channels(tf.concat([maps, static], axis=-1))
        features = self.input_conv(features)
        for convs in self.scales:
            features = self.upsample(features)
            for conv in convs:
                features = conv(features)
        delta = precision.float32(self.output_conv(features))
        delta = _split_time(delta, time)  # [batch, time, H, W, C]
        return first_frame[:, tf.newaxis] + delta
