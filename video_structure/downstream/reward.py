"""Reward prediction from the dynamics RNN's hidden states (Section S2.3, Figure 9).

`reward_prediction` trains one `RewardPredictor` per domain and scores it
against the null model that predicts the mean training reward
(`normalized_mse`).
"""

import dataclasses

import keras
import numpy as np

from video_structure.downstream import checks, fitting


class RewardPredictor(keras.Model):
    """Dense -> GRU -> GRU -> Dense(1) reward model of Section S2.3.

    "All connected through rectified linear units": a ReLU follows the first
    dense layer and the output sequence of each GRU (inside the GRUs the usual
    tanh/sigmoid gates are kept); the final Dense(1) is linear.
    """

    def __init__(self, units: int = 128, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        seeds = keras.random.SeedGenerator(seed)
        self.input_dense = fitting.seeded_dense(seeds, units, activation="relu")
        self.gru_1 = fitting.seeded_gru(seeds, units, return_sequences=True)
        self.gru_2 = fitting.seeded_gru(seeds, units, return_sequences=True)
        self.output_dense = fitting.seeded_dense(seeds, 1)

    def call(self, hidden_states):
        """Maps [batch, time, H] hidden states to [batch, time] rewards."""
        features = self.input_dense(hidden_states)  # [batch, time, units]
        features = keras.ops.relu(self.gru_1(features))  # [batch, time, units]
        features = keras.ops.relu(self.gru_2(features))  # [batch, time, units]
        return self.output_dense(features)[..., 0]  # [batch, time]


@dataclasses.dataclass(frozen=True)
class RewardPredictionResult:
    """Held-out reward prediction error of one domain.

    Attributes:
        domain: Domain id.
        num_train: Number of training sequences.
        num_test: Number of held-out sequences.
        train_mean_reward: Mean training reward, the null model's prediction.
        mse_per_step: [time] MSE of the reward model on held-out sequences.
        null_mse_per_step: [time] MSE of the null model.
        normalized_mse_per_step: [time] mse_per_step / null_mse_per_step.
        mse: MSE over all held-out steps.
        null_mse: Null-model MSE over all held-out steps.
        normalized_mse: mse / null_mse.
    Normalised values are NaN where the null model is exact (constant rewards).
    """

    domain: int
    num_train: int
    num_test: int
    train_mean_reward: float
    mse_per_step: np.ndarray
    null_mse_per_step: np.ndarray
    normalized_mse_per_step: np.ndarray
    mse: float
    null_mse: float
    normalized_mse: float


def normalized_mse(
    predictions: np.ndarray, targets: np.ndarray, null_prediction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MSE per time step relative to a constant null prediction (Figure 9).

    Args:
        predictions: [num_seqs, time] predicted rewards.
        targets: [num_seqs, time] true rewards.
        null_prediction: The null model's constant prediction (mean training
            reward).

    Returns:
        (mse_per_step [time], null_mse_per_step [time], normalized [time]);
        normalized is NaN at steps where the null model is exact.
    """
    mse = np.mean((predictions - targets) ** 2, axis=0)
    null_mse = np.mean((null_prediction - targets) ** 2, axis=0)
    normalized = np.divide(mse, null_mse, out=np.full(mse.shape, np.nan), where=null_mse > 0)
    return mse, null_mse, normalized


def reward_prediction(
    hidden_states: np.ndarray,
    rewards: np.ndarray,
    domains: np.ndarray,
    epochs: int = 100,
    batch_size: int = 64,
    units: int = 128,
    train_fraction: float = 0.8,
    seed: int = 0,
    verbose: int = 0,
    groups: np.ndarray | None = None,
) -> dict[int, RewardPredictionResult]:
    """Figure 9: predicts rewards from RNN hidden states, one model per domain.

    Each domain's sequences are split deterministically (by `seed`) into
    `train_fraction` for training and the rest for evaluation; with `groups`,
    whole groups are split, so that overlapping windows of one episode never
    stand on both sides. A fresh
    `RewardPredictor` is trained with MSE and Adam, the learning rate decaying
    exponentially from 1e-3 to 1e-4 over all optimisation steps.

    The paper gives neither epochs nor batch size; the defaults (100 epochs,
    batch 64: 12,500 steps for 8,000 training sequences) are ours.

    Args:
        hidden_states: [num_seqs, time, H] dynamics-RNN hidden states.
        rewards: [num_seqs, time] rewards; rewards[:, t] belongs to step t.
        domains: int [num_seqs] domain id of each sequence.
        epochs: Training epochs per domain.
        batch_size: Sequences per batch.
        units: Width of the dense and GRU layers (128 in the paper).
        train_fraction: Fraction of each domain's sequences used for training.
        seed: Seed of the split, initialisation and shuffling.
        verbose: Keras verbosity for `fit`.
        groups: int [num_seqs], e.g. the episode of each window; None: every
            sequence is its own group.

    Returns:
        Dict from domain id to `RewardPredictionResult`, in ascending order.

    Raises:
        ValueError: On mismatched shapes, NaN inputs, a domain with fewer than two
            sequences or bad training arguments.
    """
    hidden_states = checks.float_array("hidden_states", hidden_states, "[num_seqs, time, H]")
    rewards = checks.float_array("rewards", rewards, "[num_seqs, time]")
    checks.require_same(
        "Number of sequences",
        ("hidden_states", hidden_states.shape, hidden_states.shape[0]),
        ("rewards", rewards.shape, rewards.shape[0]),
    )
    checks.require_same(
        "Number of time steps",
        ("hidden_states", hidden_states.shape, hidden_states.shape[1]),
        ("rewards", rewards.shape, rewards.shape[1]),
    )
    domains = checks.int_array("domains", domains, "hidden_states", hidden_states.shape[0])
    if groups is None:
        groups = np.arange(hidden_states.shape[0])
    groups = checks.int_array("groups", groups, "hidden_states", hidden_states.shape[0])
    fitting.check_training_args(epochs, batch_size)
    if hidden_states.shape[0] < 2 or hidden_states.shape[1] < 1:
        raise ValueError(
            f"Reward prediction needs at least 2 sequences of at least 1 step, got "
            f"hidden_states of shape {hidden_states.shape}."
        )
    domain_ids = np.unique(domains)
    for domain in domain_ids:
        count = len(np.unique(groups[domains == domain]))
        if count < 2:
            raise ValueError(
                f"Domain {domain} has {count} sequence(s), counting each group once; reward "
                f"prediction needs at least 2 (train and test)."
            )
    results = {}
    for domain in domain_ids:
        in_domain = domains == domain
        names = np.unique(groups[in_domain])
        train_groups, _ = fitting.split_indices(len(names), train_fraction, seed)
        in_train = np.isin(groups, names[train_groups])
        train = np.flatnonzero(in_domain & in_train)
        test = np.flatnonzero(in_domain & ~in_train)
        predictions = fitting.train_and_predict(
            RewardPredictor(units, seed),
            "mse",
            (1e-3, 1e-4),
            (hidden_states[train], rewards[train]),
            hidden_states[test],
            epochs,
            batch_size,
            seed,
            verbose,
        )  # [num_test, time]
        train_mean = float(np.mean(rewards[train]))
        mse, null_mse, normalized = normalized_mse(predictions, rewards[test], train_mean)
        total_null = float(np.mean(null_mse))
        results[int(domain)] = RewardPredictionResult(
            domain=int(domain),
            num_train=len(train),
            num_test=len(test),
            train_mean_reward=train_mean,
            mse_per_step=mse,
            null_mse_per_step=null_mse,
            normalized_mse_per_step=normalized,
            mse=float(np.mean(mse)),
            null_mse=total_null,
            normalized_mse=(float(np.mean(mse)) / total_null if total_null > 0 else float("nan")),
        )
    return results
