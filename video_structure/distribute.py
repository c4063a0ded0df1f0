"""Training on several devices and machines through TensorFlow's own engine, tf.distribute.

`--strategy` of train.py picks one of `run_options.STRATEGIES`:

* "default": one device, TensorFlow's default strategy.
* "mirrored": `tf.distribute.MirroredStrategy` over every local GPU, or over
  the devices named by `--devices` (CPU devices beyond the physical ones are
  made logical CPU devices, which is how the tests and the benchmarks run two
  replicas on one CPU).
* "multi_worker": `tf.distribute.MultiWorkerMirroredStrategy`; the cluster and
  this worker's place in it come from the TF_CONFIG environment variable.

`--batch_size` is the global batch, which the input pipeline splits between
the replicas. Each replica's loss terms are means over its share; the
gradient of the global-batch mean is the sum over replicas of 1/R of each
replica's gradient (`global_gradients`). Only the chief writes the run
directory; the other workers write what must be written on every worker (a
checkpoint or an export may run collective ops) to a temporary directory that
is deleted (`worker_dir`).
"""

import contextlib
import os
import re
import shutil
import tempfile

import tensorflow as tf

from video_structure import run_options

_CPU_DEVICE = re.compile(r"^(/job:localhost/replica:0/task:0/)?(/?device:)?CPU:(\d+)$", re.I)


def make_strategy(name: str, devices: list[str] | None = None) -> tf.distribute.Strategy:
    """The tf.distribute strategy of `--strategy=name`.

    Args:
        name: one of `run_options.STRATEGIES`.
        devices: "mirrored" only: the devices of the replicas, e.g. ["GPU:0",
            "GPU:1"] or ["CPU:0", "CPU:1"]; None: every local GPU (or the CPU).
            Asking for CPU:n beyond the physical CPUs splits the CPU into n + 1
            logical devices, which must happen before TensorFlow has created
            its devices.

    Returns:
        The strategy.

    Raises:
        run_options.StrategyError: as `run_options.check_strategy`, or logical
            CPUs asked for after TensorFlow made its devices.
    """
    run_options.check_strategy(name, devices)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices:
            _make_logical_cpus(devices)
        return tf.distribute.MirroredStrategy(devices or None)
    return tf.distribute.MultiWorkerMirroredStrategy()


def _make_logical_cpus(devices: list[str]) -> None:
    """Splits the CPU into as many logical devices as the highest CPU:n of `devices` needs."""
    indices = [int(m.group(3)) for m in map(_CPU_DEVICE.match, devices) if m]
    needed = max(indices, default=-1) + 1
    cpus = tf.config.list_physical_devices("CPU")
    if needed <= len(cpus):
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * needed
        )
    except RuntimeError as error:
        raise run_options.StrategyError(
            f"--devices={','.join(devices)} needs {needed} logical CPU devices, but "
            "TensorFlow has made its devices already; choose the devices before anything runs."
        ) from error


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory (`chief_task`); True on one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return chief_task(resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict())


def chief_task(task_type: str, task_id: int, cluster: dict) -> bool:
    """Whether a task of TF_CONFIG is the chief: the "chief" task, else worker 0."""
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0


@contextlib.contextmanager
def worker_dir(path: str, chief: bool):
    """`path` for the chief; for another worker a temporary directory, deleted afterwards.

    Every worker must take part in a checkpoint or an export, whose saving may
    run collective ops; only the chief's copy is kept.
    """
    if chief:
        yield path
        return
    temp = tempfile.mkdtemp(prefix="video_structure-worker-")
    try:
        yield os.path.join(temp, os.path.basename(path))
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def num_replicas() -> int:
    """Replicas training in sync under the current strategy (1 on one device)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_seed(seed: tf.Tensor) -> tf.Tensor:
    """A [2] int32 stateless seed of this replica's own random stream.

    On one device (and outside a replica context) `seed` itself, so a
    one-device run draws what it always drew;
    with R replicas `seed` folded with the replica's index, so that the
    replicas' shares of the batch get independent draws (best of many,
    scheduled sampling) as the sequences of one batch do on one device.
    """
    context = tf.distribute.get_replica_context()
    # No replica context: the cross-replica code that builds the model.
    if num_replicas() == 1 or context is None:
        return seed
    return tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)


def global_gradients(gradients: list[tf.Tensor]) -> list[tf.Tensor]:
    """The global batch's gradients, divided by the number of replicas R.

    Each replica's loss is already scaled by 1/R, so the sum over replicas
    is the gradient of the global-batch mean. Keras' optimizers sum the
    replicas' gradients only after clipping them, each replica's partial
    gradient alone; summing here first lets the optimizer clip the global
    gradient. The optimizer sums again, hence the 1/R, and it clips at
    clipnorm / R (`optimizers.make_optimizer`): clip(G / R, c / R) = clip(G, c) / R
    for per-variable norm clipping, so its sum is clip(G, c), one device's
    update. On one device the gradients are returned unchanged.
    """
    replicas = num_replicas()
    context = tf.distribute.get_replica_context()
    if replicas == 1 or context is None:
        return gradients
    present = [g for g in gradients if g is not None]
    summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
    return [None if g is None else next(summed) / replicas for g in gradients]


def reducible_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A step's scalar logs as fit() can reduce them under every strategy.

    Keras 3 reduces the logs of a step on several workers with
    `strategy.reduce(MEAN, log, axis=0)`, which rejects scalars
    (tensorflow/tensorflow#72388); as [1] vectors they reduce to the scalars
    they are. Elsewhere the logs are returned unchanged.
    """
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    cluster = strategy.cluster_resolver.cluster_spec()
    if sum(cluster.num_tasks(job) for job in cluster.jobs if job in ("chief", "worker")) < 2:
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` sharded by element across workers.

    Our pipelines are generated or read by tf.numpy_function, not from files
    tf.data could split between workers: each worker runs the whole pipeline
    and keeps its part of every global batch. Saying so explicitly replaces
    tf.data's attempt to shard by file and its warning when that fails.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
