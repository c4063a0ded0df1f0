"""What an evaluation shows: metrics.png, the sample strip and the console summary.

Reads the results of `evaluation.evaluate` (metrics.json's "results").
"""

import json
import os

import numpy as np

from video_structure import files, similarity, visualize


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """Repeats grayscale frames [..., 1] over three channels; RGB passes through."""
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def plot(results, predicted_steps: int, observed_steps: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    steps = np.arange(observed_steps + 1, observed_steps + predicted_steps + 1)
    figure, axes = plt.subplots(
        1, len(similarity.FRAME_METRICS), figsize=(4.2 * len(similarity.FRAME_METRICS), 3.4)
    )
    names = {"vgg_cosine": "VGG cosine similarity", "ssim": "SSIM", "psnr": "PSNR (dB)"}
    for axis, metric in zip(axes, similarity.FRAME_METRICS):
        for key, label, style in [
            ("closest", "Struct-VRNN closest", "-"),
            ("furthest", "Struct-VRNN furthest", "--"),
            ("repeat_last", "repeat last frame", ":"),
        ]:
            summary = (
                results["repeat_last"][metric]
                if key == "repeat_last"
                else results["model"][metric][key]
            )
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


def write_pictures(results, strip, observed, predicted, output_dir):
    """metrics.png, and samples.png / samples.gif of the strip, in output_dir."""
    plot(results, predicted, observed, os.path.join(output_dir, "metrics.png"))
    # Nearest-neighbour upscaling keeps 64x64 frames visible.
    rows = [
        np.repeat(np.repeat(visualize.to_uint8(to_rgb(row)), 4, axis=1), 4, axis=2) for row in strip
    ]
    colors = [(0, 200, 0)] * observed + [(220, 0, 0)] * predicted
    visualize.save_png(
        visualize.grid(rows, border=2, border_colors=colors),
        os.path.join(output_dir, "samples.png"),
    )
    visualize.save_gif(
        np.concatenate(rows, axis=2),  # [time, H, 3 W, C]
        os.path.join(output_dir, "samples.gif"),
    )


def summary_lines(report, output_dir):
    """The console summary of a report: FVD rows, each frame metric's means, the outputs."""
    results = report["results"]
    lines = [
        json.dumps({k: {m: v for m, v in r.items() if m == "fvd"} for k, r in results.items()})
    ]
    for m in similarity.FRAME_METRICS:
        closest = np.mean(results["model"][m]["closest"]["mean"])
        furthest = np.mean(results["model"][m]["furthest"]["mean"])
        baseline = np.mean(results["repeat_last"][m]["mean"])
        lines.append(
            f"{m}: closest {closest:.4f}, furthest {furthest:.4f}, repeat last {baseline:.4f}"
        )
    lines.append(
        f"Wrote {output_dir}/metrics.json, metrics.png, samples.png, samples.gif in "
        f"{report['wall_time_s']:.0f} s."
    )
    return lines
