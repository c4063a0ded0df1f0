r"""Keypoint prediction error of action-conditional exports, to compare action timings.

For each --exports entry, rolls the export out on --num_sequences test windows
(`experiments.collection.collect`: T observed steps, Delta T predicted with the
dataset's actions, --num_samples prior samples) and prints the squared error between the
decoded keypoints and the detector's keypoints of the same frames (x, y and mu,
summed over keypoints; the quantity of L_future), averaged over samples and
sequences: at the first predicted step (one-step prediction) and over all
predicted steps. docs/fidelity.md compares `action_timing=next` and `paper`
with it (the reward NMSE comes from scripts/run_experiments.py's tasks.json).

    PYTHONPATH=. python benchmarks/action_timing.py --data_dir=datasets/data/dmcs \
        --exports=runs/a/export,runs/b/export
"""

import numpy as np
from absl import app, flags

from video_structure import export as export_lib
from video_structure.data import registry
from video_structure.experiments import collection

_EXPORTS = flags.DEFINE_list("exports", None, "SavedModel directories written by train.py.")
_DATA_DIR = flags.DEFINE_string("data_dir", registry.default_data_dir("dmcs"), "The DMCS dataset.")
_NUM_SEQUENCES = flags.DEFINE_integer("num_sequences", 600, "Test windows.", lower_bound=1)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 10, "Samples per window.", lower_bound=1)
_WINDOW_STRIDE = flags.DEFINE_integer("window_stride", 2, "Frames between windows.", lower_bound=1)


def prediction_errors(arrays, observed_steps):
    """Per-step squared keypoint error of the predicted steps, mean over samples and windows.

    Args:
        arrays: `collection.collect`'s output, with `keypoints` [S, N, T + dT, K, 3]
            and `observed_keypoints` [S, T + dT, K, 3].
        observed_steps: T.

    Returns:
        [dT] errors, the first of which is the one-step prediction error.
    """
    decoded = arrays["keypoints"][:, :, observed_steps:]  # [S, N, dT, K, 3]
    detected = arrays["observed_keypoints"][:, None, observed_steps:]  # [S, 1, dT, K, 3]
    return np.sum(np.square(decoded - detected), axis=(-2, -1)).mean(axis=(0, 1))


def main(argv):
    del argv
    print("export | action_timing | one-step error | mean error over predicted steps")
    for path in _EXPORTS.value:
        _, config, _ = export_lib.load(path)
        arrays = collection.collect(
            path,
            "dmcs",
            "test",
            _NUM_SEQUENCES.value,
            _NUM_SAMPLES.value,
            batch_size=8,
            data_dir=_DATA_DIR.value,
            window_stride=_WINDOW_STRIDE.value,
        )
        errors = prediction_errors(arrays, config["observed_steps"])
        print(
            f"{path} | {config['action_timing']} | {errors[0]:.4f} | {errors.mean():.4f}",
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)
