r"""Trains and compares model variants as in the paper (Sections 5.1-5.5, S2).

    python scripts/run_experiments.py --variants=struct_vrnn,cnn_vrnn --seeds=0,1 \
        --dataset=synthetic --output_dir=runs/experiments

For every variant and seed, in output_dir/<variant>/seed<k>, it trains
(train.py with --variant, --seed, --steps, --batch_size, --data_dir and
--train_flags; below the preset's num_steps, KL annealing and learning-rate
decay are scaled to --steps unless --train_flags sets them), evaluates
(`evaluation.run`) and runs the downstream tasks (tracking, Figure 4; reward
prediction, Figure 9; action recognition, Figure 8; sample diversity, Figure
S3), reusing what a previous run wrote where it is current:
`video_structure.experiments.pipeline` describes the steps.

Then output_dir holds results.md and results.csv (one row per variant and
seed plus the mean over seeds, with the wall times) and figure4_tracking.png,
figure5_ablations.png, figure8_action.png, figure9_reward.png.

The defaults are CPU-sized. Paper-scale settings:
  --steps=100000 (Table S1; the schedules then are the preset's)
  --batch_size=32 --seeds=0,1,2,3,4 (5 initialisations)
  --num_samples=100 (video metrics, Figures 3, S1) --tracking_samples=50 (Figure 4);
  --task_sequences: the whole test set (S2.3: 10,000 sequences per domain for
    reward prediction, of 20 steps; ours have T + Delta T = 16, docs/fidelity.md);
  --task_epochs=100 (S2.2's action recognition; S2.3 does not say for rewards);
  --variants=struct_vrnn,struct_vrnn_no_bom,struct_rnn,cnn_vrnn (Figures 3, 4),
    struct_vrnn,struct_vrnn_no_sep,struct_vrnn_no_sparse (Figure 5).
The dataset's preset sets the model size; pass other hyperparameters with
--train_flags, e.g. --train_flags="--num_keypoints=4 --rnn_units=8". Changing
--steps below the preset's num_steps changes the scaled schedules, which
train.py refuses for an existing run: use a new --output_dir then.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Before anything imports TensorFlow: start-up notices held back.
from video_structure import cli

cli.start_tensorflow()

import tensorflow as tf
from absl import app, flags

from video_structure import config as config_lib
from video_structure.data import registry
from video_structure.experiments import pipeline
from video_structure.experiments import tasks as tasks_lib

FLAGS = flags.FLAGS

flags.DEFINE_list(
    "variants",
    ["struct_vrnn", "cnn_vrnn"],
    "Comma-separated model variants: " + ", ".join(config_lib.VARIANTS) + ".",
)
flags.DEFINE_list("seeds", ["0"], "Comma-separated training seeds (the paper: 5 per variant).")
flags.DEFINE_enum(
    "dataset", "synthetic", list(registry.DATASETS), "Dataset of training, evaluation and tasks."
)
cli.define_data_dir_flag(registry.default_data_dirs())
flags.DEFINE_string("output_dir", "runs/experiments", "Root of the runs and the report.")
flags.DEFINE_integer(
    "steps", 300, "Training steps per run (CPU-sized; the paper: 100000).", lower_bound=1
)
flags.DEFINE_integer(
    "batch_size",
    None,
    "Training batch size; default the preset's. Also the "
    "batch of evaluation and collection (default 8 there).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_sequences",
    32,
    "Test sequences of evaluate.py's video metrics "
    "(CPU-sized: VGG16 and I3D dominate; the paper uses the whole test set).",
    lower_bound=2,
)
flags.DEFINE_integer(
    "task_sequences",
    3100,
    "Sequences of each split collected for the "
    "tasks (fewer where a split has fewer): the regressions fit on the train "
    "split, reward prediction splits the test split 80/20 per domain, by "
    "episode. 3100 takes the whole test split of train.py's CPU-sized DMCS "
    "dataset at --task_window_stride=2 (516 windows per domain). The paper: "
    "the whole test set.",
    lower_bound=2,
)
flags.DEFINE_integer(
    "task_window_stride",
    2,
    "Frames between the starts of the windows "
    "collected for the tasks (file-based datasets; overlapping windows give "
    "enough sequences from a CPU-sized test split).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_samples",
    10,
    "Samples per sequence of evaluate.py's video metrics (CPU-sized; the paper: 100).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "tracking_samples",
    10,
    "Samples per sequence collected for the tasks; "
    "tracking scores the best of them (CPU-sized; the paper: 50).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "task_epochs",
    20,
    "Epochs of the reward and action models (S2.2: 100 "
    "for action recognition; S2.3 gives none for reward prediction).",
    lower_bound=1,
)
flags.DEFINE_string(
    "train_flags",
    "",
    'Extra train.py flags, one shell-quoted string, e.g. "--num_keypoints=4 --rnn_units=8".',
)
flags.DEFINE_enum(
    "selection",
    None,
    ["sequence", "object"],
    "Best-of-N selection of the "
    "tracking task: per sequence (Human3.6M) or per object (Basketball); default "
    "per dataset: "
    + ", ".join(f"{k}: {v.tracking_selection}" for k, v in registry.DATASETS.items())
    + ".",
)
flags.DEFINE_enum(
    "tracking_fit_on",
    tasks_lib.DEFAULT_FIT_ON,
    list(tasks_lib.FIT_ON),
    "What the tracking regression is fitted on: the train split's detected "
    "keypoints, or all its decoded samples (which shrink the fit; "
    "docs/fidelity.md). Model and baseline share the regression.",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = [v for v in FLAGS.variants if v not in config_lib.VARIANTS]
    if unknown or not FLAGS.variants:
        raise app.UsageError(
            f"--variants: unknown {unknown or 'empty list'}; choose from "
            f"{', '.join(config_lib.VARIANTS)}."
        )
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError as error:
        raise app.UsageError(f"--seeds must be integers, got {FLAGS.seeds}.") from error
    if not seeds:
        raise app.UsageError("--seeds is empty.")
    try:
        preset = pipeline.train_flag(FLAGS.train_flags, "preset")
    except ValueError as error:
        raise app.UsageError(f"--train_flags {FLAGS.train_flags!r}: {error}") from error
    if preset is not None and preset not in config_lib.PRESETS:
        raise app.UsageError(
            f"--train_flags: unknown --preset={preset}; choose from "
            f"{', '.join(sorted(config_lib.PRESETS))}."
        )
    tf.get_logger().setLevel("ERROR")
    data_dir = FLAGS.data_dir or registry.default_data_dir(FLAGS.dataset)
    settings = pipeline.Settings(
        dataset=FLAGS.dataset,
        data_dir=os.path.abspath(data_dir) if data_dir else None,
        output_dir=FLAGS.output_dir,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        num_sequences=FLAGS.num_sequences,
        num_samples=FLAGS.num_samples,
        task_sequences=FLAGS.task_sequences,
        task_window_stride=FLAGS.task_window_stride,
        tracking_samples=FLAGS.tracking_samples,
        task_epochs=FLAGS.task_epochs,
        selection=FLAGS.selection,
        tracking_fit_on=FLAGS.tracking_fit_on,
        train_flags=FLAGS.train_flags,
    )
    started = time.time()

    def log(message):
        print(f"[{time.time() - started:6.0f} s] {message}", flush=True)

    try:
        paths = pipeline.run(FLAGS.variants, seeds, settings, log)
    except pipeline.RunError as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
    log("Wrote " + ", ".join(paths) + ".")
    with open(os.path.join(FLAGS.output_dir, "results.md")) as f:
        print(f.read().split("\n\nColumns:")[0])


if __name__ == "__main__":
    app.run(main)
