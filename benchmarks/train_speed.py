"""Training steps/s of one setting and this machine's FLOP/s, measured in a fresh process.

Shared by benchmarks/train_step.py, benchmarks/cost_growth.py,
benchmarks/input_pipeline.py and benchmarks/distributed.py. A fresh process
per measurement, because TF_ENABLE_ONEDNN_OPTS and logical CPU devices only
take effect before TensorFlow is imported or has made its devices. Run
directly, it runs the job in argv[1] ("train", "parts" or "throughput") on the JSON
settings in argv[2] and prints the result as JSON.
"""

import json
import os
import resource
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# conv2d: the detector's first-scale convolution of the dmcs preset on 32
# frames, [frames, size, size, channels] -> channels; matmul: its VRNN
# decoder's hidden layer over 50 samples x 32 sequences, [rows, inner] x
# [inner, columns].
_THROUGHPUT_SHAPES = {"conv2d": (32, 64, 32), "matmul": (1600, 640, 128)}


def measure(settings):
    """Times train steps of one setting in this process.

    Args:
        settings: {"preset": str, "batch_size": int, "xla": bool, "warmup_steps":
            int, "timed_steps": int, optionally "action_size": int (0: no
            actions), "strategy" and "devices" (`distribute.make_strategy`'s
            arguments), "precision" (a `run_options.POLICIES` name) and
            "overrides" ({hyperparameter: value} changes to the preset),
            "micro_batch_size" (`model.StructVRNN`'s)}.

    Returns:
        {"steps_per_s": float, "peak_mib": float, "device": "CPU" or "GPU",
        "first_step_end": time.time() at the end of the first step}; steps/s
        excludes the warm-up (tracing, compiling) steps; peak memory is the
        process's maximum resident set size, or the GPU's peak where one is
        used.
    """
    import keras
    import tensorflow as tf

    from video_structure import distribute

    class StepEnds(keras.callbacks.Callback):
        """Records when each step ends: (time.time(), time.perf_counter())."""

        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append((time.time(), time.perf_counter()))

    model, batch = _model_and_batch(settings)
    data = distribute.shard_by_data(tf.data.Dataset.from_tensors(batch).repeat())
    # One fit() for every step, timed between steps' ends: fit() can return
    # long after its last step, when deleting its input iterator waits for
    # tf.data's autotuning thread to wake (its period doubles from 10 ms), so
    # timing whole fit() calls measured 4 steps of 2.9 s as 20.5 s.
    steps = StepEnds()
    warmup = settings["warmup_steps"]
    model.fit(
        data,
        epochs=1,
        steps_per_epoch=warmup + settings["timed_steps"],
        callbacks=[steps],
        verbose=0,
    )
    first_step_end = steps.ends[0][0]
    seconds = steps.ends[-1][1] - steps.ends[warmup - 1][1]
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
        "first_step_end": first_step_end,
    }


def _model_and_batch(settings):
    """The compiled, built model of `settings` (as for `measure`) and a batch of uniform noise."""
    import numpy as np

    from video_structure import config as config_lib
    from video_structure import distribute, optimizers, precision
    from video_structure import model as model_lib

    strategy = distribute.make_strategy(
        settings.get("strategy", "default"), settings.get("devices")
    )
    policy = settings.get("precision", "float32")
    config = config_lib.get_preset(
        settings["preset"], batch_size=settings["batch_size"], **settings.get("overrides", {})
    )
    action_size = settings.get("action_size", 0)
    with strategy.scope():
        with precision.policy(policy):
            model = model_lib.StructVRNN(
                config,
                action_size=action_size,
                micro_batch_size=settings.get("micro_batch_size", 0),
            )
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
    return model, batch


def parts(settings):
    """Times the forward and backward pass of each part of a training step alone.

    Each part runs in its own tf.function on the inputs it gets in the step
    (detected keypoints, phi_app(v_1), the stop-gradient targets) and takes
    the gradient of the sum of its outputs with respect to its weights and
    to the inputs the step differentiates (the reconstructor's keypoints and
    appearance features): the arithmetic of the step's part, without the
    losses. "losses and gradients" is the whole of Eq. 9 and its gradient
    (`StructVRNN._loss_gradients`), the step without the optimizer; what it
    takes beyond the parts' sum is the losses, the schedules and the graph's
    overhead.

    Args:
        settings: as for `measure`, with "timed_steps" timed calls of each
            part after "warmup_steps" untimed ones.

    Returns:
        {part: median seconds per call} for detector, appearance,
        reconstructor, vrnn and "losses and gradients".
    """
    import numpy as np
    import tensorflow as tf

    from video_structure import dynamics

    model, batch = _model_and_batch(settings)
    config = model.config
    batch = {name: tf.constant(value) for name, value in batch.items()}
    frames = batch["frames"]
    keypoints, _ = model.detector(frames)  # [batch, time, K, 3]
    appearance = model.appearance(frames[:, 0])
    targets = tf.reshape(keypoints, [config.batch_size, config.sequence_length, -1])

    def gradient_of(outputs_fn, variables, inputs=()):
        with tf.GradientTape() as tape:
            tape.watch(list(inputs))
            outputs = tf.nest.flatten(outputs_fn())
            total = tf.add_n([tf.reduce_sum(output) for output in outputs])
        return tape.gradient(total, list(variables) + list(inputs))

    def vrnn():
        rollout = dynamics.unroll(
            model.vrnn,
            targets,
            config.observed_steps,
            config.sequence_length,
            tf.constant([0, 1]),
            num_samples=config.num_bom_samples,
            deterministic=config.deterministic_belief,
            sample_prob_observed=0.5,
            sample_prob_predicted=0.5,
        )
        return rollout.keypoints, rollout.kl

    calls = {
        "detector": lambda: gradient_of(
            lambda: model.detector(frames), model.detector.trainable_variables
        ),
        "appearance": lambda: gradient_of(
            lambda: model.appearance(frames[:, 0]), model.appearance.trainable_variables
        ),
        "reconstructor": lambda: gradient_of(
            lambda: model.reconstructor(keypoints, keypoints[:, 0], appearance, frames[:, 0]),
            model.reconstructor.trainable_variables,
            (keypoints, appearance),
        ),
        "vrnn": lambda: gradient_of(vrnn, model.vrnn.trainable_variables),
        "losses and gradients": lambda: model._loss_gradients(batch)[3],
    }
    result = {}
    for name, call in calls.items():
        function = tf.function(call)
        seconds = []
        for index in range(settings["warmup_steps"] + settings["timed_steps"]):
            start = time.perf_counter()
            tf.nest.map_structure(lambda tensor: tensor.numpy(), function())
            if index >= settings["warmup_steps"]:
                seconds.append(time.perf_counter() - start)
        result[name] = float(np.median(seconds))
    return result


def throughput(settings):
    """Measured FLOP/s of this process's convolution and matrix product.

    Times a 3x3 convolution and a matrix product of the dmcs preset's shapes
    (`_THROUGHPUT_SHAPES`); the best of the timed calls is the machine's
    throughput, the "floor" against which a training step is measured.

    Args:
        settings: {"repeats": timed calls of each op, after two untimed;
            optionally "dtype": the operands' dtype, default "float32"
            (a mixed-precision step computes in "bfloat16" or "float16")}.

    Returns:
        {"conv2d": FLOP/s, "matmul": FLOP/s}.
    """
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)
    dtype = settings.get("dtype", "float32")

    def uniform(shape):
        return tf.cast(rng.uniform(shape), dtype)

    frames, size, channels = _THROUGHPUT_SHAPES["conv2d"]
    images = uniform([frames, size, size, channels])
    kernel = uniform([3, 3, channels, channels])
    rows, inner, columns = _THROUGHPUT_SHAPES["matmul"]
    left, right = uniform([rows, inner]), uniform([inner, columns])
    ops = {
        "conv2d": (
            tf.function(lambda: tf.nn.conv2d(images, kernel, 1, "SAME")),
            2.0 * frames * size**2 * 9 * channels**2,
        ),
        "matmul": (tf.function(lambda: tf.matmul(left, right)), 2.0 * rows * inner * columns),
    }
    result = {}
    for name, (op, flops) in ops.items():
        seconds = []
        for call in range(2 + settings["repeats"]):
            start = time.perf_counter()
            op().numpy()
            if call >= 2:
                seconds.append(time.perf_counter() - start)
        result[name] = flops / min(seconds)
    return result


_JOBS = {"train": measure, "parts": parts, "throughput": throughput}


def floor_fraction(flops, flop_per_s, seconds_per_step):
    """The fraction of the floor a step reaches: (FLOPs / peak FLOP/s) / step time.

    Args:
        flops: FLOPs of the step.
        flop_per_s: `throughput`'s dict; its larger rate is the peak.
        seconds_per_step: the measured step time.
    """
    return flops / max(flop_per_s.values()) / seconds_per_step


def measure_in_subprocess(settings, onednn="1", job="train"):
    """Runs `measure(settings)` (or `throughput(settings)`) in a fresh Python process.

    Args:
        settings: as for `measure` or `throughput`.
        onednn: the TF_ENABLE_ONEDNN_OPTS value, "1" or "0".
        job: "train" (`measure`), "parts" (`parts`) or "throughput".

    Returns:
        The dict of `measure` (with "first_step_s", the seconds from the
        process's launch to the end of its first step), `parts` or `throughput`.

    Raises:
        RuntimeError: the measurement failed; the message ends with its stderr.
    """
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=_ROOT)
    launched = time.time()
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), job, json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode:
        raise RuntimeError(f"Measuring {settings} failed: {result.stderr.strip()[-2000:]}")
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    if "first_step_end" in numbers:
        numbers["first_step_s"] = numbers.pop("first_step_end") - launched
    return numbers


if __name__ == "__main__":
    print(json.dumps(_JOBS[sys.argv[1]](json.loads(sys.argv[2]))))
