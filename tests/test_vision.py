import keras
import numpy as np
import pytest
import tensorflow as tf

from video_structure import config, vision

CONFIG = config.get_preset("synthetic", num_keypoints=5, encoder_filters=4)


def count_convs(layer):
    return sum(isinstance(sub, keras.layers.Conv2D) for sub in layer._flatten_layers())


def test_detector_outputs_keypoints_and_positive_maps():
    frames = tf.random.uniform([2, 3, 32, 32, 3])
    keypoints, heatmaps = vision.KeypointDetector(CONFIG)(frames)
    assert keypoints.shape == (2, 3, 5, 3)
    assert heatmaps.shape == (2, 3, 16, 16, 5)
    assert np.all(heatmaps.numpy() > 0)  # softplus
    assert np.all(np.abs(keypoints.numpy()[..., :2]) < 1)
    np.testing.assert_allclose(keypoints.numpy()[..., 2].max(axis=-1), 1.0, atol=1e-4)


def test_detector_treats_frames_independently():
    detector = vision.KeypointDetector(CONFIG)
    frames = tf.random.uniform([2, 3, 32, 32, 3])
    together, _ = detector(frames)
    alone, _ = detector(frames[1:, 2:])
    np.testing.assert_allclose(together.numpy()[1, 2], alone.numpy()[0, 0], atol=1e-5)


@pytest.mark.parametrize("spread", [0.0, 4.0])
def test_start_spread_places_each_keypoint_on_its_own_direction(spread):
    cfg = config.get_preset("synthetic", num_keypoints=8, detector_start_spread=spread)
    keypoints, _ = vision.KeypointDetector(cfg)(tf.random.uniform([2, 3, 32, 32, 3]))
    xy = keypoints.numpy()[..., :2].reshape(-1, 8, 2)  # [frames, K, 2]
    radius = np.linalg.norm(xy, axis=-1)
    if not spread:
        # He-uniform scores are flat to softplus: every keypoint near the centre.
        assert np.all(radius < 0.3)
        return
    # Softplus of a ramp of gain 4 over [-1, 1] has its centre of mass at 0.55.
    np.testing.assert_allclose(radius, 0.55, atol=0.1)
    angles = np.arctan2(xy[..., 1], xy[..., 0])
    expected = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(np.angle(np.exp(1j * (angles - expected))), 0.0, atol=0.35)


def test_ramp_initializer_keeps_the_base_on_the_feature_rows():
    kernel = vision.ramp_initializer(2.0, base="zeros")([1, 1, 5, 4]).numpy()
    np.testing.assert_array_equal(kernel[0, 0, :3], 0.0)
    np.testing.assert_allclose(kernel[0, 0, 3:], [[2, 0, -2, 0], [0, 2, 0, -2]], atol=1e-6)


@pytest.mark.parametrize(
    "preset,extra,reconstructor_convs,per_scale",
    [("dmcs", 1, "paper", 2), ("human36m", 2, "paper", 3), ("human36m", 2, "code", 2)],
)
def test_extra_convolutions_per_scale(preset, extra, reconstructor_convs, per_scale):
    cfg = config.PRESETS[preset].replace(reconstructor_convs=reconstructor_convs)
    encoder = vision.ImageEncoder(cfg, cfg.num_keypoints)
    encoder(tf.zeros([1, 64, 64, 3]))
    # Three scales (64, 32, 16), each 1 + extra convolutions, plus the 1x1 output.
    assert count_convs(encoder) == 3 * (1 + extra) + 1
    reconstructor = vision.Reconstructor(cfg)
    keypoints = tf.zeros([1, 2, cfg.num_keypoints, 3])
    reconstructor(
        keypoints,
        keypoints[:, 0],
        tf.zeros([1, 16, 16, cfg.num_keypoints]),
        tf.zeros([1, 64, 64, 3]),
    )
    # 1x1 input, two upsampled scales of (1 +) extra convolutions, 1x1 output.
    assert count_convs(reconstructor) == 2 * per_scale + 2


def test_conv_kernels_carry_weight_decay_and_he_uniform_init():
    encoder = vision.ImageEncoder(CONFIG, 5)
    encoder(tf.zeros([1, 32, 32, 3]))
    convs = [sub for sub in encoder._flatten_layers() if isinstance(sub, keras.layers.Conv2D)]
    assert all(isinstance(c.kernel_initializer, keras.initializers.HeUniform) for c in convs)
    assert len(encoder.losses) == len(convs)
    kernel = convs[0].kernel.numpy()
    assert float(encoder.losses[0]) == pytest.approx(1e-4 * np.sum(kernel**2), rel=1e-5)


@pytest.mark.parametrize("zero_init", [False, True])
def test_reconstructor_adds_its_output_to_the_first_frame(zero_init):
    cfg = CONFIG.replace(reconstructor_zero_init=zero_init)
    appearance = vision.AppearanceNet(cfg)
    reconstructor = vision.Reconstructor(cfg)
    first = tf.random.uniform([2, 32, 32, 3])
    keypoints = tf.random.uniform([2, 4, 5, 3], -0.5, 0.5)
    features = appearance(first)
    assert features.shape == (2, 16, 16, 5)
    frames = reconstructor(keypoints, keypoints[:, 0], features, first)
    assert frames.shape == (2, 4, 32, 32, 3)
    repeated = np.repeat(first.numpy()[:, None], 4, 1)
    # He init: a random output on top of v_1; zero init: v_1 exactly.
    assert (np.abs(frames.numpy() - repeated).max() < 1e-6) == zero_init
    for layer in [reconstructor.output_conv]:
        layer.kernel.assign(tf.zeros_like(layer.kernel))
        layer.bias.assign(tf.zeros_like(layer.bias))
    frames = reconstructor(keypoints, keypoints[:, 0], features, first)
    np.testing.assert_allclose(frames.numpy(), repeated, atol=1e-6)


@pytest.mark.parametrize("sigma", [None, 4.5])
def test_reconstructor_renders_blobs_of_the_given_width(sigma):
    keypoints = tf.constant([[[0.25, -0.5, 0.8]]])  # [batch, K, 3]
    maps = vision.Reconstructor(CONFIG).render(keypoints, sigma).numpy()[0, :, :, 0]
    width = (CONFIG.keypoint_sigma if sigma is None else sigma) * 2 / CONFIG.heatmap_size
    centers = (np.arange(16) + 0.5) / 8 - 1  # pixel centres in coordinate units
    x, y = np.meshgrid(centers, -centers)  # rows run downwards, y up
    expected = 0.8 * np.exp(-((x - 0.25) ** 2 + (y + 0.5) ** 2) / (2 * width**2))
    np.testing.assert_allclose(maps, expected, atol=1e-6)


def test_cnn_features_stay_out_of_tanh_tails_whatever_the_scale_of_the_maps():
    cfg = config.get_preset("synthetic", "cnn_vrnn", num_keypoints=4, encoder_filters=4)
    detector = vision.FeatureDetector(cfg)
    frames = tf.random.uniform([2, 3, cfg.image_size, cfg.image_size, 3], seed=0)
    detector(frames)
    kernel, bias = detector.features.get_weights()
    detector.features.set_weights([kernel * 1e4, bias])  # Pre-activations in the thousands.
    features, maps = detector(frames)
    features = features.numpy()
    assert features.shape == (2, 3, 4, 3) and maps.shape == (2, 3, 16, 16, 4)
    assert np.mean(np.abs(features) > 0.99) < 0.2
    assert np.std(features, axis=1).mean() > 0.01  # Frames still differ.


def test_code_appearance_features_are_the_stack_without_coordinates_or_final_layer():
    cfg = CONFIG.replace(appearance_features="code")
    appearance = vision.AppearanceNet(cfg)
    first = tf.random.uniform([2, 32, 32, 3])
    features = appearance(first)
    # One stride-2 level from 32 to 16: twice the encoder's filters.
    assert features.shape == (2, 16, 16, 2 * cfg.encoder_filters)
    convs = appearance.encoder.convs
    assert convs[0].kernel.shape[2] == 3  # No coordinate channels in.
    expected = first - 0.5
    for conv in convs:
        expected = conv(expected)
    np.testing.assert_allclose(features.numpy(), expected.numpy(), atol=1e-6)
    frames = vision.Reconstructor(cfg)(tf.zeros([2, 3, 5, 3]), tf.zeros([2, 5, 3]), features, first)
    assert frames.shape == (2, 3, 32, 32, 3)
