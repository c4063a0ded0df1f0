import keras
import numpy as np
import pytest
import tensorflow as tf

from video_structure import config, losses, optimizers
from video_structure import model as model_lib
from video_structure.data import synthetic

CONFIG = config.get_preset(
    "synthetic",
    batch_size=4,
    num_keypoints=4,
    encoder_filters=8,
    rnn_units=16,
    latent_size=4,
    num_bom_samples=5,
    image_size=16,
    heatmap_size=8,
    observed_steps=3,
    predicted_steps=2,
)


def make_model(action_size=0, cfg=CONFIG):
    model = model_lib.StructVRNN(cfg, action_size=action_size)
    model.compile(optimizer=optimizers.make_optimizer(cfg))
    model.build_all()
    return model


def batch(num=4, cfg=CONFIG):
    frames, _ = synthetic.generate(
        num, cfg.sequence_length, cfg.image_size, num_blobs=2, blob_radius=1.5
    )
    return {"frames": tf.constant(frames, tf.float32) / 255.0}


def test_detector_gradient_does_not_depend_on_dynamics_losses():
    model = make_model()
    data = batch()
    detector_variables = model.detector.trainable_variables

    def detector_gradients(include_dynamics):
        with tf.GradientTape() as tape:
            _, terms, _ = model.compute_losses(data, training=True)
            loss = (
                terms["image"]
                + CONFIG.separation_scale * terms["separation"]
                + CONFIG.sparsity_scale * terms["sparsity"]
                + terms["weight_decay"]
            )
            if include_dynamics:
                loss += 1000.0 * (terms["vrnn"] + terms["future"])
        return tape.gradient(loss, detector_variables)

    tf.random.set_seed(1)
    without = detector_gradients(False)
    tf.random.set_seed(1)
    with_dynamics = detector_gradients(True)
    for a, b in zip(without, with_dynamics):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # ...while the dynamics losses do train the dynamics model.
    with tf.GradientTape() as tape:
        _, terms, _ = model.compute_losses(data, training=True)
        dynamics_loss = terms["vrnn"] + terms["future"]
    gradients = tape.gradient(dynamics_loss, model.vrnn.trainable_variables)
    assert any(g is not None and np.any(g.numpy() != 0) for g in gradients)


def test_total_loss_is_eq9():
    model = make_model()
    total, terms, _ = model.compute_losses(batch(), training=True)
    expected = (
        terms["image"]
        + CONFIG.separation_scale * terms["separation"]
        + CONFIG.sparsity_scale * terms["sparsity"]
        + terms["vrnn"]
        + terms["future"]
        + terms["weight_decay"]
    )
    assert float(terms["supervised"]) == 0.0
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    scaled = model_lib.scaled_terms(terms, CONFIG)
    assert float(scaled["separation"]) == pytest.approx(
        CONFIG.separation_scale * float(terms["separation"])
    )
    assert float(sum(scaled.values())) == pytest.approx(float(total), rel=1e-6)


@pytest.mark.slow
def test_a_few_training_steps_reduce_the_loss():
    model = make_model()
    data = tf.data.Dataset.from_tensors(batch()).repeat()
    history = model.fit(data, epochs=4, steps_per_epoch=15, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["image"][-1] < history["image"][0]


def test_train_step_reports_every_loss_term_and_schedule():
    model = make_model()
    logs = model.train_step(batch())
    for name in model_lib.LOSS_TERMS + ("beta", "sample_prob_observed", "sample_prob_predicted"):
        assert np.isfinite(float(logs[name])), name
    assert int(model.optimizer.iterations) == 1


def test_training_reconstructs_with_the_scheduled_keypoint_width():
    cfg = CONFIG.replace(
        keypoint_sigma_start_factor=3.0,
        keypoint_sigma_decay_steps=100,
        num_bom_samples=1,
        observed_steps=1,
        predicted_steps=1,
    )
    model = make_model(cfg=cfg)
    model.optimizer.iterations.assign(50)
    data = batch(2, cfg)
    keypoints, _ = model.detector(data["frames"])

    def reconstruct(sigma):
        return model.reconstruct(keypoints, data["frames"][:, 0], keypoints[:, 0], sigma).numpy()

    # Halfway through the decay: sqrt(3) times keypoint_sigma; without
    # training (validation, export), keypoint_sigma itself.
    scheduled, final = reconstruct(cfg.keypoint_sigma * 3.0**0.5), reconstruct(None)
    assert np.abs(scheduled - final).max() > 1e-3
    for training, expected in [(True, scheduled), (False, final)]:
        _, _, outputs = model.compute_losses(data, training=training)
        np.testing.assert_allclose(outputs["reconstructed"].numpy(), expected, atol=1e-5)


def test_rollout_shapes_and_seed():
    model = make_model()
    frames = batch()["frames"][:2, : CONFIG.observed_steps]
    outputs = model.rollout(frames, 3, 4, tf.constant([1, 2]))
    assert outputs["keypoints"].shape == (2, 3, CONFIG.observed_steps + 4, 4, 3)
    assert outputs["states"].shape == (2, 3, CONFIG.observed_steps + 4, 16)
    assert outputs["frames"].shape == (2, 3, CONFIG.observed_steps + 4, 16, 16, 3)
    again = model.rollout(frames, 3, 4, tf.constant([1, 2]))
    np.testing.assert_array_equal(outputs["keypoints"].numpy(), again["keypoints"].numpy())
    samples = outputs["keypoints"].numpy()
    assert not np.allclose(samples[:, 0], samples[:, 1])  # independent samples


def test_reconstruct_of_samples_matches_per_sample_reconstruction():
    model = make_model()
    frames = batch()["frames"][:2]
    keypoints = model.detect(frames)
    stacked = tf.stack([keypoints, keypoints[:, ::-1]], axis=1)  # [batch, 2, time, K, 3]
    both = model.reconstruct(stacked, frames[:, 0], keypoints[:, 0]).numpy()
    second = model.reconstruct(keypoints[:, ::-1], frames[:, 0], keypoints[:, 0]).numpy()
    np.testing.assert_allclose(both[:, 1], second, atol=1e-5)


def test_action_conditional_model_uses_actions():
    model = make_model(action_size=2)
    data = batch(2)
    data["actions"] = tf.random.uniform([2, CONFIG.sequence_length, 2])
    logs = model.train_step(data)
    assert np.isfinite(float(logs["loss"]))
    frames = data["frames"][:, : CONFIG.observed_steps]
    a = model.predict_keypoints(model.detect(frames), 2, 2, tf.constant([0, 1]), data["actions"])
    b = model.predict_keypoints(
        model.detect(frames), 2, 2, tf.constant([0, 1]), data["actions"] * 0 + 5.0
    )
    assert not np.allclose(a["states"].numpy(), b["states"].numpy())


@pytest.mark.parametrize("timing, changes", [("next", True), ("paper", False)])
def test_the_action_that_produces_the_last_frame_changes_its_prediction(timing, changes):
    cfg = CONFIG.replace(action_timing=timing)
    model = make_model(action_size=2, cfg=cfg)
    frames = batch(2)["frames"][:, : cfg.observed_steps]
    actions = np.random.default_rng(0).uniform(size=(2, cfg.sequence_length, 2))
    changed = actions.copy()
    changed[:, -1] += 1.0  # produced the last predicted frame
    predicted = [
        model.rollout(
            frames, 1, cfg.predicted_steps, tf.constant([0, 1]), tf.constant(a, tf.float32)
        )["frames"].numpy()
        for a in (actions, changed)
    ]
    np.testing.assert_array_equal(predicted[0][:, :, :-1], predicted[1][:, :, :-1])
    assert np.allclose(predicted[0][:, :, -1], predicted[1][:, :, -1]) != changes


def test_frames_of_the_wrong_size_are_named():
    model = make_model()
    with pytest.raises(ValueError, match=r"frames have shape \[2, 5, 32, 32, 3\]"):
        model.compute_losses({"frames": tf.zeros([2, 5, 32, 32, 3])}, training=False)


def variant_model(variant, **overrides):
    cfg = config.get_preset(
        "synthetic",
        variant,
        batch_size=2,
        num_keypoints=4,
        encoder_filters=4,
        rnn_units=8,
        latent_size=4,
        image_size=16,
        heatmap_size=8,
        observed_steps=2,
        predicted_steps=2,
        **overrides,
    )
    frames, positions = synthetic.generate(2, 4, 16, num_blobs=2, blob_radius=1.5)
    data = {"frames": tf.constant(frames, tf.float32) / 255.0, "positions": tf.constant(positions)}
    return make_model(cfg=cfg), data


def _check_struct_vrnn(model, data, terms, samples):
    assert model.config.num_bom_samples > 1
    assert not np.allclose(samples[:, 0, 2:], samples[:, 1, 2:])  # Stochastic prior samples.
    assert float(terms["separation"]) > 0 and float(terms["sparsity"]) > 0
    assert float(terms["supervised"]) == 0.0
    keypoints = model.detect(data["frames"]).numpy()
    np.testing.assert_allclose(keypoints[..., 2].max(axis=-1), 1.0, rtol=1e-5)  # Normalised mu.


def _check_no_bom(model, data, terms, samples):
    assert model.config.num_bom_samples == 1
    # Same weights: the best of many samples fits the targets better than one.
    bom, _ = variant_model("struct_vrnn", num_bom_samples=20)
    bom.set_weights(model.get_weights())
    _, bom_terms, _ = bom.compute_losses(data, training=False)
    _, single_terms, _ = model.compute_losses(data, training=False)
    for name in ("vrnn", "future"):
        assert float(bom_terms[name]) < float(single_terms[name]), name


def _check_struct_rnn(model, data, terms, samples):
    np.testing.assert_array_equal(samples[:, 0], samples[:, 1])  # Deterministic belief.
    assert model.config.num_bom_samples == 1


def _check_cnn(model, data, terms, samples):
    assert float(terms["separation"]) == 0.0 and float(terms["sparsity"]) == 0.0
    features = model.detect(data["frames"]).numpy()  # [batch, time, K, 3]
    assert np.all(np.abs(features) < 1.0)  # tanh features, whose third channel is not a
    assert not np.allclose(features[..., 2].max(axis=-1), 1.0)  # mu normalised per frame.


def _check_supervised(model, data, terms, samples):
    assert float(terms["supervised"]) > 0
    # From the same weights, training with the variant's supervised term brings
    # the first keypoints closer to the positions than training without it.
    distances = []
    for scale in (model.config.supervision_scale, 0.0):
        trained = make_model(cfg=model.config.replace(supervision_scale=scale))
        trained.set_weights(model.get_weights())
        for _ in range(10):
            trained.train_step(data)
        keypoints = trained.detect(data["frames"])
        distances.append(float(losses.supervised_loss(keypoints, data["positions"])))
    assert distances[0] < 0.99 * distances[1]


def _check_no_sep(model, data, terms, samples):
    assert float(terms["separation"]) == 0.0 and float(terms["sparsity"]) > 0


def _check_no_sparse(model, data, terms, samples):
    assert float(terms["sparsity"]) == 0.0 and float(terms["separation"]) > 0


VARIANT_CHECKS = {
    "struct_vrnn": _check_struct_vrnn,
    "struct_vrnn_no_bom": _check_no_bom,
    "struct_rnn": _check_struct_rnn,
    "cnn_vrnn": _check_cnn,
    "struct_vrnn_supervised": _check_supervised,
    "cnn_vrnn_supervised": lambda *args: (_check_cnn(*args), _check_supervised(*args)),
    "struct_vrnn_no_sep": _check_no_sep,
    "struct_vrnn_no_sparse": _check_no_sparse,
}


def test_every_variant_has_a_check():
    assert sorted(VARIANT_CHECKS) == sorted(config.VARIANTS)


# The supervised variants train their detector for some steps: over 5 s each.
@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(v, marks=pytest.mark.slow) if v.endswith("_supervised") else v
        for v in config.VARIANTS
    ],
)
def test_every_variant_trains_and_behaves_as_specified(variant):
    model, data = variant_model(variant)
    logs = model.train_step(data)
    assert all(np.isfinite(float(v)) for v in logs.values())
    _, terms, _ = model.compute_losses(data, training=False)
    outputs = model.rollout(data["frames"][:, :2], 2, 2, tf.constant([0, 0]))
    assert outputs["frames"].shape == (2, 2, 4, 16, 16, 3)
    VARIANT_CHECKS[variant](model, data, terms, outputs["keypoints"].numpy())


def test_supervised_loss_pulls_keypoints_to_positions():
    cfg = config.get_preset(
        "synthetic",
        "struct_vrnn_supervised",
        batch_size=2,
        num_keypoints=4,
        encoder_filters=4,
        rnn_units=8,
        latent_size=4,
        num_bom_samples=2,
        image_size=16,
        heatmap_size=8,
        observed_steps=2,
        predicted_steps=1,
    )
    model = make_model(cfg=cfg)
    frames, positions = synthetic.generate(2, 3, 16, num_blobs=2, blob_radius=1.5)
    data = {"frames": tf.constant(frames, tf.float32) / 255.0, "positions": tf.constant(positions)}
    keypoints = model.detect(data["frames"]).numpy()
    _, terms, _ = model.compute_losses(data, training=False)
    expected = np.mean(np.sum((keypoints[:, :, :2, :2] - positions) ** 2, axis=(1, 2, 3)))
    assert float(terms["supervised"]) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="positions"):
        model.compute_losses({"frames": data["frames"]}, training=False)


@pytest.mark.parametrize("raw", [False, True])
def test_sparsity_penalises_the_chosen_scales(raw):
    cfg = CONFIG.replace(sparsity_on_raw_scales=raw)
    model = make_model(cfg=cfg)
    data = batch()
    _, terms, outputs = model.compute_losses(data, training=False)
    scales = (
        outputs["heatmaps"].numpy().mean(axis=(2, 3))
        if raw
        else outputs["keypoints"].numpy()[..., 2]
    )
    expected = np.mean(np.sum(np.abs(scales), axis=(1, 2)))
    assert float(terms["sparsity"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_validation_future_is_one_prior_sample_not_the_best_of_many():
    cfg = CONFIG.replace(num_bom_samples=50)
    model = make_model(cfg=cfg)
    data = batch(cfg=cfg)
    state = model.seed_generator.state.numpy()
    logs = model.test_step(data)
    assert set(logs) >= set(model_lib.VALIDATION_TERMS)
    # Replay test_step's seeds: compute_losses draws the first, its best-of-many
    # unroll; the single-sample prediction the second.
    model.seed_generator.state.assign(state)
    _, terms, outputs = model.compute_losses(data, training=False)
    seed = keras.random.randint([2], 0, 2**31 - 1, seed=model.seed_generator, dtype="int32")
    detected = outputs["keypoints"].numpy()  # [batch, T + Delta T, K, 3]
    observed = cfg.observed_steps
    predicted = model.predict_keypoints(detected[:, :observed], 1, cfg.predicted_steps, seed)[
        "keypoints"
    ].numpy()[:, 0]
    squared = (predicted[:, observed:] - detected[:, observed:]) ** 2  # [batch, Delta T, K, 3]
    expected = np.mean(0.5 * np.sum(squared, axis=(1, 2, 3)))
    assert float(logs["future"]) == pytest.approx(expected, rel=1e-5)
    assert float(logs["future_bom"]) == pytest.approx(float(terms["future"]), rel=1e-5)
    # Best of 50 against the true future is far closer than one prediction.
    assert float(logs["future_bom"]) < 0.8 * float(logs["future"])
    # Training logs the optimised best-of-many `future` and no `future_bom`;
    # Keras prefixes the validation logs.
    dataset = tf.data.Dataset.from_tensors(data)
    history = model.fit(
        dataset, epochs=1, validation_data=dataset, shuffle=False, verbose=0
    ).history
    assert "future_bom" not in history
    assert {"future", "val_future", "val_future_bom"} <= set(history)


def test_code_normalization_rescales_the_paper_terms():
    data = batch()
    paper = make_model()
    code = make_model(cfg=CONFIG.replace(loss_normalization="code"))
    code.set_weights(paper.get_weights())  # Same weights and seed-generator state.
    _, terms, outputs = paper.compute_losses(data, training=False)
    _, code_terms, _ = code.compute_losses(data, training=False)
    length, observed = CONFIG.sequence_length, CONFIG.observed_steps
    num_keypoints = CONFIG.num_keypoints
    np.testing.assert_allclose(code_terms["image"], terms["image"] / (2 * length), rtol=1e-5)
    np.testing.assert_allclose(code_terms["future"], terms["future"] / length, rtol=1e-5)
    np.testing.assert_allclose(
        code_terms["sparsity"],
        terms["sparsity"] / num_keypoints / data["frames"].shape[0],
        rtol=1e-5,
    )
    # L_sep of the observed steps only, diagonal removed, in [0, 1].
    observed_sep = losses.separation_loss(
        outputs["keypoints"][:, :observed], CONFIG.separation_sigma
    )
    np.testing.assert_allclose(
        code_terms["separation"],
        (observed_sep - num_keypoints) / (num_keypoints * (num_keypoints - 1)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("representation", ["keypoints", "cnn"])
def test_keypoint_statistics_are_logged_for_keypoint_models(representation):
    cfg = CONFIG.replace(
        representation=representation,
        **({"separation_scale": 0.0, "sparsity_scale": 0.0} if representation == "cnn" else {}),
    )
    logs = make_model(cfg=cfg).test_step(batch())
    assert (set(model_lib.KEYPOINT_MONITORS) <= set(logs)) == (representation == "keypoints")
    if representation == "keypoints":
        assert 1 <= float(logs["active_keypoints"]) <= CONFIG.num_keypoints


# The total loss, its terms and the global norm of its gradient on batch() with
# the weights of seed 0, as the implementation computed them before the speed
# work of issue 15: a faster step must give the same numbers.
PINNED_LOSSES = {
    "paper": (
        110.020081,
        {"image": 98.862488, "separation": 15.919753, "sparsity": 19.51899, "vrnn": 4.384611},
        942.59955,
    ),
    "code": (
        11.614358,
        {"image": 9.886249, "separation": 0.99614, "sparsity": 0.83621, "vrnn": 0.876922},
        94.328499,
    ),
}
PINNED_COMMON = {"kl": 6.735188, "weight_decay": 0.027661}


@pytest.mark.parametrize("normalization", sorted(PINNED_LOSSES))
def test_losses_and_gradient_norm_are_pinned(normalization):
    cfg = CONFIG.replace(
        loss_normalization=normalization, sparsity_on_raw_scales=normalization == "code"
    )
    model = make_model(cfg=cfg)
    data = batch(cfg=cfg)
    with tf.GradientTape() as tape:
        total, terms, _ = model.compute_losses(data, training=True)
    gradients = tape.gradient(total, model.trainable_variables)
    norm = tf.linalg.global_norm([g for g in gradients if g is not None])
    pinned_total, pinned_terms, pinned_norm = PINNED_LOSSES[normalization]
    assert float(total) == pytest.approx(pinned_total, rel=1e-4)
    for name, value in {**pinned_terms, **PINNED_COMMON}.items():
        assert float(terms[name]) == pytest.approx(value, rel=1e-4), name
    assert float(norm) == pytest.approx(pinned_norm, rel=1e-4)


@pytest.mark.parametrize("normalization", ["paper", "code"])
def test_micro_batches_give_the_whole_batch_losses_and_gradients(normalization):
    # No random draws (no latents, teacher forcing at step 0), so the two
    # computations see the same rollouts.
    cfg = CONFIG.replace(
        deterministic_belief=True,
        num_bom_samples=1,
        loss_normalization=normalization,
        sparsity_on_raw_scales=normalization == "code",
    )
    data = batch(cfg=cfg)
    logs, updates = [], []
    for micro_batch_size in (0, 2):
        keras.utils.set_random_seed(0)
        model = model_lib.StructVRNN(cfg, micro_batch_size=micro_batch_size)
        # Plain SGD at rate 1: each weight's update is minus its gradient.
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        model.build_all()
        before = [variable.numpy() for variable in model.trainable_variables]
        logs.append({name: float(value) for name, value in model.train_step(data).items()})
        updates.append([v.numpy() - b for v, b in zip(model.trainable_variables, before)])
    assert logs[1] == pytest.approx(logs[0], rel=1e-5, abs=1e-6)
    for whole, micro in zip(*updates):
        np.testing.assert_allclose(micro, whole, rtol=1e-4, atol=1e-6)
    assert any(np.any(update != 0) for update in updates[0])


def test_micro_batches_must_divide_the_batch():
    model = model_lib.StructVRNN(CONFIG, micro_batch_size=3)
    model.compile(optimizer=optimizers.make_optimizer(CONFIG))
    model.build_all()
    with pytest.raises(ValueError, match="micro_batch_size=3 does not divide .* 4 sequences"):
        model.train_step(batch())
