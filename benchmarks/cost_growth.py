r"""How a training step's time and peak memory grow with K, best of many, length and batch.

Starting from --preset (its own values, batch --base_batch_size), varies one
setting at a time: the number of keypoints K (--num_keypoints), the
best-of-many samples (--bom_samples), the observed + predicted steps
(--sequence_lengths, "T+dT") and the batch size (--batch_sizes). Each setting
runs in a fresh subprocess (train_speed.measure); the table gives its step
time, peak resident set size, FLOPs per step by hand (video_structure/flops.py)
and the fraction of the floor (FLOPs / the measured peak FLOP/s) / step time.
A setting equal to the preset's is measured once.

    python benchmarks/cost_growth.py                        # the issue's table (dmcs: long)
    python benchmarks/cost_growth.py --preset=synthetic --base_batch_size=2 \
        --num_keypoints=4,8 --bom_samples=1,10 --sequence_lengths=2+2 --batch_sizes= \
        --warmup_steps=1 --timed_steps=1                    # a quick check

An empty list leaves that setting out.
"""

import os

import train_speed
from absl import app, flags

from video_structure import cli, flops
from video_structure import config as config_lib

flags.DEFINE_string("preset", "dmcs", "Hyperparameter preset the settings vary from.")
flags.DEFINE_integer("base_batch_size", None, "Batch size of the base; default the preset's.")
flags.DEFINE_list("num_keypoints", ["12", "48", "64"], "Values of K.")
flags.DEFINE_list("bom_samples", ["1", "10", "50"], "Best-of-many samples.")
flags.DEFINE_list("sequence_lengths", ["8+8", "8+16", "8+32"], "Observed+predicted steps.")
flags.DEFINE_list("batch_sizes", ["8", "32"], "Batch sizes.")
flags.DEFINE_string("onednn", "1", "TF_ENABLE_ONEDNN_OPTS value (0 or 1).")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps (tracing, compilation).", lower_bound=1)
flags.DEFINE_integer("timed_steps", 3, "Timed steps per setting.", lower_bound=1)
FLAGS = flags.FLAGS


def _integers(name):
    values = FLAGS[name].value
    if not all(value.isdigit() and int(value) > 0 for value in values):
        raise app.UsageError(f"--{name} must be positive integers: {','.join(values)}.")
    return [int(value) for value in values]


def _settings():
    """[(setting name, value shown, {hyperparameter: value})], in the table's order."""
    rows = [("K", k, {"num_keypoints": k}) for k in _integers("num_keypoints")]
    rows += [("best of", n, {"num_bom_samples": n}) for n in _integers("bom_samples")]
    for length in FLAGS.sequence_lengths:
        observed, _, predicted = length.partition("+")
        if not (observed.isdigit() and predicted.isdigit() and int(observed) and int(predicted)):
            raise app.UsageError(f"--sequence_lengths takes T+dT, e.g. 8+16, not {length!r}.")
        overrides = {"observed_steps": int(observed), "predicted_steps": int(predicted)}
        rows.append(("T+dT", length, overrides))
    rows += [("batch", b, {"batch_size": b}) for b in _integers("batch_sizes")]
    return rows


def main(argv):
    del argv
    if FLAGS.preset not in config_lib.PRESETS:
        raise app.UsageError(
            f"--preset={FLAGS.preset} is unknown; choose from {', '.join(config_lib.PRESETS)}."
        )
    if FLAGS.onednn not in ("0", "1"):
        raise app.UsageError(f"--onednn takes 0 or 1, not {FLAGS.onednn!r}.")
    base = config_lib.get_preset(FLAGS.preset)
    if FLAGS.base_batch_size:
        base = base.replace(batch_size=FLAGS.base_batch_size)
    rows = []
    for name, shown, overrides in _settings():
        try:
            config = base.replace(**overrides)
        except ValueError as error:
            raise app.UsageError(f"{name}={shown}: {error}") from error
        rows.append((name, shown, config))
    peak = train_speed.measure_in_subprocess({"repeats": 10}, FLAGS.onednn, job="throughput")
    print(
        f"preset={FLAGS.preset} (batch {base.batch_size}), one setting varied at a time; "
        f"{FLAGS.timed_steps} timed steps after {FLAGS.warmup_steps}, onednn={FLAGS.onednn}, "
        f"{os.cpu_count()} CPUs; peak conv2d {peak['conv2d'] / 1e9:.1f}, matmul "
        f"{peak['matmul'] / 1e9:.1f} GFLOP/s"
    )
    print("| setting | value | s/step | peak RSS MiB | GFLOP/step | fraction of the floor |")
    print("|---|---|---|---|---|---|")
    measured = {}
    for name, shown, config in rows:
        if config not in measured:
            measured[config] = _measure(config)
        numbers = measured[config]
        step_flops = flops.total(flops.training_step(config))
        if numbers is None:
            cells = ["FAILED", "-", f"{step_flops / 1e9:.4g}", "-"]
        else:
            seconds = 1 / numbers["steps_per_s"]
            cells = [
                f"{seconds:.3f}",
                f"{numbers['peak_mib']:.0f}",
                f"{step_flops / 1e9:.4g}",
                f"{train_speed.floor_fraction(step_flops, peak, seconds):.1%}",
            ]
        print(f"| {name} | {shown} | " + " | ".join(cells) + " |", flush=True)


def _measure(config):
    """`train_speed.measure` of `config` in a fresh process; None if it failed (printed)."""
    overrides = {
        name: getattr(config, name)
        for name in ("num_keypoints", "num_bom_samples", "observed_steps", "predicted_steps")
    }
    settings = {
        "preset": FLAGS.preset,
        "batch_size": config.batch_size,
        "xla": False,
        "warmup_steps": FLAGS.warmup_steps,
        "timed_steps": FLAGS.timed_steps,
        "overrides": overrides,
    }
    try:
        return train_speed.measure_in_subprocess(settings, FLAGS.onednn)
    except RuntimeError as error:
        print(f"{overrides}: {str(error).splitlines()[-1]}", flush=True)
        return None


if __name__ == "__main__":
    cli.run(main)
