"""Action recognition from observed keypoint sequences (Section S2.2, Figure 8).

`action_recognition` trains an `ActionClassifier` on the keypoints (and, for
reference, on ground-truth positions) and compares it with the null model that
predicts the most frequent training class.
"""

import dataclasses

import keras
import numpy as np

from video_structure.downstream import checks, fitting


class ActionClassifier(keras.Model):
    """GRU -> Dropout -> GRU -> Dropout -> Dense -> softmax (Section S2.2)."""

    def __init__(
        self, num_classes: int, units: int = 128, dropout: float = 0.25, seed: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        seeds = keras.random.SeedGenerator(seed)
        self.gru_1 = fitting.seeded_gru(seeds, units, return_sequences=True)
        self.dropout_1 = keras.layers.Dropout(dropout, seed=seed)
        self.gru_2 = fitting.seeded_gru(seeds, units)
        self.dropout_2 = keras.layers.Dropout(dropout, seed=seed + 1)
        self.logits = fitting.seeded_dense(seeds, num_classes)

    def call(self, features, training=False):
        """Maps [batch, time, F] features to [batch, num_classes] probabilities."""
        hidden = self.dropout_1(self.gru_1(features), training=training)
        hidden = self.dropout_2(self.gru_2(hidden), training=training)
        return keras.ops.softmax(self.logits(hidden))  # [batch, num_classes]


@dataclasses.dataclass(frozen=True)
class ActionRecognitionResult:
    """Held-out action recognition accuracy (fractions correct).

    Attributes:
        accuracy: Classifier on the given features (e.g. keypoints).
        null_accuracy: Always predicting the most frequent training class.
        null_class: That class.
        ground_truth_accuracy: Same classifier on ground-truth coordinates, or
            None when they were not given.
        num_classes: Number of classes.
    """

    accuracy: float
    null_accuracy: float
    null_class: int
    ground_truth_accuracy: float | None
    num_classes: int


def _sequence_features(name, value, num_steps):
    """[num_seqs, time, ...] -> float32 [num_seqs, num_steps, F]."""
    array = np.asarray(value)
    if array.ndim < 3:
        raise ValueError(
            f"{name} must have shape [num_seqs, time, ...] (e.g. "
            f"[num_seqs, time, K, 3]), got shape {array.shape}."
        )
    if array.shape[1] < num_steps:
        raise ValueError(
            f"{name} has {array.shape[1]} time steps (shape {array.shape}) but "
            f"num_steps={num_steps}."
        )
    array = array[:, :num_steps].reshape(array.shape[0], num_steps, -1)
    return checks.float_array(name, array, "[num_seqs, num_steps, features]")


def _classifier_accuracy(train, test, num_classes, epochs, batch_size, seed, verbose):
    """Accuracy on test = (features, labels) of an `ActionClassifier` trained on train."""
    probabilities = fitting.train_and_predict(
        ActionClassifier(num_classes, seed=seed),
        "sparse_categorical_crossentropy",
        (1e-2, 1e-4),
        train,
        test[0],
        epochs,
        batch_size,
        seed,
        verbose,
    )  # [num_test, num_classes]
    return float(np.mean(np.argmax(probabilities, axis=1) == test[1]))


def action_recognition(
    train_keypoints: np.ndarray,
    train_labels: np.ndarray,
    test_keypoints: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int | None = None,
    train_positions: np.ndarray | None = None,
    test_positions: np.ndarray | None = None,
    num_steps: int = 8,
    epochs: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 0,
) -> ActionRecognitionResult:
    """Figure 8: classifies actions from sequences of observed keypoints.

    Features of each step are flattened (K * 3 for keypoints, N * 2 for
    positions) and the first `num_steps` steps are used. The classifier is
    trained with cross-entropy and Adam, the learning rate decaying
    exponentially from 1e-2 to 1e-4 over all optimisation steps. Pass model
    keypoints as keypoints[:, sample] of the [num_seqs, num_samples, ...]
    layout: only observed steps are used, so any sample serves.

    Args:
        train_keypoints: [num_train, time, ...] features, e.g. [.., K, 3].
        train_labels: int [num_train] labels in [0, num_classes).
        test_keypoints: [num_test, time, ...] features.
        test_labels: int [num_test] labels in [0, num_classes).
        num_classes: Number of classes (15 for Human3.6M); default: the largest
            label + 1.
        train_positions: Optional [num_train, time, N, 2] ground truth for the
            reference classifier (no NaN allowed).
        test_positions: Optional [num_test, time, N, 2], given iff
            train_positions is.
        num_steps: Number of leading (observed) steps used (8 in the paper).
        epochs: Training epochs (100 in the paper).
        batch_size: Sequences per batch (not given in the paper).
        seed: Seed of initialisation, dropout and shuffling.
        verbose: Keras verbosity.

    Returns:
        `ActionRecognitionResult`.

    Raises:
        ValueError: On mismatched shapes, NaN inputs, labels out of range, empty
            sets or bad training arguments.
    """
    fitting.check_training_args(epochs, batch_size)
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    train_features = _sequence_features("train_keypoints", train_keypoints, num_steps)
    test_features = _sequence_features("test_keypoints", test_keypoints, num_steps)
    checks.require_same(
        "Number of features per step",
        ("train_keypoints", np.shape(train_keypoints), train_features.shape[2]),
        ("test_keypoints", np.shape(test_keypoints), test_features.shape[2]),
    )
    if len(train_features) < 1 or len(test_features) < 1:
        raise ValueError(
            f"Need at least one training and one test sequence, got "
            f"{len(train_features)} and {len(test_features)}."
        )
    train_labels = checks.int_array(
        "train_labels", train_labels, "train_keypoints", len(train_features)
    )
    test_labels = checks.int_array("test_labels", test_labels, "test_keypoints", len(test_features))
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    for name, labels in (("train_labels", train_labels), ("test_labels", test_labels)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got values in "
                f"[{labels.min()}, {labels.max()}]."
            )
    if (train_positions is None) != (test_positions is None):
        raise ValueError("Pass both train_positions and test_positions, or neither.")
    if train_positions is not None:
        train_gt = _sequence_features("train_positions", train_positions, num_steps)
        test_gt = _sequence_features("test_positions", test_positions, num_steps)
        checks.require_same(
            "Number of sequences",
            ("train_positions", np.shape(train_positions), len(train_gt)),
            ("train_keypoints", np.shape(train_keypoints), len(train_features)),
        )
        checks.require_same(
            "Number of sequences",
            ("test_positions", np.shape(test_positions), len(test_gt)),
            ("test_keypoints", np.shape(test_keypoints), len(test_features)),
        )
        checks.require_same(
            "Number of features per step",
            ("train_positions", np.shape(train_positions), train_gt.shape[2]),
            ("test_positions", np.shape(test_positions), test_gt.shape[2]),
        )
    null_class = int(np.argmax(np.bincount(train_labels, minlength=num_classes)))
    train_args = (num_classes, epochs, batch_size, seed, verbose)
    accuracy = _classifier_accuracy(
        (train_features, train_labels), (test_features, test_labels), *train_args
    )
    ground_truth_accuracy = None
    if train_positions is not None:
        ground_truth_accuracy = _classifier_accuracy(
            (train_gt, train_labels), (test_gt, test_labels), *train_args
        )
    return ActionRecognitionResult(
        accuracy=accuracy,
        null_accuracy=float(np.mean(test_labels == null_class)),
        null_class=null_class,
        ground_truth_accuracy=ground_truth_accuracy,
        num_classes=num_classes,
    )
