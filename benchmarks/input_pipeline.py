r"""Is the DMCS tf.data pipeline fast enough to feed training?

Times the pipeline alone (sequences/s at --batch_size), then training of the
--preset model at the same batch size on one in-memory batch (train steps/s x
batch size after warm-up steps, in a fresh process, as benchmarks/train_step.py
does), and prints their ratio: above 1 the pipeline produces sequences faster
than training consumes them. Both are measured alone; while training, they
share the CPUs.

    PYTHONPATH=. python benchmarks/input_pipeline.py --data_dir=datasets/data/dmcs

Without --data_dir a small dataset is generated into a temporary directory
first (not timed).
"""

import os
import tempfile
import time

import train_speed
from absl import app, flags

from video_structure import config as config_lib
from video_structure.data import dmcs, dmcs_reader

_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "DMCS dataset directory; None generates a small one."
)
_SPLIT = flags.DEFINE_string("split", "train", "Split to read.")
_PRESET = flags.DEFINE_string(
    "preset", "dmcs", "Hyperparameter preset; sets the sequence length and the trained model."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Sequences per batch.")
_BATCHES = flags.DEFINE_integer("batches", 300, "Timed pipeline batches.")
_WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed pipeline batches first.")
_TRAIN_WARMUP_STEPS = flags.DEFINE_integer(
    "train_warmup_steps", 2, "Untimed train steps (tracing, compilation)."
)
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 3, "Timed train steps.")


def sequences_per_second(data_dir, seq_len):
    """Times iterating the pipeline; returns (sequences/s, startup seconds)."""
    start = time.perf_counter()
    dataset = dmcs_reader.dmcs_dataset(data_dir, _SPLIT.value, seq_len, _BATCH_SIZE.value, seed=0)
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


def training_sequences_per_second(action_size):
    """Sequences/s that training of the preset's model consumes."""
    numbers = train_speed.measure_in_subprocess(
        {
            "preset": _PRESET.value,
            "batch_size": _BATCH_SIZE.value,
            "xla": False,
            "warmup_steps": _TRAIN_WARMUP_STEPS.value,
            "timed_steps": _TRAIN_STEPS.value,
            "action_size": action_size,
        },
        onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1"),
    )
    return numbers["steps_per_s"] * _BATCH_SIZE.value, numbers["device"]


def benchmark(data_dir):
    seq_len = config_lib.get_preset(_PRESET.value).sequence_length
    action_size = dmcs.load_manifest(data_dir)["dtype"]["actions"].shape[-1]
    rate, startup = sequences_per_second(data_dir, seq_len)
    print(f"pipeline_startup_s {startup:.2f}")
    print(f"pipeline_sequences_per_s {rate:.1f}")
    print(f"pipeline_frames_per_s {rate * seq_len:.1f}")
    train_rate, device = training_sequences_per_second(action_size)
    print(
        f"training_sequences_per_s {train_rate:.1f} ({_PRESET.value} preset, batch "
        f"{_BATCH_SIZE.value}, {seq_len} frames, {action_size} actions, {device})"
    )
    print(f"pipeline_over_training {rate / train_rate:.1f}")


def main(argv):
    del argv
    if _DATA_DIR.value:
        benchmark(_DATA_DIR.value)
        return
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
        benchmark(data_dir)


if __name__ == "__main__":
    app.run(main)
