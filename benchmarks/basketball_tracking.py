r"""Do the keypoints of a Basketball export follow the players (Figure 4)?

Collects an export's keypoints and N prior samples on train and test
sequences of the basketball dataset (`experiments.collection.collect`) and
prints the runner's tracking task (`experiments.tasks.tracking`) as JSON: a
linear regression from detected keypoints to the players' and the ball's
positions, fitted on the train sequences, scored on the predicted steps of the
test sequences with the best sample per object (footnote 3), next to the
baseline that holds the last observed keypoints.

    python benchmarks/basketball_tracking.py --export=runs/basketball/export
"""

import json

from video_structure import cli

cli.start_tensorflow()

from absl import flags

from video_structure import export as export_lib
from video_structure.downstream import tracking
from video_structure.experiments import collection, tasks

flags.DEFINE_string("export", "runs/basketball/export", "SavedModel written by train.py.")
flags.DEFINE_string("data_dir", None, "Basketball dataset directory; default the registry's.")
flags.DEFINE_integer("train_sequences", 500, "Train sequences to fit the regression on.", 1)
flags.DEFINE_integer("test_sequences", 300, "Test sequences to score.", 1)
flags.DEFINE_integer("num_samples", 20, "Prior samples per test sequence.", 1)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    _, config, _ = export_lib.load(FLAGS.export)
    common = dict(batch_size=25, data_dir=FLAGS.data_dir)
    train = collection.collect(
        FLAGS.export, "basketball", "train", FLAGS.train_sequences, 1, **common
    )
    test = collection.collect(
        FLAGS.export, "basketball", "test", FLAGS.test_sequences, FLAGS.num_samples, **common
    )
    result = tasks.tracking(
        train, test, config["observed_steps"], selection=tracking.SELECT_PER_OBJECT
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    cli.run(main)
