r"""FLOPs of a training step by part, step time, peak memory and the fraction of the floor.

For every --presets preset at each --batch_sizes (default: the preset's own),
prints the FLOPs of one training step (forward and backward) by part, counted
by hand from the layer shapes (video_structure/flops.py states the rules);
--profiler adds TF's profiler count of the same step beside it (it traces the
step: about a minute for dmcs). Then, unless --flops_only, the machine's
measured conv2d and matmul FLOP/s and, for every combination of --onednn
(TF_ENABLE_ONEDNN_OPTS, which must be set before TensorFlow is imported) and
--xla (jit_compile) and --precisions (dtype policy), the measured step time, each
in a fresh subprocess, and the fraction of the floor: (FLOPs / the larger FLOP/s
measured in the policy's compute dtype) / step time.

    python benchmarks/train_step.py --flops_only            # the counts, no TensorFlow
    python benchmarks/train_step.py --presets=dmcs --batch_sizes=32,8 --onednn=1,0 --xla=0,1
    python benchmarks/train_step.py --presets=dmcs --batch_sizes=32 --micro_batch_sizes=0,8
    python benchmarks/train_step.py --presets=dmcs --batch_sizes=8 \
        --precisions=float32,mixed_bfloat16,float32,mixed_bfloat16 \
        --layers_per_scale=2 --latent_size=16 --prior_net_size=128 --num_bom_samples=10
    python benchmarks/train_step.py --presets=dmcs_cpu --parts   # where the time goes
    python benchmarks/train_step.py --presets=synthetic --batch_sizes=2 --warmup_steps=1 \
        --timed_steps=1                                     # a quick check

Every hyperparameter flag of train.py (--layers_per_scale=2, ...) changes every
preset measured. Step times exclude the warm-up (tracing, compiling) steps, whose first ends the
printed seconds after the measuring process's launch; peak memory is the
process's maximum resident set size (host memory), or the GPU's peak where one
is used.
"""

import itertools
import os

import train_speed
from absl import app, flags

from video_structure import cli, flops, run_options
from video_structure import config as config_lib

flags.DEFINE_list("presets", list(config_lib.PRESETS), "Hyperparameter presets to count and time.")
flags.DEFINE_list("batch_sizes", [], "Batch sizes; default each preset's own.")
flags.DEFINE_list("onednn", ["1"], "TF_ENABLE_ONEDNN_OPTS values to measure (0 or 1).")
flags.DEFINE_list("xla", ["0"], "jit_compile values to measure (0 or 1).")
flags.DEFINE_list(
    "micro_batch_sizes",
    ["0"],
    "micro_batch_size values to measure (train.py --micro_batch_size; 0: the whole batch).",
)
flags.DEFINE_list(
    "precisions",
    ["float32"],
    "Dtype policies to measure (train.py --mixed_precision): "
    + ", ".join(run_options.POLICIES)
    + ".",
)
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (tracing, compilation).", lower_bound=1)
flags.DEFINE_integer("timed_steps", 5, "Timed steps.", lower_bound=1)
flags.DEFINE_integer(
    "throughput_repeats", 10, "Timed calls of the conv2d and matmul benchmarks.", lower_bound=1
)
flags.DEFINE_bool("flops_only", False, "Print the FLOP counts only; time nothing.")
flags.DEFINE_bool("profiler", False, "Also count the FLOPs with TF's profiler, by part.")
flags.DEFINE_bool(
    "parts",
    False,
    "Also time each part's forward and backward pass alone (train_speed.parts), with its "
    "FLOPs and fraction of the floor: where a step's time goes.",
)
# --batch_sizes sets batch_size.
cli.define_hyperparameter_flags(skip=("batch_size",))
flags.adopt_module_key_flags(cli)  # For --help.
FLAGS = flags.FLAGS


def _check_flags():
    unknown = sorted(set(FLAGS.presets) - set(config_lib.PRESETS))
    if unknown:
        raise app.UsageError(
            f"--presets: unknown {', '.join(unknown)}; choose from {', '.join(config_lib.PRESETS)}."
        )
    for name in ("onednn", "xla"):
        if set(FLAGS[name].value) - {"0", "1"}:
            raise app.UsageError(f"--{name} takes 0 and 1, not {','.join(FLAGS[name].value)}.")
    unknown = sorted(set(FLAGS.precisions) - set(run_options.POLICIES))
    if unknown:
        raise app.UsageError(
            f"--precisions: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(run_options.POLICIES)}."
        )
    if not all(size.isdigit() and int(size) > 0 for size in FLAGS.batch_sizes):
        raise app.UsageError(f"--batch_sizes must be positive integers: {FLAGS.batch_sizes}.")
    if not all(size.isdigit() for size in FLAGS.micro_batch_sizes):
        raise app.UsageError(
            f"--micro_batch_sizes must be integers >= 0: {FLAGS.micro_batch_sizes}."
        )


def _with_step(counts):
    """`counts` with a "step" row: the sum of the parts' forward and backward FLOPs."""
    step = {
        name: sum(passes[name] for passes in counts.values()) for name in ("forward", "backward")
    }
    return {**counts, "step": step}


def _print_counts(counts, profiled):
    """The table of FLOPs by part, in GFLOP, with the profiler's beside it if given."""
    columns = ["part", "forward", "backward", "total", "share"]
    if profiled:
        columns += ["profiler forward", "profiler backward"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    rows = _with_step(counts)
    theirs = _with_step(profiled["parts"]) if profiled else {}
    for part, passes in rows.items():
        total = sum(passes.values())
        cells = [part, passes["forward"], passes["backward"], total]
        cells = [f"{c / 1e9:.4g}" if isinstance(c, float) else c for c in cells]
        cells.append(f"{total / flops.total(counts):.1%}")
        if profiled:
            cells += [f"{theirs[part][n] / 1e9:.4g}" if part in theirs else "-" for n in passes]
        print("| " + " | ".join(cells) + " |")


def main(argv):
    del argv
    _check_flags()
    if FLAGS.profiler:
        cli.start_tensorflow()  # In this process, for flops.profiled.
    peaks = {}  # {(onednn, compute dtype): {op: FLOP/s}}
    # --parts times float32 steps.
    policies = FLAGS.precisions + (["float32"] if FLAGS.parts else [])
    dtypes = dict.fromkeys(run_options.compute_dtype(name) for name in policies)
    if not FLAGS.flops_only:
        for onednn, dtype in itertools.product(FLAGS.onednn, dtypes):
            peak = peaks[onednn, dtype] = train_speed.measure_in_subprocess(
                {"repeats": FLAGS.throughput_repeats, "dtype": dtype}, onednn, job="throughput"
            )
            print(
                f"onednn={onednn} {dtype}: conv2d {peak['conv2d'] / 1e9:.1f} GFLOP/s, matmul "
                f"{peak['matmul'] / 1e9:.1f} GFLOP/s (best of {FLAGS.throughput_repeats}); "
                f"{os.cpu_count()} CPUs",
                flush=True,
            )
    overrides = cli.hyperparameter_overrides(skip=("batch_size",))
    for preset in FLAGS.presets:
        batch_sizes = [int(size) for size in FLAGS.batch_sizes] or [
            config_lib.PRESETS[preset].batch_size
        ]
        for batch_size in batch_sizes:
            try:
                config = config_lib.get_preset(preset, batch_size=batch_size, **overrides)
            except ValueError as error:
                raise app.UsageError(str(error)) from None
            counts = flops.training_step(config)
            step_flops = flops.total(counts)
            print(
                f"\npreset={preset} batch={batch_size}: {flops.parameters(config):,} parameters, "
                f"{step_flops:.4g} FLOPs per training step (GFLOP by part, by hand"
                + (", and TF's profiler, which counts no optimizer)" if FLAGS.profiler else ")")
            )
            _print_counts(counts, flops.profiled(config) if FLAGS.profiler else None)
            if FLAGS.flops_only:
                continue
            combinations = itertools.product(
                FLAGS.onednn, FLAGS.xla, FLAGS.micro_batch_sizes, FLAGS.precisions
            )
            for onednn, xla, micro, precision in combinations:
                peak = peaks[onednn, run_options.compute_dtype(precision)]
                settings = {
                    "overrides": overrides,
                    "xla": xla == "1",
                    "micro_batch_size": int(micro),
                    "precision": precision,
                }
                _time(preset, batch_size, onednn, settings, step_flops, peak)
            if FLAGS.parts:
                for onednn in FLAGS.onednn:
                    peak = peaks[onednn, "float32"]
                    _time_parts(preset, batch_size, onednn, overrides, counts, peak)


def _time(preset, batch_size, onednn, settings, step_flops, peak):
    """Measures one combination in a fresh process and prints its line.

    `settings` holds the combination's "overrides", "xla", "micro_batch_size"
    and "precision" (`train_speed.measure`'s).
    """
    settings = {
        **settings,
        "preset": preset,
        "batch_size": batch_size,
        "warmup_steps": FLAGS.warmup_steps,
        "timed_steps": FLAGS.timed_steps,
    }
    line = (
        f"onednn={onednn} xla={int(settings['xla'])} "
        f"micro_batch_size={settings['micro_batch_size']} {settings['precision']}, "
        f"{FLAGS.timed_steps} steps after {FLAGS.warmup_steps}: "
    )
    try:
        numbers = train_speed.measure_in_subprocess(settings, onednn)
    except RuntimeError as error:
        print(line + "FAILED: " + str(error).splitlines()[-1], flush=True)
        return
    seconds = 1 / numbers["steps_per_s"]
    print(
        line + f"{seconds:.3f} s/step, {numbers['steps_per_s'] * batch_size:.2f} sequences/s, "
        f"peak {numbers['peak_mib']:.0f} MiB ({numbers['device']}), first step done "
        f"{numbers['first_step_s']:.0f} s after launch; "
        f"{step_flops / seconds / 1e9:.1f} GFLOP/s, "
        f"{train_speed.floor_fraction(step_flops, peak, seconds):.1%} of the floor",
        flush=True,
    )


def _time_parts(preset, batch_size, onednn, overrides, counts, peak):
    """Times the parts in a fresh process and prints their table."""
    settings = {
        "preset": preset,
        "batch_size": batch_size,
        "overrides": overrides,
        "xla": False,
        "warmup_steps": FLAGS.warmup_steps,
        "timed_steps": FLAGS.timed_steps,
    }
    try:
        seconds = train_speed.measure_in_subprocess(settings, onednn, job="parts")
    except RuntimeError as error:
        print(f"parts, onednn={onednn}: FAILED: " + str(error).splitlines()[-1], flush=True)
        return
    whole = seconds["losses and gradients"]
    print(f"\nparts alone, onednn={onednn}, forward and backward, median of {FLAGS.timed_steps}:")
    print("| part | GFLOP | s | GFLOP/s | fraction of the floor | share of losses and gradients |")
    print("|---|---|---|---|---|---|")
    no_optimizer = {part: passes for part, passes in counts.items() if part != "optimizer"}
    rows = {part: sum(no_optimizer[part].values()) for part in seconds if part in no_optimizer}
    rows["losses and gradients"] = flops.total(no_optimizer)
    for part, part_flops in rows.items():
        time = seconds[part]
        print(
            f"| {part} | {part_flops / 1e9:.4g} | {time:.3f} | {part_flops / time / 1e9:.1f} | "
            f"{train_speed.floor_fraction(part_flops, peak, time):.1%} | {time / whole:.1%} |"
        )
    rest = whole - sum(seconds[part] for part in rows if part != "losses and gradients")
    print(f"| the rest (losses, schedules, overhead) | | {rest:.3f} | | | {rest / whole:.1%} |")


if __name__ == "__main__":
    cli.run(main)
