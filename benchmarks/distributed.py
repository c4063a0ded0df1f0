r"""Step time and peak memory per tf.distribute strategy and per precision on this machine.

    python benchmarks/distributed.py                        # the table below
    python benchmarks/distributed.py --preset=dmcs --batch_size=32 --repeats=1

Every combination of --strategies (default: one device; mirrored: two
logical CPU devices, or --devices) and --precisions runs in a fresh process
(train_speed.measure); the rounds alternate between the combinations, so a
change in the machine's load spreads over all of them, and the table gives the
median over rounds of the seconds per step and the largest peak resident set
size. On a CPU two replicas share the same cores: the table shows what
distribution and mixed precision cost, not a speed-up. Last, the FLOPs of one
training step of --flops_preset at --flops_batch_size, counted by TF's
profiler (flops.profiled), for README's "Training at the
paper's scale".
"""

import itertools
import os
import statistics

import train_speed
from absl import app, flags

from video_structure import cli, flops
from video_structure import config as config_lib

flags.DEFINE_list("strategies", ["default", "mirrored"], "Strategies to measure.")
flags.DEFINE_list("devices", ["CPU:0", "CPU:1"], "Devices of the mirrored strategy.")
flags.DEFINE_list(
    "precisions", ["float32", "mixed_bfloat16", "mixed_float16"], "Dtype policies to measure."
)
flags.DEFINE_string("preset", "synthetic", "Hyperparameter preset.")
flags.DEFINE_integer("batch_size", 16, "Global batch size.", lower_bound=1)
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (tracing).", lower_bound=1)
flags.DEFINE_integer("timed_steps", 5, "Timed steps per run.", lower_bound=1)
flags.DEFINE_integer("repeats", 2, "Alternating rounds over the combinations.", lower_bound=1)
flags.DEFINE_string("flops_preset", "dmcs", "Preset whose training step's FLOPs are counted.")
flags.DEFINE_integer("flops_batch_size", 32, "Batch size of the FLOP count.", lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    combinations = list(itertools.product(FLAGS.strategies, FLAGS.precisions))
    seconds = {c: [] for c in combinations}
    peaks = {c: [] for c in combinations}
    for _ in range(FLAGS.repeats):
        for strategy, precision in combinations:
            settings = {
                "preset": FLAGS.preset,
                "batch_size": FLAGS.batch_size,
                "xla": False,
                "warmup_steps": FLAGS.warmup_steps,
                "timed_steps": FLAGS.timed_steps,
                "strategy": strategy,
                "devices": FLAGS.devices if strategy == "mirrored" else None,
                "precision": precision,
            }
            numbers = train_speed.measure_in_subprocess(settings)
            seconds[strategy, precision].append(1 / numbers["steps_per_s"])
            peaks[strategy, precision].append(numbers["peak_mib"])
    print(
        f"preset={FLAGS.preset}, global batch {FLAGS.batch_size}, {FLAGS.timed_steps} timed "
        f"steps after {FLAGS.warmup_steps}, median of {FLAGS.repeats} alternating runs, "
        f"{os.cpu_count()} CPUs; mirrored over {','.join(FLAGS.devices)}"
    )
    print("| strategy | precision | s/step | peak RSS MiB |")
    print("|---|---|---|---|")
    for strategy, precision in combinations:
        print(
            f"| {strategy} | {precision} | {statistics.median(seconds[strategy, precision]):.3f} "
            f"| {max(peaks[strategy, precision]):.0f} |",
            flush=True,
        )
    cli.start_tensorflow()  # In this process, for flops.profiled.
    config = config_lib.get_preset(FLAGS.flops_preset, batch_size=FLAGS.flops_batch_size)
    counts = flops.profiled(config)
    forward = sum(passes["forward"] for passes in counts["parts"].values())
    print(
        f"FLOPs per training step, preset {FLAGS.flops_preset}, batch {FLAGS.flops_batch_size}: "
        f"{flops.total(counts['parts']):.3e} (forward {forward:.3e}, "
        f"{counts['parameters']:,.0f} parameters)"
    )


if __name__ == "__main__":
    app.run(main)
