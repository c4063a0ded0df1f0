r"""Training speed and peak memory of the dmcs preset on this machine.

Runs every combination of batch size, oneDNN (TF_ENABLE_ONEDNN_OPTS, which
must be set before TensorFlow is imported) and XLA (jit_compile) in a fresh
subprocess and prints one line each:

    python benchmarks/train_step.py                 # all combinations
    python benchmarks/train_step.py --batch_sizes=8 --onednn=1 --xla=0

Steps/s excludes the first (tracing/compiling) steps; peak memory is the
process's maximum resident set size (host memory), or the GPU's peak where
one is used.
"""

import itertools
import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

flags.DEFINE_list("batch_sizes", ["32", "8"], "Batch sizes to measure.")
flags.DEFINE_list("onednn", ["1", "0"], "TF_ENABLE_ONEDNN_OPTS values to measure.")
flags.DEFINE_list("xla", ["0", "1"], "jit_compile values to measure (0 or 1).")
flags.DEFINE_string("preset", "dmcs", "Hyperparameter preset.")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (tracing, compilation).")
flags.DEFINE_integer("timed_steps", 5, "Timed steps.")
flags.DEFINE_string("worker", None, "Internal: JSON settings of one measurement.")
FLAGS = flags.FLAGS


def measure(settings):
    """Runs in the subprocess: times train steps of one setting."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf

    from video_structure import config as config_lib
    from video_structure import model as model_lib

    config = config_lib.get_preset(settings["preset"], batch_size=settings["batch_size"])
    model = model_lib.StructVRNN(config)
    model.compile(optimizer=model_lib.make_optimizer(config), jit_compile=settings["xla"])
    model.build_all()
    rng = np.random.default_rng(0)
    shape = [config.batch_size, config.sequence_length, config.image_size, config.image_size,
             config.image_channels]
    data = tf.data.Dataset.from_tensors(
        {"frames": rng.uniform(size=shape).astype(np.float32)}).repeat()
    model.fit(data, epochs=1, steps_per_epoch=settings["warmup_steps"], verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=settings["timed_steps"], verbose=0)
    seconds = time.perf_counter() - start
    gpus = tf.config.list_physical_devices("GPU")
    peak = (tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20 if gpus
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10)
    return {"steps_per_s": settings["timed_steps"] / seconds, "peak_mib": peak,
            "device": "GPU" if gpus else "CPU"}


def main(argv):
    del argv
    if FLAGS.worker:
        print(json.dumps(measure(json.loads(FLAGS.worker))))
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"preset={FLAGS.preset}, {FLAGS.timed_steps} timed steps after "
          f"{FLAGS.warmup_steps} warm-up steps, {os.cpu_count()} CPUs")
    for batch_size, onednn, xla in itertools.product(FLAGS.batch_sizes, FLAGS.onednn, FLAGS.xla):
        settings = {"preset": FLAGS.preset, "batch_size": int(batch_size), "xla": xla == "1",
                    "warmup_steps": FLAGS.warmup_steps, "timed_steps": FLAGS.timed_steps}
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=root)
        result = subprocess.run([sys.executable, __file__, f"--worker={json.dumps(settings)}"],
                                capture_output=True, text=True, env=env)
        line = f"batch={batch_size:>3} onednn={onednn} xla={xla}: "
        if result.returncode:
            print(line + "FAILED: " + result.stderr.strip().splitlines()[-1], flush=True)
            continue
        numbers = json.loads(result.stdout.strip().splitlines()[-1])
        print(line + f"{numbers['steps_per_s']:.3f} steps/s, "
              f"{numbers['steps_per_s'] * int(batch_size):.1f} sequences/s, peak "
              f"{numbers['peak_mib']:.0f} MiB ({numbers['device']})", flush=True)


if __name__ == "__main__":
    app.run(main)
