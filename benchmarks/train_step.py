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
import os

import train_speed
from absl import app, flags

flags.DEFINE_list("batch_sizes", ["32", "8"], "Batch sizes to measure.")
flags.DEFINE_list("onednn", ["1", "0"], "TF_ENABLE_ONEDNN_OPTS values to measure.")
flags.DEFINE_list("xla", ["0", "1"], "jit_compile values to measure (0 or 1).")
flags.DEFINE_string("preset", "dmcs", "Hyperparameter preset.")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (tracing, compilation).")
flags.DEFINE_integer("timed_steps", 5, "Timed steps.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    print(
        f"preset={FLAGS.preset}, {FLAGS.timed_steps} timed steps after "
        f"{FLAGS.warmup_steps} warm-up steps, {os.cpu_count()} CPUs"
    )
    for batch_size, onednn, xla in itertools.product(FLAGS.batch_sizes, FLAGS.onednn, FLAGS.xla):
        settings = {
            "preset": FLAGS.preset,
            "batch_size": int(batch_size),
            "xla": xla == "1",
            "warmup_steps": FLAGS.warmup_steps,
            "timed_steps": FLAGS.timed_steps,
        }
        line = f"batch={batch_size:>3} onednn={onednn} xla={xla}: "
        try:
            numbers = train_speed.measure_in_subprocess(settings, onednn)
        except RuntimeError as error:
            print(line + "FAILED: " + str(error).splitlines()[-1], flush=True)
            continue
        print(
            line + f"{numbers['steps_per_s']:.3f} steps/s, "
            f"{numbers['steps_per_s'] * int(batch_size):.1f} sequences/s, peak "
            f"{numbers['peak_mib']:.0f} MiB ({numbers['device']})",
            flush=True,
        )


if __name__ == "__main__":
    app.run(main)
