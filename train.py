r"""Trains Struct-VRNN and exports a SavedModel.

    python train.py --dataset=synthetic --output_dir=runs/synthetic

Every hyperparameter of `video_structure.config.Config` has a flag of the same
name that overrides the preset's value (`--steps` and `--batch_size` set
num_steps and batch_size). An existing run in --output_dir is resumed;
video_structure/training.py describes the run directory it writes.
"""

import dataclasses
import sys
import warnings

from absl import app, flags, logging

# None of these imports TensorFlow: the flags are defined, checked and
# answered (--help) before it starts, in `main`.
from video_structure import cli, run_options
from video_structure import config as config_lib
from video_structure.data import dmcs, registry

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "dataset",
    "synthetic",
    list(registry.DATASETS),
    "Training data: " + registry.descriptions(),
)
flags.DEFINE_string(
    "preset",
    None,
    "Hyperparameter preset ("
    + ", ".join(sorted(config_lib.PRESETS))
    + "); defaults to the dataset's: "
    + ", ".join(f"{k}->{v.default_preset}" for k, v in registry.DATASETS.items())
    + ".",
)
flags.DEFINE_enum(
    "variant",
    "struct_vrnn",
    list(config_lib.VARIANTS),
    "Model variant of Sections 5.1-5.3: "
    + "; ".join(f"{k}: {v or 'the full model'}" for k, v in config_lib.VARIANTS.items()),
)
cli.define_data_dir_flag(registry.default_data_dirs(), "basketball, dmcs, human36m, npz, videos")
flags.DEFINE_integer(
    "dmcs_train_episodes",
    dmcs.DEFAULT_TRAIN_EPISODES,
    "Train episodes per domain when the dmcs dataset "
    "is generated on first use (CPU-sized; see datasets/generate_dmcs.py for "
    "the paper's scale).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "dmcs_test_episodes",
    dmcs.DEFAULT_TEST_EPISODES,
    "Test episodes per domain when generating dmcs.",
    lower_bound=1,
)
flags.DEFINE_integer(
    "dmcs_episode_length",
    dmcs.DEFAULT_EPISODE_LENGTH,
    "Frames per episode when generating dmcs.",
    lower_bound=2,
)
flags.DEFINE_integer(
    "steps", None, "Training steps (overrides the preset's num_steps).", lower_bound=1
)
flags.DEFINE_integer(
    "batch_size", None, "Sequences per batch (overrides the preset).", lower_bound=1
)
flags.DEFINE_string(
    "output_dir",
    "runs/default",
    "Directory for config, checkpoints, "
    "TensorBoard logs and the export; an existing run there is resumed.",
)
flags.DEFINE_integer("seed", 0, "Random seed of initialisation, sampling and data.")
flags.DEFINE_integer(
    "checkpoint_every",
    500,
    "Steps between checkpoints, validation and image summaries.",
    lower_bound=1,
)
flags.DEFINE_integer(
    "eval_batches", 2, "Test batches evaluated at every checkpoint.", lower_bound=0
)
flags.DEFINE_integer(
    "num_sequences",
    2000,
    "Sequences generated for the synthetic dataset's train split (the test split gets a quarter).",
    lower_bound=1,
)
flags.DEFINE_bool(
    "xla",
    False,
    "Compile the train step with XLA (jit_compile); slower on "
    "CPU in our measurements, may pay on GPU.",
)
flags.DEFINE_enum(
    "strategy",
    "default",
    list(run_options.STRATEGIES),
    "tf.distribute strategy: default (one device), mirrored (all local GPUs, or --devices), "
    "multi_worker (MultiWorkerMirroredStrategy, the cluster from TF_CONFIG). --batch_size "
    "stays the global batch; a run resumes under any strategy.",
)
flags.DEFINE_list(
    "devices",
    None,
    "--strategy=mirrored: the replicas' devices, e.g. GPU:0,GPU:1; CPU:0,CPU:1 splits the "
    "CPU into two logical devices (tests and benchmarks). Default: every local GPU.",
)
flags.DEFINE_enum(
    "mixed_precision",
    "float32",
    list(run_options.POLICIES),
    "Keras dtype policy of the convolutions, dense layers and GRU; keypoint ops, "
    "distributions and losses stay float32; mixed_float16 adds dynamic loss scaling.",
)
flags.DEFINE_integer(
    "micro_batch_size",
    0,
    "Compute each step's gradients this many sequences (per replica) at a time and average "
    "them: the same losses and gradients as the whole batch (other random draws), the "
    "memory of a small batch, and on CPU a faster step at large batches "
    "(benchmarks/train_step.py). 0: the whole batch at once.",
    lower_bound=0,
)
flags.DEFINE_integer(
    "verbose",
    1,
    "Keras progress output: 0 silent, 1 progress bar, 2 one line per checkpoint interval.",
    lower_bound=0,
    upper_bound=2,
)

# One override flag per hyperparameter, named as the Config field, but for
# these fields' flags of their own: {field: flag}.
_OWN_FLAGS = {"batch_size": "batch_size", "num_steps": "steps"}
cli.define_hyperparameter_flags(skip=_OWN_FLAGS)
# Flags defined in cli count as this script's for --help.
flags.adopt_module_key_flags(cli)


def resolve_config() -> config_lib.Config:
    """The preset of --preset (or of the dataset) with every flag override applied."""
    preset = FLAGS.preset or registry.spec(FLAGS.dataset).default_preset
    overrides = cli.hyperparameter_overrides(skip=_OWN_FLAGS)
    for field, flag in _OWN_FLAGS.items():
        if FLAGS[flag].value is not None:
            overrides[field] = FLAGS[flag].value
    return config_lib.get_preset(preset, FLAGS.variant, **overrides)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        config = resolve_config()
        options = run_options.Options(
            **{f.name: getattr(FLAGS, f.name) for f in dataclasses.fields(run_options.Options)}
        )
        run_options.check_strategy(options.strategy, options.devices)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    # TensorFlow only now that the flags are good (its import takes seconds);
    # start_tensorflow must come before anything imports it: oneDNN on,
    # start-up notices held back.
    cli.start_tensorflow()
    import tensorflow as tf

    from video_structure import training
    from video_structure.data import windows

    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")
    # Our pipelines shuffle themselves; Keras warns that it cannot.
    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    try:
        training.run(config, options)
    except training.TrainingError as error:
        raise app.UsageError(str(error)) from error
    except training.Diverged as error:
        print(f"Error: {error}", file=sys.stderr)
        sys.exit(1)
    except windows.DataReadError as error:
        # The pipeline's threads may be inside tf.numpy_function still: destroying its
        # iterator, as the interpreter's shutdown would, waits for them while holding
        # the GIL they wait for, forever. Leave without destroying anything.
        cli.fail(f"reading the training data failed: {error}", exitcode=1, now=True)


if __name__ == "__main__":
    cli.run(main)
