import numpy as np
import pytest
import tensorflow as tf

from video_structure import config, dynamics

CONFIG = config.get_preset(
    "synthetic",
    num_keypoints=3,
    latent_size=4,
    rnn_units=8,
    prior_net_size=8,
    posterior_net_size=8,
    decoder_net_size=8,
)
SEED = tf.constant([3, 4])


def make_cell(action_size=0):
    return dynamics.VRNNCell(CONFIG, action_size)


def test_best_of_many_picks_the_sample_closest_to_the_target():
    target = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)  # [batch, D]
    samples = np.array(
        [
            [[0.5, 0.5], [1.0, 0.9]],  # sample 0
            [[0.1, 0.0], [0.0, 0.0]],  # sample 1
            [[-0.2, 0.3], [1.2, 1.0]],
        ],
        np.float32,
    )  # sample 2
    best = dynamics.best_of_many(tf.constant(samples), tf.constant(target)).numpy()
    np.testing.assert_array_equal(best, [1, 0])


def test_unroll_with_best_of_many_gets_closer_to_the_targets():
    cell = make_cell()
    keypoints = tf.random.uniform([8, 5, 9], -0.5, 0.5)

    def error(num_samples):
        # Teacher forcing keeps the states independent of the chosen samples.
        rollout = dynamics.unroll(
            cell,
            keypoints,
            3,
            5,
            SEED,
            num_samples=num_samples,
            sample_prob_observed=0.0,
            sample_prob_predicted=0.0,
        )
        return float(tf.reduce_mean(tf.square(rollout.keypoints - keypoints)))

    assert error(50) < error(1)


def test_unroll_shapes_and_kl():
    cell = make_cell()
    rollout = dynamics.unroll(cell, tf.random.uniform([4, 6, 9]), 4, 6, SEED, num_samples=3)
    assert rollout.keypoints.shape == (4, 6, 9)
    assert rollout.states.shape == (4, 6, 8)
    assert rollout.kl.shape == (4, 4)
    assert np.all(rollout.kl.numpy() >= 0)
    assert np.all(np.abs(rollout.keypoints.numpy()) <= 1)  # tanh decoder


def test_unroll_is_deterministic_for_a_seed():
    cell = make_cell()
    keypoints = tf.random.uniform([2, 5, 9])
    first = dynamics.unroll(
        cell,
        keypoints,
        3,
        5,
        SEED,
        num_samples=5,
        sample_prob_observed=0.5,
        sample_prob_predicted=0.5,
    )
    second = dynamics.unroll(
        cell,
        keypoints,
        3,
        5,
        SEED,
        num_samples=5,
        sample_prob_observed=0.5,
        sample_prob_predicted=0.5,
    )
    other = dynamics.unroll(cell, keypoints, 3, 5, tf.constant([5, 6]), num_samples=5)
    np.testing.assert_array_equal(first.keypoints.numpy(), second.keypoints.numpy())
    assert not np.allclose(first.keypoints.numpy(), other.keypoints.numpy())


@pytest.mark.parametrize("prob,target_matters", [(0.0, True), (1.0, False)])
def test_scheduled_sampling_chooses_what_the_rnn_sees(prob, target_matters):
    cell = make_cell()
    keypoints = tf.random.uniform([2, 4, 9])
    # Change only the targets of predicted step 2: without best of many they
    # reach the GRU through teacher forcing alone.
    changed = tf.concat([keypoints[:, :2], keypoints[:, 2:] + 0.3], axis=1)
    states = [
        dynamics.unroll(
            cell, k, 2, 4, SEED, num_samples=1, sample_prob_predicted=prob
        ).states.numpy()
        for k in (keypoints, changed)
    ]
    np.testing.assert_allclose(states[0][:, :2], states[1][:, :2], atol=1e-6)
    assert np.allclose(states[0][:, 2], states[1][:, 2], atol=1e-6) != target_matters


def test_prior_is_not_trained_by_predicted_steps():
    cell = make_cell()
    keypoints = tf.random.uniform([2, 5, 9])
    with tf.GradientTape() as tape:
        rollout = dynamics.unroll(cell, keypoints, 3, 5, SEED, num_samples=4)
        future = tf.reduce_sum(tf.square(rollout.keypoints[:, 3:] - keypoints[:, 3:]))
    prior_variables = cell.prior_hidden.trainable_variables + cell.prior_params.trainable_variables
    gradients = tape.gradient(future, prior_variables)
    assert all(g is None or np.allclose(g.numpy(), 0.0) for g in gradients)


def test_deterministic_belief_ignores_the_seed():
    cell = make_cell()
    keypoints = tf.random.uniform([2, 5, 9])
    first = dynamics.unroll(cell, keypoints, 3, 5, SEED, deterministic=True)
    second = dynamics.unroll(cell, keypoints, 3, 5, tf.constant([9, 9]), deterministic=True)
    np.testing.assert_allclose(first.keypoints.numpy(), second.keypoints.numpy())


def test_actions_change_the_dynamics_and_are_required():
    cell = make_cell(action_size=2)
    keypoints = tf.random.uniform([2, 5, 9])
    actions = tf.random.uniform([2, 5, 2])
    with_actions = dynamics.unroll(cell, keypoints, 3, 5, SEED, actions=actions)
    other_actions = dynamics.unroll(cell, keypoints, 3, 5, SEED, actions=actions + 1.0)
    assert not np.allclose(with_actions.states.numpy(), other_actions.states.numpy())
    with pytest.raises(ValueError, match="actions"):
        dynamics.unroll(cell, keypoints, 3, 5, SEED)


@pytest.mark.parametrize("timing", ["next", "paper"])
@pytest.mark.parametrize("step", [1, 3, 4])
def test_the_action_that_produces_frame_t_reaches_its_prediction(timing, step):
    # actions[:, t] produced frame t. "next": it enters h_{t-1}, so the decoded
    # keypoints of step t already depend on it. "paper" (S1.1.2: a_{t-1} enters
    # h_t): only step t + 1 does. No earlier step may depend on it.
    cell = dynamics.VRNNCell(CONFIG.replace(action_timing=timing), 2)
    keypoints = tf.random.uniform([2, 5, 9])
    actions = np.random.default_rng(0).uniform(size=(2, 5, 2)).astype(np.float32)
    changed = actions.copy()
    changed[:, step] += 1.0
    decoded = [
        dynamics.unroll(
            cell, keypoints, 3, 5, SEED, actions=tf.constant(a), deterministic=True
        ).keypoints.numpy()
        for a in (actions, changed)
    ]
    first_affected = step if timing == "next" else step + 1
    np.testing.assert_array_equal(decoded[0][:, :first_affected], decoded[1][:, :first_affected])
    if first_affected < 5:
        assert not np.allclose(decoded[0][:, first_affected], decoded[1][:, first_affected])


def test_step_actions_shifts_next_actions_forward():
    actions = tf.reshape(tf.range(6, dtype=tf.float32), [1, 3, 2])
    np.testing.assert_array_equal(
        dynamics.step_actions(actions, "next").numpy(), [[[2, 3], [4, 5], [0, 0]]]
    )
    np.testing.assert_array_equal(dynamics.step_actions(actions, "paper").numpy(), actions.numpy())
