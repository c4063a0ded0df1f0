r"""Do the keypoints of a synthetic-dataset export follow the blobs?

Fits the tracking regression (`downstream.regression.fit_coordinate_regressor`:
least squares with bias from a frame's detected keypoints, x, y, mu of all K)
to the blobs' true centres on sequences of the train split, and prints R^2 on
held-out test-split sequences (`downstream.tracking.detection_fit`), where
predicting each blob's mean position scores 0. Also prints the export's image loss
(Section 4.1, per sequence) next to the "first frame for every frame"
reconstruction an untrained skip-connected reconstructor starts from.

    python benchmarks/synthetic_tracking.py --export=runs/synthetic/export
"""

import json

from video_structure import cli

cli.start_tensorflow()

import numpy as np
import tensorflow as tf
from absl import app, flags

from video_structure.data import synthetic
from video_structure.downstream import regression, tracking

flags.DEFINE_string("export", "runs/synthetic/export", "SavedModel written by train.py.")
flags.DEFINE_integer("num_sequences", 256, "Sequences to fit and to test on.")
FLAGS = flags.FLAGS


def keypoints_and_positions(loaded, split, config, num_sequences):
    frames, positions = synthetic.generate(
        num_sequences,
        config["observed_steps"] + config["predicted_steps"],
        config["image_size"],
        seed=123,
        split=split,
    )
    frames = frames.astype(np.float32) / 255.0
    keypoints = np.concatenate(
        [
            loaded.detect_keypoints(frames[i : i + 32])["keypoints"].numpy()
            for i in range(0, num_sequences, 32)
        ]
    )
    return frames, keypoints, positions


def main(argv):
    del argv
    loaded = tf.saved_model.load(FLAGS.export)
    config = json.loads(loaded.metadata()["config"].numpy().decode())
    _, train_kp, train_pos = keypoints_and_positions(loaded, "train", config, FLAGS.num_sequences)
    frames, test_kp, test_pos = keypoints_and_positions(loaded, "test", config, FLAGS.num_sequences)

    regressor = regression.fit_coordinate_regressor(train_kp, train_pos)
    fit = tracking.detection_fit(regressor, test_kp, test_pos)
    print(
        f"held-out R^2 keypoints -> blob positions: {fit.r_squared:.4f} "
        f"(mean position: 0); mean position error {fit.mean_error:.4f} coordinate units "
        f"= {fit.mean_error * config['image_size'] / 2:.2f} px"
    )

    reconstructed = np.concatenate(
        [
            loaded.reconstruct(test_kp[i : i + 32], frames[i : i + 32, 0], test_kp[i : i + 32, 0])[
                "frames"
            ].numpy()
            for i in range(0, len(frames), 32)
        ]
    )
    image_loss = np.mean(np.sum((reconstructed - frames) ** 2, axis=(1, 2, 3, 4)))
    first_frame_loss = np.mean(np.sum((frames[:, :1] - frames) ** 2, axis=(1, 2, 3, 4)))
    print(
        f"image loss per sequence: {image_loss:.2f} (first frame repeated: {first_frame_loss:.2f})"
    )


if __name__ == "__main__":
    app.run(main)
