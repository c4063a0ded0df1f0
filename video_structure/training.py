"""Training a Struct-VRNN run directory: resume, fit, checkpoint, pictures, export.

`run` is the whole job of train.py. Run directory layout:

    config.json      the resolved hyperparameters, seed and data (a resumed run must match)
    checkpoints/     tf.train.CheckpointManager checkpoints; reruns resume from the
                     newest intact one, reading the data stream on from its step
    .lock            held while a run lives (see video_structure/run_dir.py)
    tensorboard/     scalars of every loss term and keypoint images
    samples.png/gif  true, reconstructed and predicted frames with keypoints
    export/          the SavedModel (see video_structure/export.py)

Under `--strategy=multi_worker` (video_structure/distribute.py) only the chief
holds the lock and writes these; the other workers read the checkpoint they
resume from and write their checkpoints and export to a temporary directory
that is deleted.
"""

import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from video_structure import config as config_lib
from video_structure import distribute, optimizers, precision, run_dir, run_options, visualize
from video_structure import export as export_lib
from video_structure import model as model_lib
from video_structure.data import loading, registry, windows


class TrainingError(Exception):
    """A run that cannot start: bad options, data or run directory; the message names it."""


class Diverged(Exception):
    """The loss became non-finite; the last good checkpoint is kept."""


def run(config: config_lib.Config, options: run_options.Options) -> str:
    """Trains (or resumes) the run of `options.output_dir` and exports it.

    Args:
        config: the hyperparameters (a resumed run must keep them).
        options: the run's other settings.

    Returns:
        The export's directory.

    Raises:
        TrainingError: bad options, data or run directory.
        Diverged: the loss became non-finite.
        windows.DataReadError: a data file failed to read during training.
    """
    keras.utils.set_random_seed(options.seed)
    try:
        strategy = distribute.make_strategy(options.strategy, options.devices)
    except run_options.StrategyError as error:
        raise TrainingError(str(error)) from error
    if config.batch_size % strategy.num_replicas_in_sync:
        # Unequal shares would weight the replicas' means unequally.
        raise TrainingError(
            f"--batch_size={config.batch_size} is the global batch; it must divide evenly "
            f"between the {strategy.num_replicas_in_sync} replicas of "
            f"--strategy={options.strategy}."
        )
    share = config.batch_size // strategy.num_replicas_in_sync
    if options.micro_batch_size and share % options.micro_batch_size:
        raise TrainingError(
            f"--micro_batch_size={options.micro_batch_size} must divide each replica's "
            f"{share} sequences (--batch_size={config.batch_size} over "
            f"{strategy.num_replicas_in_sync} replicas)."
        )
    if not distribute.is_chief(strategy):
        return train(config, options, strategy)
    lock = open_run(options.output_dir)
    try:
        return train(config, options, strategy)
    finally:
        lock.release()


class TrainingGuard(keras.callbacks.Callback):
    """Saves checkpoints, stops at the step budget and on a non-finite loss.

    A checkpoint is written only after an interval without a non-finite loss,
    so the last good checkpoint stays when training diverges.
    """

    def __init__(self, manager: tf.train.CheckpointManager, num_steps: int):
        super().__init__()
        self.manager = manager
        self.num_steps = num_steps
        self.diverged_at = None

    def _step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = self._step()
            self.model.stop_training = True
        elif self._step() >= self.num_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        # The last update may have produced non-finite weights from a finite loss.
        finite = all(
            bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_weights
        )
        if not finite and self.diverged_at is None:
            self.diverged_at = self._step()
            self.model.stop_training = True
        if self.diverged_at is None:
            self.manager.save(checkpoint_number=self._step())


class ImageSummaries(keras.callbacks.Callback):
    """Shows true frames, reconstructions and predictions with keypoints drawn.

    At every checkpoint interval the picture goes to TensorBoard and, replacing
    the previous one, to `samples.png` (a grid: per sequence the true frames,
    their reconstructions and one predicted sample; green borders observed,
    red predicted steps; keypoints with their past trajectories) and
    `samples.gif` (the same rows animated) in the output directory.
    """

    def __init__(
        self,
        batch,
        log_dir: str,
        output_dir: str,
        seed: int,
        guard: TrainingGuard,
        max_sequences: int = 3,
    ):
        super().__init__()
        self.guard = guard
        self.frames = batch["frames"][:max_sequences]
        self.actions = batch["actions"][:max_sequences] if "actions" in batch else None
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self.output_dir = output_dir
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.diverged_at is not None:
            return
        model = self.model
        config = model.config
        keypoints = model.detect(self.frames)
        drawn = keypoints if config.representation == "keypoints" else tf.zeros_like(keypoints)
        reconstructed = model.reconstruct(keypoints, self.frames[:, 0], keypoints[:, 0])
        predicted = model.rollout(
            self.frames[:, : config.observed_steps],
            1,
            config.predicted_steps,
            tf.constant([self.seed, epoch]),
            self.actions,
        )
        predicted_drawn = predicted["keypoints"][:, 0] * tf.cast(
            config.representation == "keypoints", tf.float32
        )
        # Keypoints with their past trajectories, as the paper's Figure 2.
        trail = config.sequence_length
        rows = []
        for i in range(self.frames.shape[0]):
            rows.append(
                visualize.draw_keypoints(self.frames[i].numpy(), drawn[i].numpy(), trail=trail)
            )
            rows.append(
                visualize.draw_keypoints(reconstructed[i].numpy(), drawn[i].numpy(), trail=trail)
            )
            rows.append(
                visualize.draw_keypoints(
                    predicted["frames"][i, 0].numpy(), predicted_drawn[i].numpy(), trail=trail
                )
            )
        colors = [(0, 200, 0)] * config.observed_steps + [(220, 0, 0)] * config.predicted_steps
        self._write_grid(rows, colors)
        self._write_gif(rows, colors)

    def _write_grid(self, rows, colors):
        image = visualize.grid(rows, border_colors=colors)
        with self.writer.as_default():
            tf.summary.image(
                "true_reconstructed_predicted",
                image[np.newaxis],
                step=int(self.model.optimizer.iterations.numpy()),
            )
        self.writer.flush()
        visualize.save_png(image, os.path.join(self.output_dir, "samples.png"))

    def _write_gif(self, rows, colors):
        # One frame per time step: the rows stacked, bordered in that step's colour.
        animation = np.stack(
            [
                visualize.grid([row[t : t + 1] for row in rows], border_colors=colors[t : t + 1])
                for t in range(len(colors))
            ]
        )
        visualize.save_gif(animation, os.path.join(self.output_dir, "samples.gif"))


def run_settings(config: config_lib.Config, options: run_options.Options, data_dir) -> dict:
    """What config.json records: the hyperparameters and the options that shape the run."""
    settings = {
        **config.to_dict(),
        "seed": options.seed,
        "dataset": options.dataset,
        "data_dir": os.path.abspath(data_dir) if data_dir else None,
    }
    if registry.spec(options.dataset).scene:  # Others ignore num_sequences.
        settings["num_sequences"] = options.num_sequences
    return settings


def open_run(output_dir: str) -> run_dir.Lock:
    """Creates or locks the run directory and removes an interrupted run's leftovers."""
    try:
        os.makedirs(output_dir, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise TrainingError(f"--output_dir={output_dir} is a file, not a directory.") from error
    try:
        lock = run_dir.Lock(output_dir)
    except run_dir.RunDirError as error:
        raise TrainingError(str(error)) from error
    if lock.previous_holder:
        print(
            f"Note: took over the lock of {output_dir} from process "
            f"{lock.previous_holder}, which ended without releasing it.",
            flush=True,
        )
    removed = run_dir.remove_leftovers(output_dir)
    if removed:
        print("Removed the leftovers of an interrupted run: " + ", ".join(removed), flush=True)
    return lock


def resume_point(output_dir: str):
    """The newest intact checkpoint (or None) and its step; says which damaged ones it skips."""
    checkpoint, damaged = run_dir.newest_intact_checkpoint(output_dir)
    for line in damaged:
        print(f"Warning: skipping the damaged checkpoint {line}", file=sys.stderr, flush=True)
    if damaged and checkpoint is None:
        directory = os.path.join(output_dir, run_dir.CHECKPOINTS)
        raise TrainingError(
            f"no checkpoint in {directory} is intact; remove that directory to train from step 0."
        )
    if damaged:
        print(f"Resuming from {checkpoint}, the newest intact checkpoint.", flush=True)
    return checkpoint, run_dir.checkpoint_step(checkpoint) if checkpoint else 0


def restore(model: model_lib.StructVRNN, checkpoint: tf.train.Checkpoint, path: str) -> None:
    """Restores `path`, also one written before the seed generators' states were saved."""
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
        return
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        failure = error
    try:
        tf.train.Checkpoint(model=model, optimizer=model.optimizer).restore(
            path
        ).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError):
        raise TrainingError(
            f"{path} does not fit this model: {str(failure).splitlines()[0]}"
        ) from failure
    print(
        f"Warning: {path} predates saved sampling seeds; the resumed run draws other "
        "samples than an uninterrupted run would.",
        file=sys.stderr,
        flush=True,
    )


def train(
    config: config_lib.Config, options: run_options.Options, strategy: tf.distribute.Strategy
) -> str:
    """Trains (or resumes) the run in options.output_dir, which a chief caller has locked.

    Returns:
        The export's directory.
    """
    chief = distribute.is_chief(strategy)
    with distribute.worker_dir(options.output_dir, chief) as write_dir:
        return _train(config, options, strategy, chief, write_dir)


def _train(config, options, strategy, chief: bool, write_dir: str) -> str:
    """`train`, writing checkpoints and the export to `write_dir`, the rest if `chief`."""
    output_dir = options.output_dir
    checkpoint_path, step = resume_point(output_dir)
    data_dir = options.data_dir or registry.default_data_dir(options.dataset)
    try:
        if chief:
            run_dir.check_config(output_dir, run_settings(config, options, data_dir), step)
    except run_dir.RunDirError as error:
        raise TrainingError(str(error)) from error

    try:
        # Other workers train on the data the chief generated.
        prepare = registry.spec(options.dataset).prepare
        if prepare is not None and chief:
            prepare(data_dir, config.image_size, options)
        train_data, test_data, action_size = loading.load(
            options.dataset,
            config,
            data_dir=data_dir,
            seed=options.seed,
            num_sequences=options.num_sequences,
            start_step=step,
        )
    except (FileNotFoundError, ValueError) as error:
        raise TrainingError(str(error)) from error
    sample_batch = next(iter(test_data))
    try:
        loading.check_batch(sample_batch, config, f"the {options.dataset} test split")
    except ValueError as error:
        raise TrainingError(str(error)) from error

    train_data, test_data = map(distribute.shard_by_data, (train_data, test_data))
    with strategy.scope():
        with precision.policy(options.mixed_precision):
            model = model_lib.StructVRNN(
                config,
                action_size=action_size,
                seed=options.seed,
                micro_batch_size=options.micro_batch_size,
            )
        optimizer = optimizers.make_optimizer(
            config, strategy.num_replicas_in_sync, options.mixed_precision
        )
        model.compile(optimizer=optimizer, jit_compile=options.xla)
        model.build_all()
        model.optimizer.build(model.trainable_variables)
    # The weights come in through the optimizer; the seed generators' states (the
    # non-trainable variables) must be named, or a resumed run draws other samples.
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer, state=model.non_trainable_variables
    )
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(write_dir, run_dir.CHECKPOINTS), max_to_keep=3
    )
    if checkpoint_path:
        restore(model, checkpoint, checkpoint_path)
    # An epoch is a checkpoint interval, or the whole of a shorter run (so the
    # progress bar counts to the run's end).
    every = min(options.checkpoint_every, config.num_steps)
    replicas = strategy.num_replicas_in_sync
    print(
        f"Training {config.num_steps} steps from step {step}, batch {config.batch_size}"
        + (f" on {replicas} replicas" if replicas > 1 else "")
        + f", {model.count_params():,} parameters; output in {output_dir}.",
        flush=True,
    )

    guard = TrainingGuard(manager, config.num_steps)
    if step < config.num_steps:
        log_dir = os.path.join(output_dir, "tensorboard")
        callbacks = [guard]
        if chief:
            callbacks += [
                keras.callbacks.TensorBoard(log_dir, update_freq=min(every, 100)),
                ImageSummaries(sample_batch, log_dir, output_dir, options.seed, guard),
            ]
        try:
            model.fit(
                train_data,
                epochs=math.ceil(config.num_steps / every),
                initial_epoch=step // every,
                steps_per_epoch=every,
                callbacks=callbacks,
                validation_data=test_data if options.eval_batches else None,
                validation_steps=options.eval_batches or None,
                verbose=options.verbose,
            )
        except tf.errors.OpError as error:
            message = windows.read_error_message(error)
            if message is None:
                raise
            raise windows.DataReadError(message) from None
    if guard.diverged_at is not None:
        kept = (
            f"The last good checkpoint is {manager.latest_checkpoint}."
            if manager.latest_checkpoint
            else "No checkpoint was written."
        )
        raise Diverged(
            f"the loss became non-finite at step {guard.diverged_at}; training stopped. {kept}"
        )
    export_lib.export(model, os.path.join(write_dir, "export"))
    export_dir = os.path.join(output_dir, "export")
    if chief:
        print(f"Exported the SavedModel to {export_dir}.", flush=True)
    return export_dir
