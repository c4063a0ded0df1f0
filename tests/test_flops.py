"""Tests of the FLOP and parameter counts of video_structure/flops.py."""

import pytest

from video_structure import config as config_lib
from video_structure import flops, optimizers
from video_structure import model as model_lib

# One scale (8x8 frames, 8x8 maps), no extra convolutions: the detector is a 3x3
# and a 1x1 convolution, small enough to count on paper.
TINY = config_lib.Config(
    image_size=8,
    heatmap_size=8,
    image_channels=1,
    num_keypoints=2,
    encoder_filters=4,
    layers_per_scale=0,
    observed_steps=1,
    predicted_steps=1,
    latent_size=3,
    rnn_units=4,
    prior_net_size=2,
    posterior_net_size=5,
    decoder_net_size=3,
    num_bom_samples=2,
    batch_size=3,
)


def test_detector_flops_by_hand():
    counts = flops.training_step(TINY)
    frames = 3 * 2  # batch x time
    conv = 2 * 8 * 8 * 3 * 3 * (1 + 2) * 4  # 3x3, frame and (x, y) channels -> 4 filters
    output = 2 * 8 * 8 * 4 * 2  # 1x1, 4 -> K = 2
    assert counts["detector"]["forward"] == frames * (conv + output)
    # The first convolution computes no input gradient: weights only.
    assert counts["detector"]["backward"] == frames * (conv + 2 * output)
    # The appearance net is the same on the first frames alone.
    assert counts["appearance"]["forward"] == 3 * (conv + output)


def test_vrnn_flops_by_hand():
    counts = flops.training_step(TINY)
    batch, samples = 3, 2
    prior_hidden, prior_params = 2 * batch * 4 * 2, 2 * batch * 2 * 6  # h -> 2 -> 2 x latent
    posterior_hidden = 2 * batch * (6 + 4) * 5  # [x, h] -> 5
    posterior_params = 2 * batch * 5 * 6  # 5 -> 2 x latent
    decoder = 2 * samples * batch * ((3 + 4) * 3 + 3 * 6)  # [z, h] -> 3 -> 3K
    gru_input, gru_recurrent = 2 * batch * (6 + 3) * 12, 2 * batch * 4 * 12  # -> 3U
    prior, posterior = prior_hidden + prior_params, posterior_hidden + posterior_params
    gru = gru_input + gru_recurrent
    assert counts["vrnn"]["forward"] == 2 * prior + posterior + 2 * decoder + 2 * gru
    # Step 2 is predicted: its prior has a stop-gradient and its GRU update
    # feeds no loss. Step 1's zero state and stop-gradient keypoints need no
    # gradient: its products of them compute the weight gradient alone.
    assert counts["vrnn"]["backward"] == (
        2 * (prior + posterior + 2 * decoder + gru)
        - prior_hidden
        - posterior_hidden
        - gru_recurrent
    )


def test_training_step_adds_up_the_parts_and_adam():
    counts = flops.training_step(TINY)
    assert set(counts) == set(flops.PARTS)
    assert counts["optimizer"] == {"forward": 0.0, "backward": 15.0 * flops.parameters(TINY)}
    assert flops.total(counts) == sum(sum(passes.values()) for passes in counts.values())


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"image_size": 16, "layers_per_scale": 1, "detector_start_spread": 4.0},
        {"image_size": 16, "appearance_features": "code"},
        {"image_size": 16, "layers_per_scale": 2, "reconstructor_convs": "code"},
        {"image_size": 16, "layers_per_scale": 0, "reconstructor_convs": "code"},
    ],
)
def test_parameters_match_the_model(overrides):
    config = TINY.replace(**overrides)
    model = model_lib.StructVRNN(config)
    model.compile(optimizer=optimizers.make_optimizer(config))
    model.build_all()
    assert flops.parameters(config) == model.count_params()


def test_cnn_representation_is_refused():
    with pytest.raises(ValueError, match="representation=keypoints only"):
        flops.training_step(config_lib.get_preset("synthetic", "cnn_vrnn"))


@pytest.mark.slow
def test_profiler_agrees_with_the_hand_count():
    config = TINY.replace(image_size=16, layers_per_scale=1)
    by_hand, profiled = flops.training_step(config), flops.profiled(config)
    assert profiled["parameters"] == flops.parameters(config)
    for part in ("detector", "appearance", "reconstructor", "vrnn"):
        # The profiler adds biases, activations and keypoint ops, and the
        # input gradient of the first convolutions.
        for name in ("forward", "backward"):
            assert by_hand[part][name] <= profiled["parts"][part][name]
        assert sum(profiled["parts"][part].values()) == pytest.approx(
            sum(by_hand[part].values()), rel=0.15
        )
