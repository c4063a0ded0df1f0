"""SavedModel export of a trained Struct-VRNN.

The export is self-contained: `tf.saved_model.load(path)` in a process that
never imports `video_structure` gives these functions (batch sizes are free;
T, Delta T, K, H, W, C are the config's):

* `detect_keypoints(frames)`: frames float32 [batch, time, H, W, C] in [0, 1]
  -> {"keypoints": [batch, time, K, 3], "heatmaps": [batch, time, h, w, K]}.
* `predict_keypoints(observed_keypoints, num_samples, seed[, actions])`:
  [batch, T, K, 3], int32 scalar, int32 [2][, float32 [batch, T + Delta T, A]]
  -> {"keypoints": [batch, N, T + Delta T, K, 3],
      "states": [batch, N, T + Delta T, rnn_units]}.
* `rollout(frames, num_samples, seed[, actions])`: observed frames
  [batch, T, H, W, C] -> the outputs of predict_keypoints plus
  "observed_keypoints" [batch, T, K, 3] and "frames" [batch, N, T + Delta T, H, W, C].
* `reconstruct(keypoints, first_frame, first_keypoints)`: [batch, time, K, 3],
  [batch, H, W, C], [batch, K, 3] -> {"frames": [batch, time, H, W, C]}.
* `metadata()`: {"config": JSON string of the hyperparameters, "format":
  FORMAT, "action_size": int32}.

Keypoints follow the convention of `video_structure.keypoint_ops`. Every
function refuses (InvalidArgumentError naming the argument) an empty batch,
frames outside [0, 1] or not finite, non-finite actions and num_samples < 1.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from video_structure import model as model_lib

FORMAT = "video_structure.struct_vrnn/1"


def _checked(value, condition, message):
    """`value`, computed only after `condition` is asserted, so that nothing runs on bad input."""
    with tf.control_dependencies([tf.debugging.Assert(condition, [message])]):
        return tf.identity(value)


def _checked_batch(tensor, name):
    return _checked(tensor, tf.shape(tensor)[0] > 0, f"{name}: the batch is empty")


def _checked_frames(frames, name="frames"):
    frames = _checked_batch(frames, name)
    finite = tf.reduce_all(tf.math.is_finite(frames))
    frames = _checked(frames, finite, f"{name}: NaN or infinite values")
    in_range = tf.reduce_all((frames >= 0.0) & (frames <= 1.0))
    return _checked(frames, in_range, f"{name}: values outside [0, 1] (divide 8-bit frames by 255)")


def _checked_samples(num_samples):
    return _checked(num_samples, num_samples >= 1, "num_samples: must be >= 1")


def _checked_actions(actions):
    return [
        _checked(
            _checked_batch(a, "actions"),
            tf.reduce_all(tf.math.is_finite(a)),
            "actions: NaN or infinite values",
        )
        for a in actions
    ]


def _traced_module(endpoints) -> tf.Module:
    """A tf.Module holding each endpoint traced once, and the variables they read.

    Args:
        endpoints: {name: (python function, input signature)}.

    Returns:
        The module, with one concrete function attribute per endpoint.
    """
    root = tf.Module()
    variables = {}
    for name, (function, signature) in endpoints.items():
        concrete = tf.function(function, input_signature=signature, autograph=False)
        concrete = concrete.get_concrete_function()
        setattr(root, name, concrete)
        variables.update((id(v), v) for v in concrete.variables)
    # The SavedModel saves what the root tracks: the variables the endpoints
    # capture (not the optimizer's).
    root.captured_variables = list(variables.values())
    return root


def export(model: model_lib.StructVRNN, path: str) -> None:
    """Writes the SavedModel to `path` atomically (an old export is replaced whole).

    Args:
        model: a built StructVRNN.
        path: output directory.
    """
    config = model.config
    size, channels = config.image_size, config.image_channels
    observed, predicted = config.observed_steps, config.predicted_steps
    keypoints_spec = tf.TensorSpec([None, observed, config.num_keypoints, 3], tf.float32)
    observed_frames_spec = tf.TensorSpec([None, observed, size, size, channels], tf.float32)
    samples_spec = tf.TensorSpec([], tf.int32)
    seed_spec = tf.TensorSpec([2], tf.int32)
    action_specs = []
    if model.action_size:
        action_specs = [tf.TensorSpec([None, observed + predicted, model.action_size], tf.float32)]

    def detect_keypoints(frames):
        keypoints, heatmaps = model.detector(_checked_frames(frames))
        return {"keypoints": keypoints, "heatmaps": heatmaps}

    def predict_keypoints(observed_keypoints, num_samples, seed, *actions):
        return model.predict_keypoints(
            _checked_batch(observed_keypoints, "observed_keypoints"),
            _checked_samples(num_samples),
            predicted,
            seed,
            *_checked_actions(actions),
        )

    def rollout(frames, num_samples, seed, *actions):
        return model.rollout(
            _checked_frames(frames),
            _checked_samples(num_samples),
            predicted,
            seed,
            *_checked_actions(actions),
        )

    def reconstruct(keypoints, first_frame, first_keypoints):
        return {
            "frames": model.reconstruct(
                _checked_batch(keypoints, "keypoints"),
                _checked_frames(first_frame, "first_frame"),
                first_keypoints,
            )
        }

    metadata = {
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "format": FORMAT,
        "action_size": model.action_size,
    }

    def get_metadata():
        return {
            "config": tf.constant(metadata["config"]),
            "format": tf.constant(FORMAT),
            "action_size": tf.constant(model.action_size, tf.int32),
        }

    endpoints = {
        "detect_keypoints": (
            detect_keypoints,
            [tf.TensorSpec([None, None, size, size, channels], tf.float32)],
        ),
        "predict_keypoints": (
            predict_keypoints,
            [keypoints_spec, samples_spec, seed_spec, *action_specs],
        ),
        "rollout": (rollout, [observed_frames_spec, samples_spec, seed_spec, *action_specs]),
        "reconstruct": (
            reconstruct,
            [
                tf.TensorSpec([None, None, config.num_keypoints, 3], tf.float32),
                tf.TensorSpec([None, size, size, channels], tf.float32),
                tf.TensorSpec([None, config.num_keypoints, 3], tf.float32),
            ],
        ),
        "metadata": (get_metadata, []),
    }
    root = _traced_module(endpoints)

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    temp_dir = tempfile.mkdtemp(dir=parent, prefix=".export-")
    try:
        os.chmod(temp_dir, 0o755)  # mkdtemp's 0700 would keep the export from others.
        # Concrete functions as signatures: tf.saved_model.save retraces a
        # tf.function under its save context, which would double the tracing.
        signatures = {name: getattr(root, name) for name in endpoints}
        signatures["serving_default"] = root.detect_keypoints  # TF Serving needs one.
        tf.saved_model.save(root, temp_dir, signatures=signatures)
        with open(os.path.join(temp_dir, "video_structure.json"), "w") as f:
            json.dump(metadata, f, indent=2)
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=".old-export-")
            os.replace(path, os.path.join(old, "export"))
            os.replace(temp_dir, path)
            shutil.rmtree(old)
        else:
            os.replace(temp_dir, path)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise


def load(path: str):
    """Loads an export written by `export` and checks that it is one.

    Args:
        path: the SavedModel directory.

    Returns:
        (loaded SavedModel object, config dict, action size).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if `path` is not a Struct-VRNN export or is damaged.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No SavedModel directory at {path!r}.")
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path!r} is not a SavedModel directory (no saved_model.pb).")
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as e:
        reason = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
        raise ValueError(f"{path!r} is a damaged SavedModel: {reason}") from e
    if not hasattr(loaded, "metadata"):
        raise ValueError(f"{path!r} is a SavedModel but not a Struct-VRNN export (no metadata).")
    metadata = loaded.metadata()
    if metadata["format"].numpy().decode() != FORMAT:
        raise ValueError(
            f"{path!r} has format {metadata['format'].numpy().decode()!r}, expected {FORMAT!r}."
        )
    config = json.loads(metadata["config"].numpy().decode())
    return loaded, config, int(metadata["action_size"].numpy())
