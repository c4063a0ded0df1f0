r"""Sequences per second of evaluate.py's scoring, and where its time goes.

Exports an untrained model of --preset (speed does not depend on training) and
scores --num_sequences sequences of uniform noise with `evaluation.evaluate`,
the loop of evaluate.py, with the pretrained VGG16 and I3D (FVD); one batch is
scored first, untimed, to trace the graphs. Then, on one batch, it times each
stage alone: detecting and predicting keypoints, rendering the sampled frames,
VGG cosine, SSIM and PSNR, and I3D on the batch's FVD videos, with the VGG
FLOPs by hand from its layer shapes and the rate they run at.

    python benchmarks/evaluation_speed.py                 # dmcs, the paper's 100 samples
    python benchmarks/evaluation_speed.py --preset=synthetic --num_sequences=2 \
        --num_samples=4                                   # a quick check
"""

import tempfile
import time
import warnings

import numpy as np
from absl import flags, logging

from video_structure import cli
from video_structure import config as config_lib

flags.DEFINE_enum("preset", "dmcs", list(config_lib.PRESETS), "Hyperparameter preset exported.")
flags.DEFINE_integer("num_sequences", 4, "Timed sequences.", lower_bound=1)
flags.DEFINE_integer("num_samples", 100, "Samples per sequence (evaluate.py's).", lower_bound=1)
flags.DEFINE_integer("batch_size", 2, "Sequences per batch (evaluate.py's).", lower_bound=1)
FLAGS = flags.FLAGS


def vgg_flops_per_frame(vgg_model, size: int) -> float:
    """FLOPs of the VGG feature model's convolutions on one size x size frame.

    Its "same" convolutions keep the size and each 2x2 pooling halves it.
    """
    import keras

    total = 0.0
    for layer in vgg_model.layers:
        if isinstance(layer, keras.layers.MaxPooling2D):
            size //= 2
        elif isinstance(layer, keras.layers.Conv2D):
            kernel_height, kernel_width, inputs, outputs = layer.kernel.shape
            total += 2.0 * size**2 * kernel_height * kernel_width * inputs * outputs
    return total


def _seconds(call):
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(argv):
    del argv
    # FVD's warning about few videos concerns its value, which is not the point here.
    warnings.filterwarnings("ignore", message="FVD from")
    logging.set_verbosity(logging.WARNING)  # The SavedModel writer's notices.
    cli.start_tensorflow()
    import keras

    from video_structure import (
        evaluation,
        evaluation_report,
        export,
        fvd,
        optimizers,
        pretrained,
        rollouts,
        similarity,
    )
    from video_structure import model as model_lib

    config = config_lib.get_preset(FLAGS.preset)
    keras.utils.set_random_seed(0)
    model = model_lib.StructVRNN(config)
    model.compile(optimizer=optimizers.make_optimizer(config))
    model.build_all()
    export_dir = tempfile.mkdtemp(prefix="evaluation_speed_")
    export.export(model, export_dir)
    loaded, _, _ = export.load(export_dir)
    vgg = pretrained.build_vgg16_features("imagenet")
    i3d = pretrained.build_i3d("kinetics400")

    rng = np.random.default_rng(0)
    shape = [config.sequence_length, config.image_size, config.image_size, config.image_channels]

    def batches(count):
        for start in range(0, count, FLAGS.batch_size):
            size = min(FLAGS.batch_size, count - start)
            yield {"frames": rng.uniform(size=[size, *shape]).astype(np.float32)}

    settings = evaluation.Settings(num_samples=FLAGS.num_samples, batch_size=FLAGS.batch_size)

    def score(count):
        return evaluation.evaluate(
            loaded, config, 0, batches(count), settings, vgg, i3d, progress=False
        )

    score(FLAGS.batch_size)  # Traces every graph.
    seconds, _ = _seconds(lambda: score(FLAGS.num_sequences))
    print(
        f"preset={FLAGS.preset}, {FLAGS.num_sequences} sequences x {FLAGS.num_samples} samples, "
        f"batch {FLAGS.batch_size}: {seconds:.1f} s, {FLAGS.num_sequences / seconds:.3f} "
        "sequences/s",
        flush=True,
    )

    # One batch, stage by stage, as `evaluation.evaluate` runs them.
    observed = config.observed_steps
    frames = next(batches(FLAGS.batch_size))["frames"]
    seed = next(rollouts.batch_seeds(0))
    stages = {}
    stages["detect and predict keypoints"], _ = _seconds(
        lambda: rollouts.predict(
            loaded,
            loaded.detect_keypoints(frames[:, :observed])["keypoints"],
            FLAGS.num_samples,
            seed,
        )["keypoints"].numpy()
    )
    stages["detect, predict and render"], samples = _seconds(
        lambda: rollouts.sample_videos(
            loaded, frames[:, :observed], FLAGS.num_samples, seed, steps=slice(observed, None)
        )
    )
    stages["render"] = stages["detect, predict and render"] - stages["detect and predict keypoints"]
    del stages["detect, predict and render"]
    samples = np.clip(samples, 0.0, 1.0)
    truth = frames[:, observed:]
    broadcast = np.broadcast_to(truth[:, np.newaxis], samples.shape)
    stages["VGG cosine"], _ = _seconds(
        lambda: similarity.vgg_cosine_similarity(
            evaluation_report.to_rgb(truth)[:, np.newaxis], evaluation_report.to_rgb(samples), vgg
        )
    )
    stages["SSIM"], _ = _seconds(lambda: similarity.ssim(broadcast, samples).numpy())
    stages["PSNR"], _ = _seconds(lambda: similarity.psnr(broadcast, samples).numpy())
    embedder = fvd.I3dEmbedder(i3d, settings.i3d_batch_size)
    videos = evaluation_report.to_rgb(frames)

    def embed(names):
        for name in names:
            embedder.add(name, videos)
        return [embedder.logits(name) for name in names]

    embed(["warm-up"])
    # As many videos as the batch's model, truth and repeat-last sets.
    stages["I3D (FVD)"], _ = _seconds(lambda: embed(["model", "truth", "repeat_last"]))
    total = sum(stages.values())
    vgg_frames = samples.shape[0] * samples.shape[2] * (samples.shape[1] + 1)
    per_frame = vgg_flops_per_frame(vgg, config.image_size)
    vgg_flops = per_frame * vgg_frames
    print(f"\none batch of {FLAGS.batch_size} sequences, each stage alone:")
    print("| stage | s | share |")
    print("|---|---|---|")
    for name, value in stages.items():
        print(f"| {name} | {value:.2f} | {value / total:.1%} |")
    print(
        f"VGG16: {per_frame / 1e9:.3f} GFLOP per frame x {vgg_frames} frames = "
        f"{vgg_flops / 1e9:.0f} GFLOP, {vgg_flops / stages['VGG cosine'] / 1e9:.1f} GFLOP/s"
    )


if __name__ == "__main__":
    cli.run(main)
