"""Training steps/s of one setting, measured in a fresh process, and FLOPs per step.

Shared by benchmarks/train_step.py, benchmarks/input_pipeline.py and
benchmarks/distributed.py. A fresh process per measurement, because
TF_ENABLE_ONEDNN_OPTS and logical CPU devices only take effect before
TensorFlow is imported or has made its devices. Run directly, it measures the
JSON settings in argv[1] and prints the result as JSON.
"""

import json
import os
import resource
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(settings):
    """Times train steps of one setting in this process.

    Args:
        settings: {"preset": str, "batch_size": int, "xla": bool, "warmup_steps":
            int, "timed_steps": int, optionally "action_size": int (0: no
            actions), "strategy" and "devices" (`distribute.make_strategy`'s
            arguments) and "precision" (a `run_options.POLICIES` name)}.

    Returns:
        {"steps_per_s": float, "peak_mib": float, "device": "CPU" or "GPU"};
        steps/s excludes the warm-up (tracing, compiling) steps; peak memory is
        the process's maximum resident set size, or the GPU's peak where one is
        used.
    """
    import numpy as np
    import tensorflow as tf

    from video_structure import config as config_lib
    from video_structure import distribute, optimizers, precision
    from video_structure import model as model_lib

    strategy = distribute.make_strategy(
        settings.get("strategy", "default"), settings.get("devices")
    )
    policy = settings.get("precision", "float32")
    config = config_lib.get_preset(settings["preset"], batch_size=settings["batch_size"])
    action_size = settings.get("action_size", 0)
    with strategy.scope():
        with precision.policy(policy):
            model = model_lib.StructVRNN(config, action_size=action_size)
        optimizer = optimizers.make_optimizer(config, strategy.num_replicas_in_sync, policy)
        model.compile(optimizer=optimizer, jit_compile=settings["xla"])
        model.build_all()
        # Under a strategy, the optimizer's variables must exist before fit() traces.
        model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    batch = {
        "frames": rng.uniform(
            size=[
                config.batch_size,
                config.sequence_length,
                config.image_size,
                config.image_size,
                config.image_channels,
            ]
        ).astype(np.float32)
    }
    if action_size:
        batch["actions"] = rng.uniform(
            -1, 1, size=[config.batch_size, config.sequence_length, action_size]
        ).astype(np.float32)
    data = distribute.shard_by_data(tf.data.Dataset.from_tensors(batch).repeat())
    model.fit(data, epochs=1, steps_per_epoch=settings["warmup_steps"], verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=settings["timed_steps"], verbose=0)
    seconds = time.perf_counter() - start
    gpus = tf.config.list_physical_devices("GPU")
    peak = (
        tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        if gpus
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    )
    return {
        "steps_per_s": settings["timed_steps"] / seconds,
        "peak_mib": peak,
        "device": "GPU" if gpus else "CPU",
    }


def train_step_flops(preset: str, batch_size: int) -> dict[str, float]:
    """Floating-point operations of one training step, counted by TF's profiler.

    The profiler counts the graph of the loss and its gradients (the forward and
    backward passes; Adam's update adds ~10 operations per weight, negligible)
    from the registered FLOP statistics of each op: convolutions, matrix
    products and element-wise ops. A multiply-add counts as 2 operations.

    Returns:
        {"flops": per step, "forward_flops": the loss alone, "parameters"}.
    """
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    from video_structure import config as config_lib
    from video_structure import model as model_lib
    from video_structure import optimizers

    # The profiler's FLOP registry uses TF1 graph utilities and says so.
    tf.get_logger().setLevel("ERROR")
    config = config_lib.get_preset(preset, batch_size=batch_size)
    model = model_lib.StructVRNN(config)
    model.compile(optimizer=optimizers.make_optimizer(config))
    model.build_all()
    shape = [batch_size, config.sequence_length, config.image_size, config.image_size]
    spec = {"frames": tf.TensorSpec(shape + [config.image_channels], tf.float32)}

    def loss(batch):
        return model.compute_losses(batch, training=True)[0]

    def loss_and_gradients(batch):
        with tf.GradientTape() as tape:
            total = loss(batch)
        return total, tape.gradient(total, model.trainable_variables)

    def count(function):
        graph = tf.function(function).get_concrete_function(spec).graph
        options = option_builder.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        return model_analyzer.profile(graph, options=options).total_float_ops

    return {
        "flops": float(count(loss_and_gradients)),
        "forward_flops": float(count(loss)),
        "parameters": float(model.count_params()),
    }


def measure_in_subprocess(settings, onednn="1"):
    """Runs `measure(settings)` in a fresh Python process.

    Args:
        settings: as for `measure`.
        onednn: the TF_ENABLE_ONEDNN_OPTS value, "1" or "0".

    Returns:
        The dict of `measure`.

    Raises:
        RuntimeError: the measurement failed; the message ends with its stderr.
    """
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=_ROOT)
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode:
        raise RuntimeError(f"Measuring {settings} failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
