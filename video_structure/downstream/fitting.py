"""Keras training shared by the reward and action models: split, optimiser, batches, layers.

Everything a task's result depends on is drawn from the task's own `seed`, never
from NumPy's, Python's or TensorFlow's global generators.
"""

import keras
import numpy as np


def split_indices(
    num_items: int, train_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random train/test split.

    Args:
        num_items: Number of items to split; at least 2.
        train_fraction: Fraction in (0, 1) of items for training, rounded to the
            nearest integer and clipped so that both parts are non-empty.
        seed: Seed of the permutation.

    Returns:
        (train_indices, test_indices), each sorted ascending.

    Raises:
        ValueError: If num_items < 2 or train_fraction is not in (0, 1).
    """
    if num_items < 2:
        raise ValueError(
            f"Need at least 2 sequences to split into train and test, got {num_items}."
        )
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
    num_train = min(num_items - 1, max(1, int(round(train_fraction * num_items))))
    order = np.random.default_rng(seed).permutation(num_items)
    return np.sort(order[:num_train]), np.sort(order[num_train:])


def decaying_adam(start_rate, end_rate, num_examples, batch_size, epochs):
    """Adam whose learning rate decays exponentially from start to end rate.

    The rate is start_rate * (end_rate / start_rate) ** (step / total_steps),
    so it reaches end_rate at the last optimisation step of training.
    """
    steps_per_epoch = -(-num_examples // batch_size)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=start_rate,
        decay_steps=max(1, steps_per_epoch * epochs),
        decay_rate=end_rate / start_rate,
    )
    return keras.optimizers.Adam(learning_rate=schedule)


def check_training_args(epochs, batch_size):
    """Raises ValueError unless `epochs` and `batch_size` are at least 1."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")


class ShuffledBatches(keras.utils.PyDataset):
    """Training batches in an order that a seeded generator redraws every epoch.

    Keras' own shuffling draws from TensorFlow's global generator; this keeps
    a task's result a function of its `seed` alone.
    """

    def __init__(self, inputs, targets, batch_size, seed):
        super().__init__()
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(inputs))

    def __len__(self):
        return -(-len(self.inputs) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.inputs[rows], self.targets[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.inputs))


def seeded_dense(seed_generator, units, **kwargs):
    """A Dense layer whose initial kernel is drawn from `seed_generator`."""
    return keras.layers.Dense(
        units, kernel_initializer=keras.initializers.GlorotUniform(seed=seed_generator), **kwargs
    )


def seeded_gru(seed_generator, units, **kwargs):
    """A GRU whose initial kernels are drawn from `seed_generator`."""
    return keras.layers.GRU(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed_generator),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed_generator),
        **kwargs,
    )


def train_and_predict(
    model, loss, learning_rates, train, test_inputs, epochs, batch_size, seed, verbose
):
    """Trains `model` on `train` = (inputs, targets) and predicts `test_inputs`.

    Adam's learning rate decays exponentially from learning_rates[0] to
    learning_rates[1] over all optimisation steps.
    """
    model.compile(
        optimizer=decaying_adam(*learning_rates, len(train[0]), batch_size, epochs), loss=loss
    )
    # shuffle=False: Keras would reorder the batches with Python's global generator.
    model.fit(
        ShuffledBatches(*train, batch_size, seed), epochs=epochs, shuffle=False, verbose=verbose
    )
    # Called directly, not with `predict`: a fresh model per domain would trace
    # a predict function per call and make TensorFlow warn about retracing.
    chunk = 1024
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model(test_inputs[start : start + chunk], training=False))
            for start in range(0, len(test_inputs), chunk)
        ]
    )
