"""What shapes a training run besides the hyperparameters, and its checks that need no TensorFlow.

train.py has one flag per `Options` field and checks them here before it
starts TensorFlow, so that `--help` and a bad flag are answered at once
rather than after TensorFlow's import. This module and what it imports must
not import TensorFlow.

`STRATEGIES` are the tf.distribute strategies of video_structure/distribute.py,
`POLICIES` the Keras dtype policies of video_structure/precision.py.
"""

import dataclasses
import json
import os

from video_structure.data import dmcs

STRATEGIES = ("default", "mirrored", "multi_worker")
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def compute_dtype(policy: str) -> str:
    """The dtype the convolutions and dense layers of a `POLICIES` policy compute in."""
    return policy.removeprefix("mixed_")


class StrategyError(ValueError):
    """A strategy that cannot be made: bad --devices or TF_CONFIG; the message names it."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What shapes a run besides the hyperparameters; train.py has one flag per field."""

    dataset: str = "synthetic"
    output_dir: str = os.path.join("runs", "default")
    data_dir: str | None = None
    seed: int = 0
    checkpoint_every: int = 500
    eval_batches: int = 2
    num_sequences: int = 2000
    xla: bool = False
    verbose: int = 1
    dmcs_train_episodes: int = dmcs.DEFAULT_TRAIN_EPISODES
    dmcs_test_episodes: int = dmcs.DEFAULT_TEST_EPISODES
    dmcs_episode_length: int = dmcs.DEFAULT_EPISODE_LENGTH
    strategy: str = "default"
    devices: list[str] | None = None
    mixed_precision: str = "float32"
    micro_batch_size: int = 0


def check_strategy(name: str, devices: list[str] | None = None) -> None:
    """Raises StrategyError unless `--strategy=name` with `--devices=devices` can be made.

    What TensorFlow alone can tell (whether the devices exist) is left to
    `distribute.make_strategy`.

    Args:
        name: the strategy, one of `STRATEGIES`.
        devices: the replicas' devices, for "mirrored" only.

    Raises:
        StrategyError: unknown name, devices given for another strategy, or,
            for "multi_worker", a missing or malformed TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"--strategy={name} is not one of {', '.join(STRATEGIES)}.")
    if devices and name != "mirrored":
        raise StrategyError(
            f"--devices applies to --strategy=mirrored only, not --strategy={name}."
        )
    if name == "multi_worker":
        _check_tf_config()


def _check_tf_config() -> None:
    """Raises StrategyError unless TF_CONFIG names a cluster and this worker's task in it."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise StrategyError(
            "--strategy=multi_worker reads the cluster from the TF_CONFIG environment "
            'variable, which is not set (e.g. {"cluster": {"worker": ["host1:port", '
            '"host2:port"]}, "task": {"type": "worker", "index": 0}}).'
        )
    try:
        tf_config = json.loads(text)
        task = tf_config["task"]
        addresses = tf_config["cluster"][task["type"]]
        addresses[int(task["index"])]
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise StrategyError(
            f"TF_CONFIG={text!r} does not name a cluster and this worker's task in it "
            f"({type(error).__name__}: {error})."
        ) from error
