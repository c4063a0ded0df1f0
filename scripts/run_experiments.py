r"""Trains and compares model variants as in the paper (Sections 5.1-5.5, S2).

    python scripts/run_experiments.py --variants=struct_vrnn,cnn_vrnn --seeds=0,1 \
        --dataset=synthetic --output_dir=runs/experiments

For every variant and seed, in output_dir/<variant>/seed<k>:

1. train.py (--variant, --seed, --steps, --batch_size, --data_dir and
   --train_flags); a run left unfinished resumes from its checkpoints, a run
   already at --steps with an export is not started again. Below the preset's
   num_steps, KL annealing and learning-rate decay are scaled to --steps
   (`experiments.runner.scaled_schedules`) unless --train_flags sets them; the
   values go to training.json with the trained step and the summed wall time.
2. `evaluation.run` (evaluate.py's job, in this process) into eval/ (no FVD
   when the sequences are shorter than I3D's 9 frames);
3. `experiments.collection.collect` on --task_sequences train and test
   sequences with --tracking_samples samples and `experiments.tasks.run_tasks`
   into tasks.json:
   tracking per domain (Figure 4; the regression fitted on detected keypoints
   unless --tracking_fit_on=samples), reward prediction (Figure 9) and action
   recognition with the domains as classes (Figure 8), each where the dataset
   has the arrays.

eval/metrics.json and tasks.json store, under "runner", the settings they
depend on, the trained step of the model and their wall time; a rerun reuses
them only when all of these match and training did not run.

Then output_dir holds results.md and results.csv (one row per variant and
seed plus the mean over seeds, with the wall times) and figure4_tracking.png,
figure5_ablations.png, figure8_action.png, figure9_reward.png.

The defaults are CPU-sized. Paper-scale settings:
  --steps=100000 (Table S1; the schedules then are the preset's)
  --batch_size=32 --seeds=0,1,2,3,4 (5 initialisations)
  --num_samples=100 (video metrics, Figures 3, S1) --tracking_samples=50 (Figure 4);
  --task_sequences: the whole test set (S2.3: 10,000 sequences per domain for
    reward prediction, of 20 steps; ours have T + Delta T = 16, docs/fidelity.md);
  --task_epochs=100 (S2.2's action recognition; S2.3 does not say for rewards);
  --variants=struct_vrnn,struct_vrnn_no_bom,struct_rnn,cnn_vrnn (Figures 3, 4),
    struct_vrnn,struct_vrnn_no_sep,struct_vrnn_no_sparse (Figure 5).
The dataset's preset sets the model size; pass other hyperparameters with
--train_flags, e.g. --train_flags="--num_keypoints=4 --rnn_units=8". Changing
--steps below the preset's num_steps changes the scaled schedules, which
train.py refuses for an existing run: use a new --output_dir then.
"""

import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Before anything imports TensorFlow: start-up notices held back.
from video_structure import cli

cli.start_tensorflow()

import tensorflow as tf
from absl import app, flags

from video_structure import config as config_lib
from video_structure import evaluation as evaluation_lib
from video_structure import files, pretrained
from video_structure import run_dir as run_dir_lib
from video_structure.data import registry
from video_structure.experiments import collection, report, runner
from video_structure.experiments import tasks as tasks_lib

FLAGS = flags.FLAGS

flags.DEFINE_list(
    "variants",
    ["struct_vrnn", "cnn_vrnn"],
    "Comma-separated model variants: " + ", ".join(config_lib.VARIANTS) + ".",
)
flags.DEFINE_list("seeds", ["0"], "Comma-separated training seeds (the paper: 5 per variant).")
flags.DEFINE_enum(
    "dataset", "synthetic", list(registry.DATASETS), "Dataset of training, evaluation and tasks."
)
cli.define_data_dir_flag(registry.default_data_dirs())
flags.DEFINE_string("output_dir", "runs/experiments", "Root of the runs and the report.")
flags.DEFINE_integer(
    "steps", 300, "Training steps per run (CPU-sized; the paper: 100000).", lower_bound=1
)
flags.DEFINE_integer(
    "batch_size",
    None,
    "Training batch size; default the preset's. Also the "
    "batch of evaluation and collection (default 8 there).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_sequences",
    32,
    "Test sequences of evaluate.py's video metrics "
    "(CPU-sized: VGG16 and I3D dominate; the paper uses the whole test set).",
    lower_bound=2,
)
flags.DEFINE_integer(
    "task_sequences",
    3100,
    "Sequences of each split collected for the "
    "tasks (fewer where a split has fewer): the regressions fit on the train "
    "split, reward prediction splits the test split 80/20 per domain, by "
    "episode. 3100 takes the whole test split of train.py's CPU-sized DMCS "
    "dataset at --task_window_stride=2 (516 windows per domain). The paper: "
    "the whole test set.",
    lower_bound=2,
)
flags.DEFINE_integer(
    "task_window_stride",
    2,
    "Frames between the starts of the windows "
    "collected for the tasks (file-based datasets; overlapping windows give "
    "enough sequences from a CPU-sized test split).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_samples",
    10,
    "Samples per sequence of evaluate.py's video metrics (CPU-sized; the paper: 100).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "tracking_samples",
    10,
    "Samples per sequence collected for the tasks; "
    "tracking scores the best of them (CPU-sized; the paper: 50).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "task_epochs",
    20,
    "Epochs of the reward and action models (S2.2: 100 "
    "for action recognition; S2.3 gives none for reward prediction).",
    lower_bound=1,
)
flags.DEFINE_string(
    "train_flags",
    "",
    'Extra train.py flags, one shell-quoted string, e.g. "--num_keypoints=4 --rnn_units=8".',
)
flags.DEFINE_enum(
    "selection",
    None,
    ["sequence", "object"],
    "Best-of-N selection of the "
    "tracking task: per sequence (Human3.6M) or per object (Basketball); default "
    "per dataset: "
    + ", ".join(f"{k}: {v.tracking_selection}" for k, v in registry.DATASETS.items())
    + ".",
)
flags.DEFINE_enum(
    "tracking_fit_on",
    tasks_lib.DEFAULT_FIT_ON,
    list(tasks_lib.FIT_ON),
    "What the tracking regression is fitted on: the train split's detected "
    "keypoints, or all its decoded samples (which shrink the fit; "
    "docs/fidelity.md). Model and baseline share the regression.",
)


def _python_script(name: str, *args: str, log_path: str) -> float:
    """Runs ROOT/name with `args`, its output going to `log_path`.

    Returns:
        The wall time in seconds.

    Raises:
        RuntimeError: with the log's tail if the script fails.
    """
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, os.path.join(ROOT, name), *args]
    started = time.time()
    with open(log_path, "w") as log:
        log.write(" ".join(shlex.quote(c) for c in command) + "\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f"{name} failed with exit code {code}; see {log_path}:\n{tail}")
    return time.time() - started


def _train_flag(name: str):
    """The value that --train_flags gives train.py's --name, or None."""
    tokens = shlex.split(FLAGS.train_flags)
    for i, token in enumerate(tokens):
        if token.startswith(f"--{name}="):
            return token.split("=", 1)[1]
        if token == f"--{name}" and i + 1 < len(tokens):
            return tokens[i + 1]
    return None


def _schedule_overrides() -> dict:
    """KL annealing and learning-rate decay scaled to --steps, where --train_flags leaves them."""
    preset = config_lib.PRESETS[
        _train_flag("preset") or registry.spec(FLAGS.dataset).default_preset
    ]
    scaled = runner.scaled_schedules(preset, FLAGS.steps)
    return {name: value for name, value in scaled.items() if _train_flag(name) is None}


def _trained_step(run_dir: str) -> int:
    """Step of the latest checkpoint in run_dir, 0 if none."""
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _train(variant: str, seed: int, run_dir: str, data_flags, log) -> tuple:
    """Trains unless the export is at --steps already.

    Returns:
        (whether train.py ran, the contents of training.json).
    """
    path = os.path.join(run_dir, "training.json")
    training = {}
    if os.path.exists(path):
        with open(path) as f:
            training = json.load(f)
    if os.path.isdir(os.path.join(run_dir, "export")) and _trained_step(run_dir) >= FLAGS.steps:
        log(f"{variant} seed {seed}: trained ({_trained_step(run_dir)} steps), export exists.")
        return False, training
    schedules = _schedule_overrides()
    log(
        f"{variant} seed {seed}: training {FLAGS.steps} steps"
        + (f", schedules scaled to them: {schedules}" if schedules else "")
        + f" (log: {run_dir}/train.log)."
    )
    batch = [f"--batch_size={FLAGS.batch_size}"] if FLAGS.batch_size else []
    wall_time = _python_script(
        "train.py",
        f"--dataset={FLAGS.dataset}",
        f"--variant={variant}",
        f"--seed={seed}",
        f"--steps={FLAGS.steps}",
        f"--output_dir={run_dir}",
        "--verbose=2",
        *batch,
        *data_flags,
        *[f"--{name}={value}" for name, value in schedules.items()],
        *shlex.split(FLAGS.train_flags),
        log_path=os.path.join(run_dir, "train.log"),
    )
    training = {
        "trained_step": _trained_step(run_dir),
        "scaled_schedules": schedules,
        "wall_time_s": (training.get("wall_time_s") or 0.0) + wall_time,
    }
    files.write_json(path, training)
    return True, training


def _evaluate(export_dir, settings, eval_dir, log):
    """`evaluation.run`; a bad input is the run's RuntimeError, as a failed training is."""
    try:
        evaluation_lib.run(export_dir, settings, eval_dir, progress=False, log=log)
    except evaluation_lib.InputError as error:
        raise RuntimeError(f"evaluating {export_dir} failed: {error}") from error


def _run(variant: str, seed: int, data_dir, log) -> dict:
    """Trains, evaluates and runs the tasks of one variant and seed."""
    run_dir = os.path.join(FLAGS.output_dir, variant, f"seed{seed}")
    os.makedirs(run_dir, exist_ok=True)
    export_dir = os.path.join(run_dir, "export")
    data_flags = [f"--data_dir={data_dir}"] if data_dir else []
    trained_now, training = _train(variant, seed, run_dir, data_flags, log)
    step = _trained_step(run_dir)
    config = run_dir_lib.load_config(run_dir)
    batch_size = FLAGS.batch_size or 8
    common = {"dataset": FLAGS.dataset, "data_dir": data_dir, "batch_size": batch_size}

    eval_dir = os.path.join(run_dir, "eval")
    metrics_path = os.path.join(eval_dir, "metrics.json")
    fvd = config.sequence_length >= pretrained.I3D_MIN_FRAMES
    settings = dict(
        common, num_sequences=FLAGS.num_sequences, num_samples=FLAGS.num_samples, fvd=fvd
    )
    evaluation = None if trained_now else runner.load_if_current(metrics_path, settings, step)
    if evaluation is not None:
        log(f"{variant} seed {seed}: {metrics_path} is up to date, not evaluating again.")
    else:
        log(f"{variant} seed {seed}: evaluating (log: {run_dir}/evaluate.log).")
        started = time.time()
        with open(os.path.join(run_dir, "evaluate.log"), "w") as evaluate_log:
            _evaluate(
                export_dir,
                evaluation_lib.Settings(
                    dataset=FLAGS.dataset,
                    data_dir=data_dir,
                    num_sequences=FLAGS.num_sequences,
                    num_samples=FLAGS.num_samples,
                    batch_size=batch_size,
                    fvd=fvd,
                ),
                eval_dir,
                lambda line: print(line, file=evaluate_log, flush=True),
            )
        wall_time = time.time() - started
        with open(metrics_path) as f:
            evaluation = json.load(f)
        evaluation["runner"] = {
            "settings": settings,
            "trained_step": step,
            "wall_time_s": wall_time,
        }
        files.write_json(metrics_path, evaluation)

    tasks_path = os.path.join(run_dir, "tasks.json")
    selection = FLAGS.selection or registry.spec(FLAGS.dataset).tracking_selection
    settings = dict(
        common,
        task_sequences=FLAGS.task_sequences,
        task_window_stride=FLAGS.task_window_stride,
        tracking_samples=FLAGS.tracking_samples,
        task_epochs=FLAGS.task_epochs,
        selection=selection,
        tracking_fit_on=FLAGS.tracking_fit_on,
        tasks=list(tasks_lib.TASKS),
    )
    tasks = None if trained_now else runner.load_if_current(tasks_path, settings, step)
    if tasks is not None:
        log(f"{variant} seed {seed}: {tasks_path} is up to date, not running the tasks again.")
    else:
        log(
            f"{variant} seed {seed}: collecting {FLAGS.task_sequences} train and test sequences "
            f"x {FLAGS.tracking_samples} samples, running the tasks."
        )
        started = time.time()
        arrays = {
            split: collection.collect(
                export_dir,
                FLAGS.dataset,
                split,
                FLAGS.task_sequences,
                FLAGS.tracking_samples,
                batch_size,
                data_dir=data_dir,
                window_stride=FLAGS.task_window_stride,
            )
            for split in ("train", "test")
        }
        results = tasks_lib.run_tasks(
            arrays["train"],
            arrays["test"],
            config.observed_steps,
            epochs=FLAGS.task_epochs,
            selection=selection,
            fit_on=FLAGS.tracking_fit_on,
            seed=seed,
        )
        tasks = {
            "results": results,
            "runner": {
                "settings": settings,
                "trained_step": step,
                "wall_time_s": time.time() - started,
            },
        }
        files.write_json(tasks_path, tasks)
    return {
        "variant": variant,
        "seed": seed,
        "trained_step": step,
        "wall_time_s": {
            "train": training.get("wall_time_s"),
            "evaluate": evaluation["runner"]["wall_time_s"],
            "tasks": tasks["runner"]["wall_time_s"],
        },
        "evaluation": evaluation,
        "tasks": tasks["results"],
    }


def _domain_names(data_dir):
    """The DMCS manifest's domain names, indexed by the `domain` ids of its batches."""
    if FLAGS.dataset != "dmcs":
        return None
    # Only DMCS has named domains; its module is not needed otherwise.
    from video_structure.data import dmcs

    return list(dmcs.load_manifest(data_dir)["domains"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = [v for v in FLAGS.variants if v not in config_lib.VARIANTS]
    if unknown or not FLAGS.variants:
        raise app.UsageError(
            f"--variants: unknown {unknown or 'empty list'}; choose from "
            f"{', '.join(config_lib.VARIANTS)}."
        )
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError as error:
        raise app.UsageError(f"--seeds must be integers, got {FLAGS.seeds}.") from error
    if not seeds:
        raise app.UsageError("--seeds is empty.")
    try:
        preset = _train_flag("preset")
    except ValueError as error:
        raise app.UsageError(f"--train_flags {FLAGS.train_flags!r}: {error}") from error
    if preset is not None and preset not in config_lib.PRESETS:
        raise app.UsageError(
            f"--train_flags: unknown --preset={preset}; choose from "
            f"{', '.join(sorted(config_lib.PRESETS))}."
        )
    tf.get_logger().setLevel("ERROR")
    data_dir = FLAGS.data_dir or registry.default_data_dir(FLAGS.dataset)
    data_dir = os.path.abspath(data_dir) if data_dir else None
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    started = time.time()

    def log(message):
        print(f"[{time.time() - started:6.0f} s] {message}", flush=True)

    runs = []
    for variant in FLAGS.variants:
        for seed in seeds:
            try:
                runs.append(_run(variant, seed, data_dir, log))
            except RuntimeError as error:
                print(f"Error: {error}", file=sys.stderr)
                sys.exit(1)
    paths = report.write_report(runs, FLAGS.output_dir, _domain_names(data_dir))
    log("Wrote " + ", ".join(paths) + ".")
    with open(os.path.join(FLAGS.output_dir, "results.md")) as f:
        print(f.read().split("\n\nColumns:")[0])


if __name__ == "__main__":
    app.run(main)
