"""Video prediction metrics of an export (Section 5.1, Figures 3, S1, S2).

For each test sequence the export observes T frames and predicts Delta T
frames `num_samples` times (T is fixed by the export's signatures; Delta T is
the export's or fewer). On the predicted steps it computes, per frame:

* VGG cosine similarity: VGG16 (ImageNet) features at the five block outputs,
  L2-normalised over channels, cosine per location averaged over space, the
  five layers averaged;
* SSIM (`tf.image.ssim`, 11x11 Gaussian window, sigma 1.5) and PSNR
  (`tf.image.psnr`) on frames in [0, 1].

Per sequence and metric it keeps the closest and the furthest of the samples,
ranked by the metric's mean over the predicted steps, as Figures 3 and S1 do.
FVD compares videos of T + Delta T frames (the T observed ground-truth frames
followed by the Delta T predicted ones; I3D needs at least 9) with the
ground-truth videos, from `fvd_samples_per_sequence` samples per sequence.
Grayscale frames are repeated over three channels for VGG and I3D.

Reference rows: "repeat_last", which repeats the last observed frame, and
"ground_truth", whose FVD compares two disjoint halves of the real videos
(the noise floor at that N; null below 4 sequences; its frame metrics are 1,
1 and infinity by definition and are not computed).

`run` is the whole job of evaluate.py: it writes metrics.json (every number
and the settings that produced it), metrics.png (each metric against the time
step), samples.png and samples.gif (ground truth, closest and furthest sample
by VGG cosine).
"""

import dataclasses
import os
import time

import numpy as np
import tqdm

from video_structure import config as config_lib
from video_structure import (
    evaluation_report,
    files,
    fvd,
    pretrained,
    rollouts,
    similarity,
    statistics,
)
from video_structure import export as export_lib
from video_structure.data import loading, registry


class InputError(ValueError):
    """A bad export, dataset, weights file or setting; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """What to evaluate and how; evaluate.py has one flag per field."""

    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str = "test"
    num_sequences: int = 16
    observed_steps: int | None = None
    predicted_steps: int | None = None
    num_samples: int = 100
    fvd_samples_per_sequence: int = 1
    fvd: bool = True
    batch_size: int = 2
    render_batch_size: int = 32
    i3d_batch_size: int = 8
    seed: int = 0
    i3d_weights: str | None = None
    vgg_weights: str | None = None


# Ground-truth halves need 2 videos each for a covariance.
GROUND_TRUTH_FVD_MIN_SEQUENCES = 4


def resolve_steps(config: config_lib.Config, observed_flag, predicted_flag):
    """The observed and predicted steps to evaluate, checked against the export.

    Args:
        config: the export's hyperparameters.
        observed_flag: observed steps asked for, or None for the export's.
        predicted_flag: predicted steps asked for, or None for the export's.

    Returns:
        (T, Delta T).

    Raises:
        ValueError: for a T other than the export's or a Delta T above it.
    """
    observed, predicted = config.observed_steps, config.predicted_steps
    if observed_flag is not None and observed_flag != observed:
        raise ValueError(
            f"observed_steps={observed_flag}, but the export observes {observed} "
            "frames: its signatures fix T, so retrain and export for another T."
        )
    if predicted_flag is not None and predicted_flag > predicted:
        raise ValueError(
            f"predicted_steps={predicted_flag}, but the export predicts "
            f"{predicted} steps; pass at most {predicted}."
        )
    return observed, predicted if predicted_flag is None else predicted_flag


def frame_metrics(truth: np.ndarray, samples: np.ndarray, vgg_model):
    """Per-frame metrics of samples against the truth.

    Args:
        truth: float [batch, time, H, W, C] in [0, 1], C 1 or 3.
        samples: float [batch, S, time, H, W, C] in [0, 1].
        vgg_model: from `pretrained.build_vgg16_features`.

    Returns:
        {metric: float32 [batch, S, time]} for similarity.FRAME_METRICS.
    """
    broadcast = np.broadcast_to(truth[:, np.newaxis], samples.shape)
    return {
        "vgg_cosine": similarity.vgg_cosine_similarity(
            evaluation_report.to_rgb(truth)[:, np.newaxis],
            evaluation_report.to_rgb(samples),
            vgg_model,
        ).numpy(),
        "ssim": similarity.ssim(broadcast, samples).numpy(),
        "psnr": similarity.psnr(broadcast, samples).numpy(),
    }


def _summary(values: np.ndarray):
    """Mean and 95% confidence half-width over sequences, per time step.

    Non-finite values (the infinite PSNR of a frame equal to the truth) are
    left out of both and counted under "num_non_finite".
    """
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    mean, half_width = statistics.nanmean_and_ci95(np.where(finite, values, np.nan))
    summary = {"mean": mean.tolist(), "ci95": half_width.tolist()}
    if not finite.all():
        summary["num_non_finite"] = (~finite).sum(axis=0).tolist()
    return summary


def summarize(per_sample: np.ndarray):
    """Closest, furthest and average sample of every sequence, summarised per step.

    Args:
        per_sample: [sequences, samples, Delta T] values of a similarity metric.

    Returns:
        {"closest", "furthest", "mean_over_samples"}: each {"mean", "ci95"} over
        sequences, per predicted step; "per_sequence": the closest and furthest
        sample's values [sequences, Delta T] and their sample indices.
    """
    selection = similarity.select_closest_and_furthest(per_sample)
    return {
        "closest": _summary(selection.closest),
        "furthest": _summary(selection.furthest),
        "mean_over_samples": _summary(per_sample.mean(axis=1)),
        "per_sequence": {
            "closest": selection.closest.tolist(),
            "furthest": selection.furthest.tolist(),
            "closest_index": selection.closest_index.tolist(),
            "furthest_index": selection.furthest_index.tolist(),
        },
    }


def fvd_rows(truth: np.ndarray, model: np.ndarray, repeat_last: np.ndarray):
    """FVD of the model's videos, of the repeat-last baseline and of the truth's halves.

    Args:
        truth: [sequences, 400] I3D logits of the ground-truth videos.
        model: [sequences * samples, 400] of the observed + predicted videos.
        repeat_last: [sequences, 400] of the repeat-last-frame videos.

    Returns:
        {row: {"value", "num_real", "num_generated", "warning"}}; a row of
        fewer than 2 videos a set (one sequence; the ground-truth row below 4
        sequences) has value None and a "reason".
    """

    def row(real, generated):
        if min(len(real), len(generated)) < 2:
            return {
                "value": None,
                "num_real": len(real),
                "num_generated": len(generated),
                "reason": "FVD needs at least 2 videos per set (their covariance).",
            }
        result = fvd.fvd_from_logits(real, generated)
        return {
            "value": result.fvd,
            "num_real": result.num_videos_a,
            "num_generated": result.num_videos_b,
            "warning": result.warning,
        }

    rows = {"model": row(truth, model), "repeat_last": row(truth, repeat_last)}
    if len(truth) < GROUND_TRUTH_FVD_MIN_SEQUENCES:
        rows["ground_truth"] = {
            "value": None,
            "reason": f"needs {GROUND_TRUTH_FVD_MIN_SEQUENCES} sequences (two "
            f"halves of at least 2 videos each); {len(truth)} were evaluated.",
        }
    else:
        half = len(truth) // 2
        rows["ground_truth"] = row(truth[:half], truth[half:])
    return rows


def _checked(batches):
    """Yields the batches; their ValueErrors (naming the file or value) become InputErrors."""
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except ValueError as error:
            raise InputError(str(error)) from error
        yield batch


@dataclasses.dataclass
class _Accumulator:
    """The per-batch values `evaluate` gathers."""

    per_sample: dict  # {metric: [[batch, N, Delta T]]}
    repeat_last: dict  # {metric: [[batch, Delta T]]}
    strip: tuple | None = None  # truth, closest and furthest video of the first sequence


def evaluate(loaded, config, action_size, batches, settings, vgg, i3d=None, progress=True):
    """Scores the export's samples on `batches` (module docstring).

    Args:
        loaded: the SavedModel of `export_lib.load`.
        config: its hyperparameters.
        action_size: its action size (0: none).
        batches: iterable of dicts of numpy arrays (`loading.take_sequences`).
        settings: a `Settings`.
        vgg: from `pretrained.build_vgg16_features`.
        i3d: from `pretrained.build_i3d`, or None to skip FVD.
        progress: show a progress bar.

    Returns:
        (results, strip, num_sequences): results as metrics.json's "results";
        strip, the [T + Delta T, H, W, C] ground truth, closest and furthest
        sample (by VGG cosine) of the first sequence.
    """
    observed, predicted = resolve_steps(config, settings.observed_steps, settings.predicted_steps)
    length = observed + predicted
    fvd_samples = min(settings.fvd_samples_per_sequence, settings.num_samples)
    embedder = fvd.I3dEmbedder(i3d, settings.i3d_batch_size) if i3d is not None else None
    gathered = _Accumulator(
        {m: [] for m in similarity.FRAME_METRICS}, {m: [] for m in similarity.FRAME_METRICS}
    )
    bar = tqdm.tqdm(
        total=settings.num_sequences, desc="sequences", unit="seq", disable=not progress
    )
    count = 0
    for batch, seed in zip(_checked(batches), rollouts.batch_seeds(settings.seed)):
        frames = batch["frames"]
        actions = batch["actions"] if action_size else None
        # The observed steps of the samples are the posterior's reconstructions;
        # only the predictions are scored and shown.
        samples = np.clip(
            rollouts.sample_videos(
                loaded,
                frames[:, :observed],
                settings.num_samples,
                seed,
                actions,
                slice(observed, length),
                settings.render_batch_size,
            ),
            0.0,
            1.0,
        )  # [batch, N, dT, ...]
        frames = frames[:, :length]  # [batch, T + Delta T, H, W, C]
        truth = frames[:, observed:]
        last = np.repeat(frames[:, observed - 1 : observed], predicted, axis=1)[:, np.newaxis]
        # The baseline is scored as one more sample, so that VGG embeds the
        # truth once for both.
        scored = frame_metrics(truth, np.concatenate([samples, last], axis=1), vgg)
        values = {m: scored[m][:, :-1] for m in similarity.FRAME_METRICS}
        for m in similarity.FRAME_METRICS:
            gathered.per_sample[m].append(values[m])
            gathered.repeat_last[m].append(scored[m][:, -1])
        if gathered.strip is None:
            ranked = similarity.select_closest_and_furthest(values["vgg_cosine"][:1])
            observed_truth = frames[0, :observed]
            gathered.strip = (
                frames[0],
                np.concatenate([observed_truth, samples[0, ranked.closest_index[0]]]),
                np.concatenate([observed_truth, samples[0, ranked.furthest_index[0]]]),
            )
        if embedder is not None:
            # The observed ground truth followed by each of the first samples.
            predicted_part = samples[:, :fvd_samples]
            observed_part = np.broadcast_to(
                frames[:, np.newaxis, :observed],
                predicted_part.shape[:2] + frames[:, :observed].shape[1:],
            )
            videos = np.concatenate([observed_part, predicted_part], axis=2)
            embedder.add(
                "model", evaluation_report.to_rgb(videos.reshape((-1,) + frames.shape[1:]))
            )
            embedder.add("truth", evaluation_report.to_rgb(frames))
            embedder.add(
                "repeat_last",
                evaluation_report.to_rgb(
                    np.concatenate([frames[:, :observed], last[:, 0]], axis=1)
                ),
            )
        bar.update(len(frames))
        count += len(frames)
    bar.close()

    results = {"model": {}, "repeat_last": {}, "ground_truth": {}}
    for m in similarity.FRAME_METRICS:
        results["model"][m] = summarize(np.concatenate(gathered.per_sample[m]))
        results["repeat_last"][m] = _summary(np.concatenate(gathered.repeat_last[m]))
    if embedder is not None:
        rows = fvd_rows(
            embedder.logits("truth"), embedder.logits("model"), embedder.logits("repeat_last")
        )
        for key, row in rows.items():
            results[key]["fvd"] = row
    return results, gathered.strip, count


def _report_settings(export_dir, settings, config, steps, num_sequences, vgg, i3d):
    """metrics.json's "settings": what produced the numbers; steps is (T, Delta T)."""
    observed, predicted = steps
    fvd_samples = min(settings.fvd_samples_per_sequence, settings.num_samples)
    return {
        "export": os.path.abspath(export_dir),
        "dataset": settings.dataset,
        "split": settings.split,
        "num_sequences": num_sequences,
        "num_samples": settings.num_samples,
        "observed_steps": observed,
        "predicted_steps": predicted,
        "export_predicted_steps": config.predicted_steps,
        "seed": settings.seed,
        "frame_metrics_steps": "predicted steps T+1..T+Delta T",
        "selection": "closest/furthest sample per sequence by the metric's mean over "
        "predicted steps",
        "ssim": "tf.image.ssim(max_val=1, filter_size=11, filter_sigma=1.5)",
        "psnr": "tf.image.psnr(max_val=1)",
        "vgg_layers": list(pretrained.VGG16_FEATURE_LAYERS),
        "vgg_weights": vgg.weights_source.to_dict(),
        "vgg_preprocessing": vgg.get_layer("preprocess").description,
        "grayscale_repeated_to_rgb": config.image_channels == 1,
        "fvd_samples_per_sequence": fvd_samples if i3d is not None else None,
        "fvd_frames": "T observed ground-truth frames + Delta T predicted frames",
        "fvd_embedding": "I3D Kinetics-400 logits of frames resized to 224x224 with TF1's "
        "bilinear resize, scaled to [-1, 1]",
        "i3d_weights": i3d.weights_source.to_dict() if i3d is not None else None,
        "config": config.to_dict(),
    }


def run(export_dir, settings=Settings(), output_dir=None, progress=True, log=print):
    """Evaluates an export and writes metrics.json and the pictures (module docstring).

    Args:
        export_dir: a SavedModel directory written by train.py.
        settings: a `Settings`.
        output_dir: where the outputs go; default <export_dir>/../eval.
        progress: show a progress bar.
        log: called with each line of the summary (`evaluation_report.summary_lines`).

    Returns:
        The report written to metrics.json.

    Raises:
        InputError: for a bad export, dataset, weights file or setting, naming it.
    """
    started = time.time()
    try:
        loaded, config_dict, action_size = export_lib.load(export_dir)
        config = config_lib.Config.from_dict(config_dict, f"the config of {export_dir}")
    except (FileNotFoundError, ValueError) as error:
        raise InputError(f"--export: {error}") from error
    try:
        observed, predicted = resolve_steps(
            config, settings.observed_steps, settings.predicted_steps
        )
    except ValueError as error:
        raise InputError(str(error)) from error
    if settings.fvd and observed + predicted < pretrained.I3D_MIN_FRAMES:
        raise InputError(
            f"FVD needs videos of at least {pretrained.I3D_MIN_FRAMES} frames, but T + Delta T "
            f"= {observed} + {predicted}; pass --nofvd to skip it."
        )
    if config.image_channels not in (1, 3):
        raise InputError(
            f"The export's frames have {config.image_channels} channels; VGG16 "
            "and I3D need RGB (3) or grayscale (1) frames."
        )
    output_dir = output_dir or os.path.join(os.path.dirname(os.path.abspath(export_dir)), "eval")
    os.makedirs(output_dir, exist_ok=True)
    # Windows of the export's full length, so that fewer predicted steps
    # evaluate the same sequences. Shuffling with a fixed seed mixes domains
    # and episodes deterministically.
    try:
        batches, data_action_size = loading.take_sequences(
            settings.dataset,
            settings.split,
            config,
            settings.num_sequences,
            settings.batch_size,
            data_dir=settings.data_dir or registry.default_data_dir(settings.dataset),
            seed=settings.seed,
        )
    except (FileNotFoundError, ValueError) as error:
        raise InputError(f"--dataset={settings.dataset}: {error}") from error
    if data_action_size != action_size:
        raise InputError(
            f"The export takes actions of size {action_size}, the "
            f"{settings.dataset} dataset has {data_action_size}."
        )
    try:
        vgg = pretrained.build_vgg16_features(settings.vgg_weights or "imagenet")
        i3d = pretrained.build_i3d(settings.i3d_weights or "kinetics400") if settings.fvd else None
    except (FileNotFoundError, ValueError) as error:
        raise InputError(str(error)) from error
    results, strip, count = evaluate(
        loaded, config, action_size, batches, settings, vgg, i3d, progress
    )
    report = {
        "settings": _report_settings(
            export_dir, settings, config, (observed, predicted), count, vgg, i3d
        ),
        "results": results,
        "wall_time_s": time.time() - started,
    }
    files.write_json(os.path.join(output_dir, "metrics.json"), report)
    evaluation_report.write_pictures(results, strip, observed, predicted, output_dir)
    for line in evaluation_report.summary_lines(report, output_dir):
        log(line)
    return report
