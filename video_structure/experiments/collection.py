"""Collecting a SavedModel export's outputs over one split of a dataset as numpy arrays.

Collected arrays (S sequences, N samples, T observed + Delta T predicted steps):
  keypoints: float32 [S, N, T + Delta T, K, 3] decoded keypoints; observed
    steps are posterior reconstructions, later steps prior predictions.
  observed_keypoints: float32 [S, T + Delta T, K, 3] detector on all frames.
  states: float32 [S, T + Delta T, H] GRU states of sample 0.
  positions: float32 [S, T + Delta T, N_obj, 2] (NaN: object absent), where known.
  rewards: float32 [S, T + Delta T], where known.
  domain: int32 [S], where known.
  episode: int32 [S], where known (the episode's index within its split).
  actions: float32 [S, T + Delta T, A], where known (fed to action-conditional
    exports).
"""

import numpy as np

from video_structure import config as config_lib
from video_structure import export as export_lib
from video_structure import rollouts
from video_structure.data import loading

_OPTIONAL_KEYS = ("positions", "rewards", "domain", "episode", "actions", "label")


def collect(
    export_path: str,
    dataset: str,
    split: str,
    num_sequences: int,
    num_samples: int,
    batch_size: int,
    data_dir: str | None = None,
    seed: int = 0,
    window_stride: int | None = None,
) -> dict[str, np.ndarray]:
    """Runs an export over the first `num_sequences` sequences of a split.

    The sequences are `loading.take_sequences`': the split read once, in an
    order shuffled by `seed`.

    Args:
        export_path: SavedModel directory written by train.py.
        dataset: a key of `video_structure.data.registry.DATASETS`.
        split: "train" or "test".
        num_sequences: sequences to collect (fewer if the split is smaller).
        num_samples: N, prior samples per sequence.
        batch_size: sequences per forward pass.
        data_dir: dataset directory of file-based datasets.
        seed: seed of the sequence order and of the samples.
        window_stride: see `loading.load_split`.

    Returns:
        Dict of numpy arrays as in the module docstring.

    Raises:
        FileNotFoundError: if `export_path` does not exist.
        ValueError: for a bad export, bad sizes, a dataset whose actions do not
            fit the export, or an empty split.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    loaded, config_dict, action_size = export_lib.load(export_path)
    config = config_lib.Config.from_dict(config_dict, f"the config of {export_path}")
    observed = config.observed_steps
    batches, data_action_size = loading.take_sequences(
        dataset,
        split,
        config,
        num_sequences,
        batch_size,
        data_dir=data_dir,
        seed=seed,
        window_stride=window_stride,
    )
    if data_action_size != action_size:
        raise ValueError(
            f"The export {export_path} takes actions of size {action_size}, the "
            f"{dataset} dataset has {data_action_size}."
        )
    parts = {key: [] for key in ("keypoints", "observed_keypoints", "states") + _OPTIONAL_KEYS}
    for batch, sample_seed in zip(batches, rollouts.batch_seeds(seed)):
        # [b, T + Delta T, K, 3]
        detected = loaded.detect_keypoints(batch["frames"])["keypoints"].numpy()
        actions = batch["actions"] if action_size else None
        outputs = rollouts.predict(
            loaded, detected[:, :observed], num_samples, sample_seed, actions
        )
        parts["keypoints"].append(outputs["keypoints"].numpy())  # [b, N, T + Delta T, K, 3]
        parts["observed_keypoints"].append(detected)
        parts["states"].append(outputs["states"][:, 0].numpy())  # [b, T + Delta T, H]
        for key in _OPTIONAL_KEYS:
            if key in batch:
                parts[key].append(batch[key])
    return {key: np.concatenate(value) for key, value in parts.items() if value}
