r"""Benchmarks the DMCS tf.data pipeline (sequences/s, no training).

    PYTHONPATH=. python benchmarks/input_pipeline.py --data_dir=datasets/data/dmcs

Without --data_dir a small dataset is generated into a temporary directory
first (not timed).
"""

import tempfile
import time

from absl import app
from absl import flags

from video_structure.data import dmcs
from video_structure.data import sequences

_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "DMCS dataset directory; None generates a small one."
)
_SPLIT = flags.DEFINE_string("split", "train", "Split to read.")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 16, "Frames per sequence.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Sequences per batch.")
_BATCHES = flags.DEFINE_integer("batches", 300, "Timed batches.")
_WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed batches first.")


def sequences_per_second(data_dir):
    """Times iterating the pipeline; returns (sequences/s, startup seconds)."""
    start = time.perf_counter()
    dataset = sequences.dmcs_dataset(
        data_dir, _SPLIT.value, _SEQ_LEN.value, _BATCH_SIZE.value, seed=0
    )
    iterator = iter(dataset)
    for _ in range(_WARMUP.value):
        next(iterator)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(_BATCHES.value):
        batch = next(iterator)
    batch["frames"].numpy()
    elapsed = time.perf_counter() - start
    return _BATCHES.value * _BATCH_SIZE.value / elapsed, startup


def main(argv):
    del argv
    if _DATA_DIR.value:
        rate, startup = sequences_per_second(_DATA_DIR.value)
    else:
        with tempfile.TemporaryDirectory() as data_dir:
            dmcs.generate(
                data_dir,
                domains=["cartpole/balance", "walker/walk"],
                train_episodes=4,
                test_episodes=0,
                episode_length=100,
                num_workers=2,
                progress=False,
            )
            rate, startup = sequences_per_second(data_dir)
    print(f"startup_s {startup:.2f}")
    print(f"sequences_per_s {rate:.1f}")
    print(f"frames_per_s {rate * _SEQ_LEN.value:.1f}")


if __name__ == "__main__":
    app.run(main)
