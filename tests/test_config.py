import pytest

from video_structure import config

# Table S1, one row per parameter: (field, basketball, human36m, dmcs).
TABLE_S1 = [
    ("batch_size", 32, 32, 32),
    ("learning_rate", 1e-3, 1e-3, 1e-3),
    ("observed_steps", 8, 8, 8),
    ("predicted_steps", 8, 8, 8),
    ("num_keypoints", 12, 48, 64),
    ("sparsity_scale", 0.1, 1e-2, 5.0),
    ("separation_scale", 0.1, 2e-2, 0.1),
    ("separation_sigma", 2e-2, 2e-3, 2e-2),
    ("keypoint_sigma", 1.5, 1.5, 1.5),
    ("latent_size", 16, 16, 128),
    ("kl_scale", 1e-2, 1e-2, 3e-3),
    ("prior_net_size", 16, 4, 16),
    ("posterior_net_size", 128, 128, 128),
    ("rnn_units", 512, 512, 512),
    ("num_bom_samples", 50, 50, 50),
]

# Sections S1.1-S1.3, identical for the three datasets unless a tuple.
SECTION_S1 = [
    ("image_size", 64),
    ("heatmap_size", 16),
    ("leaky_relu_slope", 0.2),
    ("weight_decay", 1e-4),
    ("decoder_net_size", 128),
    ("layers_per_scale", (1, 2, 1)),  # S1.1.1: one extra conv for Basketball and DMCS.
    ("adam_beta1", 0.9),
    ("adam_beta2", 0.999),
    ("num_steps", 100_000),
    ("lr_decay_steps", 30_000),
    ("lr_decay_factor", 0.5),
    ("kl_annealing_steps", 25_000),
    ("sampling_final_prob_observed", 1.0),
    ("sampling_final_prob_predicted", 0.5),
]
DATASETS = ("basketball", "human36m", "dmcs")


@pytest.mark.parametrize("row", TABLE_S1, ids=[r[0] for r in TABLE_S1])
def test_presets_equal_table_s1(row):
    name, *values = row
    for dataset, value in zip(DATASETS, values):
        assert getattr(config.PRESETS[dataset], name) == pytest.approx(value), (dataset, name)


@pytest.mark.parametrize("row", SECTION_S1, ids=[r[0] for r in SECTION_S1])
def test_presets_follow_section_s1(row):
    name, value = row
    values = value if isinstance(value, tuple) else (value,) * 3
    for dataset, expected in zip(DATASETS, values):
        assert getattr(config.PRESETS[dataset], name) == pytest.approx(expected), (dataset, name)


def test_scheduled_sampling_ramps_over_all_training_by_default():
    preset = config.PRESETS["dmcs"]
    assert preset.ramp_steps == preset.num_steps == 100_000
    assert preset.replace(sampling_ramp_steps=10).ramp_steps == 10


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"kl_scale": -1.0}, "kl_scale"),
        ({"num_keypoints": 0}, "num_keypoints"),
        (
            {"predicted_steps": 0},
            r"predicted_steps=0 must be >= 1",
        ),  # Nothing to predict or evaluate.
        ({"sampling_final_prob_observed": 1.5}, "sampling_final_prob_observed"),
        ({"image_size": 48}, "image_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"no_such_thing": 1}, "no_such_thing"),
    ],
)
def test_bad_values_name_the_hyperparameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        config.get_preset("dmcs", **overrides)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        config.get_preset("nope")


@pytest.mark.parametrize(
    "overrides,name",
    [
        ({"separation_scale": 0.1}, "separation_scale"),
        ({"sparsity_scale": 5.0}, "sparsity_scale"),
    ],
)
def test_cnn_vrnn_refuses_keypoint_losses(overrides, name):
    assert config.get_preset("dmcs", "cnn_vrnn").separation_scale == 0.0
    with pytest.raises(ValueError, match=rf"{name}=.* must be 0 with representation=cnn"):
        config.get_preset("dmcs", "cnn_vrnn", **overrides)
    with pytest.raises(ValueError, match="representation=cnn"):
        config.get_preset("dmcs", representation="cnn")  # The preset's scales are positive.


@pytest.mark.parametrize("dataset,steps", [("dmcs", 1500), ("basketball", 3000)])
def test_cpu_preset_is_the_paper_preset_resized(dataset, steps):
    paper, cpu = config.PRESETS[dataset], config.PRESETS[f"{dataset}_cpu"]
    assert (cpu.num_steps, cpu.batch_size, cpu.encoder_filters) == (steps, 8, 16)
    changed = {f.name for f in config.fields() if getattr(paper, f.name) != getattr(cpu, f.name)}
    assert changed == {
        "encoder_filters",
        "num_bom_samples",
        "batch_size",
        "num_steps",
        "kl_annealing_steps",
        "lr_decay_steps",
        "loss_normalization",
        "sparsity_on_raw_scales",
    }
    # S1.2's schedules at the same fractions of the shorter run.
    for name in ("kl_annealing_steps", "lr_decay_steps"):
        assert getattr(cpu, name) / cpu.num_steps == getattr(paper, name) / paper.num_steps


def test_from_dict_round_trips_and_names_unknown_and_missing_keys():
    preset = config.get_preset("synthetic")
    assert config.Config.from_dict(preset.to_dict()) == preset
    values = preset.to_dict()
    del values["kl_scale"]
    values["old_field"] = 1
    with pytest.raises(ValueError, match=r"export.json.*unknown old_field; missing kl_scale"):
        config.Config.from_dict(values, "export.json")


def test_from_dict_reads_an_older_config_without_the_opt_in_fields_as_off():
    preset = config.get_preset("synthetic")
    added = [f.name for f in config.fields() if f.metadata["added"]]
    assert "detector_start_spread" in added and "num_keypoints" not in added
    values = {k: v for k, v in preset.to_dict().items() if k not in added}
    assert config.Config.from_dict(values) == preset
    # A value written for such a field is kept.
    values["reconstructor_zero_init"] = True
    assert config.Config.from_dict(values).reconstructor_zero_init
