r"""Interacting with trained models (Section 5.4): what-if pictures, or an explorer in the browser.

Pictures (Figures 6, 7 and S3) of test sequence --sequence, into --output_dir:

    python scripts/explore.py --exports=runs/synthetic/struct_vrnn/seed0/export \
        --dataset=synthetic --offset=0.3,0 --output_dir=runs/explore

* figure6_counterfactual.png: the first export's trajectories of --num_samples
  samples from the detected observed keypoints and from the same keypoints
  with --keypoints (or those nearest --point, or the one best matching object
  0) moved by --offset over every observed step;
* figure7_rerender.png: every frame re-rendered from the detected keypoints,
  from the moved ones, and their pixel difference (scaled to its maximum);
* figureS3_diversity.png (datasets with positions): for every export, the
  --diversity_samples predicted trajectories of the keypoint best matching
  each object against the true one (dashed), with the sample diversity.

With --serve, a page on http://127.0.0.1:--port/ instead: pick an export and
a test sequence, drag a keypoint on an observed frame, and see the predicted
trajectories and frames of several samples update. Ctrl-C ends it.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Before anything imports TensorFlow: start-up notices held back.
from video_structure import cli

cli.start_tensorflow()

import tensorflow as tf
from absl import app, flags

from video_structure import explorer_figures, explorer_server
from video_structure.data import registry

FLAGS = flags.FLAGS

flags.DEFINE_list("exports", None, "Comma-separated SavedModel directories written by train.py.")
flags.DEFINE_list(
    "labels",
    None,
    "Names of the exports in the pictures and the page, one per export; "
    "default the two directories above each export (e.g. struct_vrnn/seed0).",
)
flags.DEFINE_enum("dataset", "synthetic", list(registry.DATASETS), "Dataset of the test sequences.")
cli.define_data_dir_flag(registry.default_data_dirs())
flags.DEFINE_integer(
    "num_sequences",
    16,
    "Test sequences loaded (those of the page; the keypoints best matching the "
    "objects are chosen over all of them).",
    lower_bound=1,
)
flags.DEFINE_integer("sequence", 0, "The test sequence of the pictures.", lower_bound=0)
flags.DEFINE_list("keypoints", None, "Indices of the keypoints to move; default see --point.")
flags.DEFINE_list(
    "point",
    None,
    "x,y in keypoint coordinates ([-1, 1], y up): move the active keypoint of the "
    "first frame nearest it. Without --keypoints and --point: the keypoint best "
    "matching object 0 (datasets with positions), else the one with the largest scale.",
)
flags.DEFINE_list("offset", ["0.3", "0"], "dx,dy: the move, in keypoint coordinates.")
flags.DEFINE_integer("num_samples", 5, "Samples drawn in Figure 6.", lower_bound=1)
flags.DEFINE_integer(
    "diversity_samples", 20, "Samples per object in Figure S3 (the paper: 20).", lower_bound=2
)
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
flags.DEFINE_string("output_dir", "runs/explore", "Directory of the pictures.")
flags.DEFINE_bool("serve", False, "Start the browser explorer instead of writing pictures.")
flags.DEFINE_integer("port", 8000, "Port of the explorer on 127.0.0.1.", lower_bound=0)
flags.mark_flag_as_required("exports")


def _numbers(name, values, count, kind=float):
    try:
        numbers = [kind(v) for v in values]
    except ValueError as error:
        raise app.UsageError(f"--{name}: {error}") from error
    if count and len(numbers) != count:
        raise app.UsageError(f"--{name} needs {count} numbers, got {values}.")
    return numbers


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    tf.get_logger().setLevel("ERROR")
    labels = FLAGS.labels or [
        os.path.join(*os.path.abspath(p).split(os.sep)[-3:-1]) for p in FLAGS.exports
    ]
    if len(labels) != len(FLAGS.exports):
        raise app.UsageError(f"--labels has {len(labels)} names for {len(FLAGS.exports)} exports.")
    keypoints = FLAGS.keypoints and _numbers("keypoints", FLAGS.keypoints, 0, int)
    point = FLAGS.point and _numbers("point", FLAGS.point, 2)
    offset = _numbers("offset", FLAGS.offset, 2)
    try:
        exports = [
            explorer_figures.load_export(
                label, path, FLAGS.dataset, FLAGS.num_sequences, FLAGS.data_dir
            )
            for label, path in zip(labels, FLAGS.exports)
        ]
        if FLAGS.serve:
            server = explorer_server.make_server(explorer_server.Explorer(exports), FLAGS.port)
            print(
                f"Explorer on http://127.0.0.1:{server.server_port}/ (Ctrl-C ends it).", flush=True
            )
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                server.server_close()
            return
        paths, moved = explorer_figures.make_figures(
            exports,
            FLAGS.sequence,
            FLAGS.output_dir,
            keypoints=keypoints,
            point=point,
            offset=offset,
            num_samples=FLAGS.num_samples,
            diversity_samples=FLAGS.diversity_samples,
            seed=FLAGS.seed,
        )
    except (FileNotFoundError, ValueError, OSError) as error:
        raise app.UsageError(str(error)) from error
    print(f"Moved keypoints {moved} by {offset}; wrote {', '.join(paths)}.")


if __name__ == "__main__":
    cli.run(main)
