"""The runner's job: train, evaluate and run the tasks of every variant and seed.

For every variant and seed, in output_dir/<variant>/seed<k>:

1. train.py in a child process (a run left unfinished resumes from its
   checkpoints; a run already at `steps` with an export is not started
   again), with the schedules of `runner.scaled_schedules` where the extra
   train.py flags leave them; training.json records the trained step, the
   scaled schedules and the summed wall time;
2. `evaluation.run` into eval/ (no FVD when the sequences are shorter than
   I3D's frames);
3. `collection.collect` on the train and test splits and `tasks.run_tasks`
   into tasks.json.

eval/metrics.json and tasks.json store, under "runner", the settings they
depend on, the trained step and their wall time; `runner.load_if_current`
decides whether a rerun reuses them. Then `report.write_report` writes the
table and figures over all runs.
"""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import tensorflow as tf

from video_structure import config as config_lib
from video_structure import evaluation as evaluation_lib
from video_structure import files, pretrained
from video_structure import run_dir as run_dir_lib
from video_structure.data import registry
from video_structure.experiments import collection, report, runner
from video_structure.experiments import tasks as tasks_lib

# The checkout's root, where train.py lies.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Batch of evaluation and collection when no batch size is given.
DEFAULT_BATCH_SIZE = 8


class RunError(RuntimeError):
    """A run's training, evaluation or tasks failed; the message says where."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every run of one runner invocation shares (scripts/run_experiments.py's flags).

    Attributes:
        dataset: a name of `registry.DATASETS`.
        data_dir: its directory (absolute), or None for in-memory datasets.
        output_dir: root of the runs and the report.
        steps: training steps per run.
        batch_size: training batch (None: the preset's); also the batch of
            evaluation and collection (None: DEFAULT_BATCH_SIZE).
        num_sequences, num_samples: evaluation's test sequences and samples.
        task_sequences, task_window_stride, tracking_samples, task_epochs:
            collection and tasks (see `collection.collect`, `tasks.run_tasks`).
        selection: tracking's best-of-N selection (None: the dataset's).
        tracking_fit_on: a key of `tasks.FIT_ON`.
        train_flags: extra train.py flags, one shell-quoted string.
    """

    dataset: str
    data_dir: str | None
    output_dir: str
    steps: int
    batch_size: int | None
    num_sequences: int
    num_samples: int
    task_sequences: int
    task_window_stride: int
    tracking_samples: int
    task_epochs: int
    selection: str | None
    tracking_fit_on: str
    train_flags: str = ""


def train_flag(train_flags: str, name: str) -> str | None:
    """The value that `train_flags` gives train.py's --name, or None.

    Raises:
        ValueError: if `train_flags` is not a valid shell-quoted string.
    """
    tokens = shlex.split(train_flags)
    for i, token in enumerate(tokens):
        if token.startswith(f"--{name}="):
            return token.split("=", 1)[1]
        if token == f"--{name}" and i + 1 < len(tokens):
            return tokens[i + 1]
    return None


def _schedule_overrides(settings: Settings) -> dict:
    """KL annealing and learning-rate decay scaled to the steps, where train_flags leave them."""
    preset_name = train_flag(settings.train_flags, "preset")
    preset = config_lib.PRESETS[preset_name or registry.spec(settings.dataset).default_preset]
    scaled = runner.scaled_schedules(preset, settings.steps)
    return {k: v for k, v in scaled.items() if train_flag(settings.train_flags, k) is None}


def _trained_step(run_dir: str) -> int:
    """Step of the latest checkpoint in run_dir, 0 if none."""
    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _python_script(name: str, *args: str, log_path: str) -> float:
    """Runs ROOT/name with `args`, its output going to `log_path`; returns the wall time.

    Raises:
        RunError: with the log's tail if the script fails.
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
        raise RunError(f"{name} failed with exit code {code}; see {log_path}:\n{tail}")
    return time.time() - started


def _train(variant: str, seed: int, run_dir: str, settings: Settings, log) -> tuple:
    """Trains unless the export is at the steps already.

    Returns:
        (whether train.py ran, the contents of training.json).
    """
    path = os.path.join(run_dir, "training.json")
    training = {}
    if os.path.exists(path):
        with open(path) as f:
            training = json.load(f)
    if os.path.isdir(os.path.join(run_dir, "export")) and _trained_step(run_dir) >= settings.steps:
        log(f"{variant} seed {seed}: trained ({_trained_step(run_dir)} steps), export exists.")
        return False, training
    schedules = _schedule_overrides(settings)
    log(
        f"{variant} seed {seed}: training {settings.steps} steps"
        + (f", schedules scaled to them: {schedules}" if schedules else "")
        + f" (log: {run_dir}/train.log)."
    )
    batch = [f"--batch_size={settings.batch_size}"] if settings.batch_size else []
    data = [f"--data_dir={settings.data_dir}"] if settings.data_dir else []
    wall_time = _python_script(
        "train.py",
        f"--dataset={settings.dataset}",
        f"--variant={variant}",
        f"--seed={seed}",
        f"--steps={settings.steps}",
        f"--output_dir={run_dir}",
        "--verbose=2",
        *batch,
        *data,
        *[f"--{name}={value}" for name, value in schedules.items()],
        *shlex.split(settings.train_flags),
        log_path=os.path.join(run_dir, "train.log"),
    )
    training = {
        "trained_step": _trained_step(run_dir),
        "scaled_schedules": schedules,
        "wall_time_s": (training.get("wall_time_s") or 0.0) + wall_time,
    }
    files.write_json(path, training)
    return True, training


def _stored(path: str, output: dict, cache_settings: dict, step: int, started: float) -> dict:
    """`output` with its "runner" record, written to `path`."""
    output["runner"] = {
        "settings": cache_settings,
        "trained_step": step,
        "wall_time_s": time.time() - started,
    }
    files.write_json(path, output)
    return output


def _evaluate(label: str, run_dir: str, config, step: int, reuse: bool, settings, log) -> dict:
    """eval/metrics.json of the run: reused if current (and `reuse`), else `evaluation.run`."""
    eval_dir = os.path.join(run_dir, "eval")
    path = os.path.join(eval_dir, "metrics.json")
    batch_size = settings.batch_size or DEFAULT_BATCH_SIZE
    fvd = config.sequence_length >= pretrained.I3D_MIN_FRAMES
    cache_settings = {
        "dataset": settings.dataset,
        "data_dir": settings.data_dir,
        "batch_size": batch_size,
        "num_sequences": settings.num_sequences,
        "num_samples": settings.num_samples,
        "fvd": fvd,
    }
    evaluation = runner.load_if_current(path, cache_settings, step) if reuse else None
    if evaluation is not None:
        log(f"{label}: {path} is up to date, not evaluating again.")
        return evaluation
    log(f"{label}: evaluating (log: {run_dir}/evaluate.log).")
    started = time.time()
    export_dir = os.path.join(run_dir, "export")
    with open(os.path.join(run_dir, "evaluate.log"), "w") as evaluate_log:
        try:
            evaluation_lib.run(
                export_dir,
                evaluation_lib.Settings(
                    dataset=settings.dataset,
                    data_dir=settings.data_dir,
                    num_sequences=settings.num_sequences,
                    num_samples=settings.num_samples,
                    batch_size=batch_size,
                    fvd=fvd,
                ),
                eval_dir,
                progress=False,
                log=lambda line: print(line, file=evaluate_log, flush=True),
            )
        except evaluation_lib.InputError as error:
            raise RunError(f"evaluating {export_dir} failed: {error}") from error
    with open(path) as f:
        evaluation = json.load(f)
    return _stored(path, evaluation, cache_settings, step, started)


def _tasks(label: str, run_dir: str, config, step: int, reuse: bool, seed: int, settings, log):
    """tasks.json of the run: reused if current (and `reuse`), else collected and run anew."""
    path = os.path.join(run_dir, "tasks.json")
    batch_size = settings.batch_size or DEFAULT_BATCH_SIZE
    selection = settings.selection or registry.spec(settings.dataset).tracking_selection
    cache_settings = {
        "dataset": settings.dataset,
        "data_dir": settings.data_dir,
        "batch_size": batch_size,
        "task_sequences": settings.task_sequences,
        "task_window_stride": settings.task_window_stride,
        "tracking_samples": settings.tracking_samples,
        "task_epochs": settings.task_epochs,
        "selection": selection,
        "tracking_fit_on": settings.tracking_fit_on,
        "tasks": list(tasks_lib.TASKS),
    }
    tasks = runner.load_if_current(path, cache_settings, step) if reuse else None
    if tasks is not None:
        log(f"{label}: {path} is up to date, not running the tasks again.")
        return tasks
    log(
        f"{label}: collecting {settings.task_sequences} train and test sequences "
        f"x {settings.tracking_samples} samples, running the tasks."
    )
    started = time.time()
    arrays = {
        split: collection.collect(
            os.path.join(run_dir, "export"),
            settings.dataset,
            split,
            settings.task_sequences,
            settings.tracking_samples,
            batch_size,
            data_dir=settings.data_dir,
            window_stride=settings.task_window_stride,
        )
        for split in ("train", "test")
    }
    results = tasks_lib.run_tasks(
        arrays["train"],
        arrays["test"],
        config.observed_steps,
        epochs=settings.task_epochs,
        selection=selection,
        fit_on=settings.tracking_fit_on,
        seed=seed,
    )
    return _stored(path, {"results": results}, cache_settings, step, started)


def run_one(variant: str, seed: int, settings: Settings, log: Callable[[str], None]) -> dict:
    """Trains, evaluates and runs the tasks of one variant and seed.

    Returns:
        The run as `report.table_rows` takes it.

    Raises:
        RunError: if training or evaluation fails.
    """
    label = f"{variant} seed {seed}"
    run_dir = os.path.join(settings.output_dir, variant, f"seed{seed}")
    os.makedirs(run_dir, exist_ok=True)
    trained_now, training = _train(variant, seed, run_dir, settings, log)
    step = _trained_step(run_dir)
    config = run_dir_lib.load_config(run_dir)
    reuse = not trained_now
    evaluation = _evaluate(label, run_dir, config, step, reuse, settings, log)
    tasks = _tasks(label, run_dir, config, step, reuse, seed, settings, log)
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


def _domain_names(settings: Settings) -> list[str] | None:
    """The DMCS manifest's domain names, indexed by the `domain` ids of its batches."""
    if settings.dataset != "dmcs":
        return None
    # Only DMCS has named domains; its module is not needed otherwise.
    from video_structure.data import dmcs

    return list(dmcs.load_manifest(settings.data_dir)["domains"])


def run(
    variants: Sequence[str], seeds: Sequence[int], settings: Settings, log: Callable[[str], None]
) -> list[str]:
    """`run_one` for every variant and seed, then the report over all of them.

    Returns:
        The paths `report.write_report` wrote.

    Raises:
        RunError: if a run fails.
    """
    os.makedirs(settings.output_dir, exist_ok=True)
    runs = [run_one(variant, seed, settings, log) for variant in variants for seed in seeds]
    return report.write_report(runs, settings.output_dir, _domain_names(settings))
