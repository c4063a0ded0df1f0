"""Shared test setup: quiet TensorFlow, deterministic seeds, small data files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def write_npz():
    """Writes one sequence in the authors' npz format; returns the arrays written.

    The returned function takes (path, length, size=64, keys=(...), seed=0).
    """

    def write(path, length, size=64, keys=("image", "true_object_pos", "action", "reward"), seed=0):
        rng = np.random.default_rng(seed)
        arrays = {
            "image": rng.integers(0, 256, (length, size, size, 3), np.uint8),
            "true_object_pos": rng.uniform(0, 1, (length, 3, 2)),
            "action": rng.normal(size=(length, 2)).astype(np.float32),
            "reward": rng.normal(size=length),
        }
        arrays = {k: v for k, v in arrays.items() if k in keys}
        np.savez(path, **arrays)
        return arrays

    return write


@pytest.fixture(scope="session")
def tiny_dmcs():
    """`dmcs.generate` keyword arguments of a tiny two-domain dataset.

    Shared by module-scoped datasets: change a copy, `dict(tiny_dmcs, seed=4)`.
    """
    return dict(
        domains=["cartpole/balance", "walker/walk"],
        train_episodes=2,
        test_episodes=2,
        episode_length=5,
        episodes_per_shard=1,
        seed=3,
        progress=False,
    )
