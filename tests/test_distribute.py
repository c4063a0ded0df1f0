"""tf.distribute training: one step on two replicas equals one step on one device.

Two replicas on one CPU: "mirrored" over two logical CPU devices (a fresh
process, as logical devices must exist before TensorFlow makes its devices)
and "multi_worker" as two worker processes on 127.0.0.1. Both train the
deterministic tiny model of tests/distributed_step.py one step on the same
global batch as the one-device reference of this process, under the code's
normalisation, whose sparsity term divides by the (global) batch size.
"""

import json
import os
import socket
import subprocess
import sys

import distributed_step
import numpy as np
import pytest
import tensorflow as tf

from video_structure import distribute, run_options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "distributed_step.py")
NORMALIZATION = "code"


def start_step(strategy, out, *args, tf_config=None):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    command = [sys.executable, SCRIPT, strategy, NORMALIZATION, "1", str(out), *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process, out, timeout=300):
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-3000:]
    return dict(np.load(out))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def assert_same_step(result, reference, name):
    """Same start, weights within float tolerance after the step, which moved them."""
    weights = [key for key in reference if key.startswith("after/")]
    for key in weights:
        start = key.replace("after/", "before/")
        np.testing.assert_array_equal(result[start], reference[start], err_msg=f"{name} {start}")
        # Adam's first step moves each weight by about the learning rate, 1e-3;
        # summing the gradients in another order differs by float32 rounding.
        np.testing.assert_allclose(
            result[key], reference[key], rtol=1e-5, atol=1e-6, err_msg=f"{name} {key}"
        )
    moved = max(
        np.abs(reference[k] - reference[k.replace("after/", "before/")]).max() for k in weights
    )
    assert moved > 5e-4
    for key in (k for k in reference if k.startswith("log/")):
        np.testing.assert_allclose(result[key], reference[key], rtol=1e-5, err_msg=f"{name} {key}")


@pytest.mark.slow
def test_two_replicas_take_one_devices_step(tmp_path):
    mirrored_out = tmp_path / "mirrored.npz"
    mirrored = start_step("mirrored", mirrored_out, "CPU:0,CPU:1")
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = [
        start_step(
            "multi_worker",
            tmp_path / f"worker{i}.npz",
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    ]
    # The one-device reference, while the others run.
    reference = distributed_step.one_step("default", NORMALIZATION, eager=True)
    results = {"mirrored": finish(mirrored, mirrored_out)}
    for i, worker in enumerate(workers):
        results[f"worker{i}"] = finish(worker, tmp_path / f"worker{i}.npz")
    for name, result in results.items():
        assert_same_step(result, reference, name)
    # Each replica draws its own random stream, as the sequences of one batch do.
    mirrored_seeds = results["mirrored"]["seeds"]
    assert mirrored_seeds.shape == (2, 2) and not np.array_equal(*mirrored_seeds)
    np.testing.assert_array_equal(reference["seeds"], [[1, 2]])


def test_bad_strategies_are_refused_before_tensorflow_makes_them():
    # The checks are run_options.check_strategy's (tests/test_run_options.py).
    with pytest.raises(run_options.StrategyError, match="--devices applies to --strategy=mirrored"):
        distribute.make_strategy("default", ["CPU:0"])


def test_logical_cpus_cannot_be_made_once_tensorflow_runs():
    tf.constant(1.0)  # TensorFlow makes its devices.
    with pytest.raises(run_options.StrategyError, match="needs 3 logical CPU devices"):
        distribute.make_strategy("mirrored", ["CPU:0", "CPU:2"])


def test_one_device_is_the_chief():
    assert distribute.is_chief(distribute.make_strategy("default"))


@pytest.mark.parametrize(
    "task_type, task_id, cluster, chief",
    [
        ("worker", 0, {"worker": ["a:1", "b:1"]}, True),
        ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
        ("chief", 0, {"chief": ["a:1"], "worker": ["b:1"]}, True),
        ("worker", 0, {"chief": ["a:1"], "worker": ["b:1"]}, False),
    ],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(task_type, task_id, cluster, chief):
    assert distribute.chief_task(task_type, task_id, cluster) is chief


def test_the_chief_writes_in_place_other_workers_in_a_deleted_directory(tmp_path):
    run = str(tmp_path / "run")
    with distribute.worker_dir(run, chief=True) as path:
        assert path == run
    with distribute.worker_dir(run, chief=False) as path:
        assert os.path.basename(path) == "run" and not path.startswith(str(tmp_path))
        os.makedirs(os.path.join(path, "checkpoints"))
    assert not os.path.exists(os.path.dirname(path))
