"""Tests for video_structure.downstream.reward."""

import numpy as np
import pytest

from video_structure.downstream import fitting, reward


def _reward_task(num_seqs, num_steps, hidden_size, seed):
    rng = np.random.default_rng(seed)
    hidden = rng.uniform(-1, 1, (num_seqs, num_steps, hidden_size))
    rewards = np.maximum(hidden[..., 0], 0.0) + 0.5 * hidden[..., 1] ** 2
    return hidden.astype(np.float32), rewards.astype(np.float32)


def test_normalized_mse_of_null_model_is_one():
    targets = np.array([[0.0, 1.0], [2.0, 3.0]])
    mse, null_mse, normalized = reward.normalized_mse(
        np.full_like(targets, 0.5), targets, null_prediction=0.5
    )
    np.testing.assert_allclose(normalized, 1.0)
    np.testing.assert_allclose(null_mse, [(0.25 + 2.25) / 2, (0.25 + 6.25) / 2])
    np.testing.assert_allclose(mse, null_mse)
    _, _, perfect = reward.normalized_mse(targets, targets, 0.5)
    np.testing.assert_allclose(perfect, 0.0)


@pytest.mark.slow
def test_reward_prediction_learns_function_of_hidden_state():
    hidden, rewards = _reward_task(num_seqs=180, num_steps=6, hidden_size=4, seed=0)
    domains = np.repeat([3, 7], [160, 20]).astype(np.int32)
    results = reward.reward_prediction(
        hidden, rewards, domains, epochs=40, batch_size=16, units=32, seed=0
    )
    assert list(results) == [3, 7]
    assert (results[3].num_train, results[3].num_test) == (128, 32)
    assert (results[7].num_train, results[7].num_test) == (16, 4)
    result = results[3]
    assert result.normalized_mse_per_step.shape == (6,)
    assert result.normalized_mse < 0.3
    assert result.normalized_mse == pytest.approx(result.mse / result.null_mse)
    assert result.train_mean_reward == pytest.approx(
        np.mean(rewards[:160][fitting.split_indices(160, 0.8, 0)[0]])
    )


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: reward.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 7)), np.zeros(5, np.int32)
            ),
            ValueError,
            r"hidden_states \(shape \(5, 6, 4\)\) and rewards",
        ),
        (
            lambda: reward.reward_prediction(
                np.zeros((5, 6, 4)), np.full((5, 6), np.nan), np.zeros(5, np.int32)
            ),
            ValueError,
            "rewards contains NaN",
        ),
        (
            lambda: reward.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 6)), np.array([0, 0, 0, 0, 1])
            ),
            ValueError,
            "Domain 1 has 1 sequence",
        ),
        (
            lambda: reward.reward_prediction(
                np.zeros((1, 6, 4)), np.zeros((1, 6)), np.zeros(1, np.int32)
            ),
            ValueError,
            r"at least 2 sequences.*shape \(1, 6, 4\)",
        ),
        (
            lambda: reward.reward_prediction(
                np.zeros((5, 6, 4)), np.zeros((5, 6)), np.zeros(4, np.int32)
            ),
            ValueError,
            "domains has 4 entries but hidden_states has 5",
        ),
    ],
)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.slow
def test_reward_prediction_is_deterministic_given_seed():
    hidden, rewards = _reward_task(num_seqs=20, num_steps=4, hidden_size=3, seed=2)
    domains = np.zeros(20, np.int32)
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    runs = [
        reward.reward_prediction(
            hidden, rewards, domains, epochs=2, batch_size=8, units=8, seed=seed
        )[0].mse
        for seed in (1, 1, 2)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    # The seed is the task's own: global generators are neither reseeded nor used.
    assert np.random.random() == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reward_prediction_keeps_each_group_on_one_side_of_the_split(seed):
    # Groups of sizes 1, 1, 1, 1, 6 (say, windows of five episodes): 80% of the
    # groups is 4 of them, so the test side holds exactly one whole group.
    hidden, rewards = _reward_task(num_seqs=10, num_steps=3, hidden_size=3, seed=0)
    groups = np.array([0, 1, 2, 3, 4, 4, 4, 4, 4, 4])
    result = reward.reward_prediction(
        hidden,
        rewards,
        np.zeros(10, np.int32),
        epochs=1,
        batch_size=4,
        units=4,
        seed=seed,
        groups=groups,
    )[0]
    assert result.num_train + result.num_test == 10
    assert result.num_test in (1, 6)


def test_reward_model_is_dense_two_grus_dense_with_relus_between():
    model = reward.RewardPredictor(seed=0)
    states = np.random.default_rng(0).normal(size=(2, 5, 7)).astype(np.float32)
    rewards = model(states).numpy()
    assert rewards.shape == (2, 5)
    assert (
        model.input_dense.units,
        model.gru_1.units,
        model.gru_2.units,
        model.output_dense.units,
    ) == (128, 128, 128, 1)
    assert model.gru_1.return_sequences and model.gru_2.return_sequences
    assert model.input_dense.activation.__name__ == "relu"
    assert model.output_dense.activation.__name__ == "linear"
    # A ReLU after each GRU: recomposed by hand, the layers give the model's output.
    first = model.gru_1(model.input_dense(states)).numpy()
    assert np.any(first < 0)  # So the ReLUs matter.
    features = np.maximum(model.gru_2(np.maximum(first, 0.0)), 0.0)
    np.testing.assert_allclose(model.output_dense(features)[..., 0], rewards, atol=1e-6)
