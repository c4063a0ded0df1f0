"""Pictures of Section 5.4 from exports: Figures 6 (counterfactual trajectories), 7 (re-rendered
frames) and S3 (sample diversity per model), written by scripts/explore.py.

`make_figures` reads test sequences of a registered dataset, runs the exports'
signatures through `manipulation` and writes three PNGs. Trajectories are
drawn over the sequence's first frame in keypoint coordinates (x, y in
[-1, 1], y up): observed steps light, predicted steps dark, a cross at the
start and a dot at the end.
"""

import dataclasses
import os
from collections.abc import Sequence

import matplotlib
import numpy as np

from video_structure import config as config_lib
from video_structure import export as export_lib
from video_structure import files, manipulation, visualize
from video_structure.data import loading
from video_structure.downstream import diversity as diversity_lib

_EXTENT = (-1.0, 1.0, -1.0, 1.0)  # The image in keypoint coordinates, y up.
_OBSERVED_ALPHA = 0.3
# Keypoints with a mean mu below this are inactive: not drawn, not matched to objects.
_MIN_SCALE = 0.05


@dataclasses.dataclass(frozen=True)
class Export:
    """A loaded export with the test sequences it is explored on.

    Attributes:
        label: its name in the figures.
        loaded: the SavedModel.
        config: its hyperparameters.
        sequences: the test sequences, `loading.take_sequences` batches
            concatenated: "frames" [S, T + Delta T, H, W, C] and, where the
            dataset has them, "positions" [S, T + Delta T, N, 2] and "actions".
    """

    label: str
    loaded: object
    config: config_lib.Config
    sequences: dict[str, np.ndarray]


def load_export(
    label: str, path: str, dataset: str, num_sequences: int, data_dir: str | None = None
) -> Export:
    """Loads an export and the first `num_sequences` test sequences of `dataset` for it.

    Raises:
        FileNotFoundError, ValueError: for a bad export or dataset, as
            `export.load` and `loading.take_sequences`.
    """
    loaded, config_dict, action_size = export_lib.load(path)
    config = config_lib.Config.from_dict(config_dict, f"the config of {path}")
    batches, data_action_size = loading.take_sequences(
        dataset, "test", config, num_sequences, min(num_sequences, 16), data_dir=data_dir
    )
    if data_action_size != action_size:
        raise ValueError(
            f"The export {path} takes actions of size {action_size}, the {dataset} "
            f"dataset has {data_action_size}."
        )
    batches = list(batches)
    keys = [k for k in ("frames", "positions", "actions") if k in batches[0]]
    sequences = {k: np.concatenate([b[k] for b in batches]) for k in keys}
    if not action_size:
        sequences.pop("actions", None)
    return Export(label, loaded, config, sequences)


def check_sequence_index(explored: Export, index) -> None:
    """Raises ValueError unless `index` is an int naming one of `explored`'s test sequences."""
    count = len(explored.sequences["frames"])
    if type(index) is not int:
        raise ValueError(f"a sequence index is an int, got {index!r}.")
    if not 0 <= index < count:
        raise ValueError(f"sequence {index} is out of range: {count} test sequences are loaded.")


def sequence(explored: Export, index: int) -> dict[str, np.ndarray]:
    """Test sequence `index` as a batch of one, with its detected keypoints "keypoints"."""
    check_sequence_index(explored, index)
    batch = {k: v[index : index + 1] for k, v in explored.sequences.items()}
    batch["keypoints"] = manipulation.detect(explored.loaded, batch["frames"])  # [1, T+DT, K, 3]
    return batch


def _background(axis, frame):
    image = visualize.to_uint8(frame)
    axis.imshow(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image, extent=_EXTENT)
    axis.set_xlim(-1, 1)
    axis.set_ylim(-1, 1)
    axis.set_xticks([])
    axis.set_yticks([])


def _trajectory(axis, xy, observed, color, width=1.0):
    """One trajectory [time, 2]: observed steps light, predicted dark, start cross, end dot."""
    axis.plot(*xy[: observed + 1].T, color=color, alpha=_OBSERVED_ALPHA, linewidth=width)
    axis.plot(*xy[observed:].T, color=color, linewidth=width)
    axis.plot(*xy[0], "x", color=color, markersize=5)
    axis.plot(*xy[-1], "o", color=color, markersize=3)


def _save(figure, path):
    import matplotlib.pyplot as plt

    figure.tight_layout()
    files.atomic_write(
        path, lambda f: figure.savefig(f, dpi=110, format="png", bbox_inches="tight")
    )
    plt.close(figure)


def counterfactual_figure(
    frame: np.ndarray,
    initial: np.ndarray,
    original: np.ndarray,
    manipulated: np.ndarray,
    moved: Sequence[int],
    offset: Sequence[float],
    observed: int,
    path: str,
    min_scale: float = _MIN_SCALE,
) -> None:
    """Figure 6: the samples' trajectories from the original and the moved observed keypoints.

    As in the paper: original trajectories blue, manipulated red, every
    sample a line; black crosses at the initial positions, a black arrow for
    the move.

    Args:
        frame: [H, W, C] the background (the first observed frame).
        initial: [K, 3] the keypoints detected in it, before the move.
        original, manipulated: [N, T + Delta T, K, 3] decoded keypoints of the two rollouts.
        moved: indices of the moved keypoints.
        offset: (dx, dy) the move.
        observed: T.
        path: the PNG to write.
        min_scale: keypoints whose mean mu is below this are left out (the moved ones never).
    """
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    active = original[..., 2].mean(axis=(0, 1)) >= min_scale
    active[list(moved)] = True
    figure, axis = plt.subplots(figsize=(5, 5.3))
    _background(axis, frame)
    for keypoints, color in ((original, "tab:blue"), (manipulated, "tab:red")):
        for k in np.flatnonzero(active):
            for sample in keypoints:
                _trajectory(axis, sample[:, k, :2], observed, color, 1.6 if k in moved else 0.8)
    for k in np.flatnonzero(active):
        axis.plot(*initial[k, :2], "x", color="black", markersize=7)
    for k in moved:
        axis.annotate(
            "",
            xy=tuple(initial[k, :2] + np.asarray(offset)),
            xytext=tuple(initial[k, :2]),
            arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 1.5},
        )
    axis.set_title(
        f"keypoint {', '.join(map(str, moved))} moved by ({offset[0]:g}, {offset[1]:g}): "
        f"original (blue), moved (red)",
        fontsize=9,
    )
    _save(figure, path)


def rerender_figure(
    original_frames: np.ndarray,
    moved_frames: np.ndarray,
    original_keypoints: np.ndarray,
    moved_keypoints: np.ndarray,
    path: str,
) -> None:
    """Figure 7: frames rendered from the detected and the moved keypoints, and |difference|.

    Args:
        original_frames, moved_frames: [time, H, W, C] rendered frames.
        original_keypoints, moved_keypoints: [time, K, 3] the keypoints they were rendered from.
        path: the PNG to write.
    """
    difference = np.abs(moved_frames - original_frames).mean(axis=-1, keepdims=True)  # [t, H, W, 1]
    # Scaled to its maximum, so that a small local change is visible; where it is zero stays black.
    difference = np.repeat(difference / max(float(difference.max()), 1e-6), 3, axis=-1)
    rows = [
        visualize.draw_keypoints(original_frames, original_keypoints, scale=2),
        visualize.draw_keypoints(moved_frames, moved_keypoints, scale=2),
        visualize.draw_keypoints(difference, moved_keypoints, scale=2, min_scale=np.inf),
    ]
    visualize.save_png(visualize.grid(rows), path)


def diversity_figure(panels: Sequence[dict], observed: int, path: str) -> None:
    """Figure S3: the sampled trajectories of each object's keypoint against the true one.

    Args:
        panels: one dict per model: "label", "frame" [H, W, C], "samples"
            [N, T + Delta T, N_obj, 2] the matched keypoints' trajectories,
            "positions" [T + Delta T, N_obj, 2] the true ones, "diversity" float.
        observed: T.
        path: the PNG to write.
    """
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.3), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        _background(axis, panel["frame"])
        colors = visualize.palette(panel["positions"].shape[1]) / 255.0
        for n, color in enumerate(colors):
            for sample in panel["samples"]:
                _trajectory(axis, sample[:, n], observed, color, 0.7)
            axis.plot(*panel["positions"][:, n].T, "--", color="black", linewidth=1.5)
        axis.set_title(f"{panel['label']}\ndiversity {panel['diversity']:.3f}", fontsize=9)
    _save(figure, path)


def make_figures(
    exports: Sequence[Export],
    sequence_index: int,
    output_dir: str,
    keypoints: Sequence[int] | None = None,
    point: Sequence[float] | None = None,
    offset: Sequence[float] = (0.3, 0.0),
    num_samples: int = 5,
    diversity_samples: int = 20,
    seed: int = 0,
) -> tuple[list[str], list[int]]:
    """Writes figure6_counterfactual.png and figure7_rerender.png of the first export, and
    figureS3_diversity.png of all of them (where the dataset has positions).

    Args:
        exports: from `load_export`; the first is manipulated.
        sequence_index: the test sequence.
        output_dir: directory, created if needed.
        keypoints: indices of the keypoints to move; default the `point`'s nearest.
        point: (x, y); the nearest active keypoint of the first frame is moved.
            Without `keypoints` and `point`: the keypoint best matching object
            0 where the dataset has positions, else the one with the largest mu.
        offset: (dx, dy) the move, over every observed (Figure 6) or every (Figure 7) step.
        num_samples: samples of Figure 6.
        diversity_samples: samples per object of Figure S3 (20 in the paper).
        seed: the stateless seed of the samples.

    Returns:
        (the written paths, the moved keypoints).
    """
    os.makedirs(output_dir, exist_ok=True)
    first = exports[0]
    batch = sequence(first, sequence_index)
    observed = first.config.observed_steps
    detected = batch["keypoints"]  # [1, T + Delta T, K, 3]
    if keypoints is None:
        if point is not None:
            keypoints = manipulation.nearest_keypoints(detected[0, 0], point)
        elif "positions" in first.sequences:
            matched = manipulation.match_objects(
                manipulation.detect(first.loaded, first.sequences["frames"]),
                first.sequences["positions"][:, :, :1],
                _MIN_SCALE,
            )
            keypoints = [k for k in matched if k >= 0]
        keypoints = keypoints or [int(np.argmax(detected[0, 0, :, 2]))]
    keypoints = [int(k) for k in keypoints]
    actions = batch.get("actions")
    rollouts = manipulation.counterfactual(
        first.loaded,
        detected[:, :observed],
        manipulation.translate(detected[:, :observed], keypoints, offset),
        num_samples,
        (seed, 0),
        actions,
    )
    written = [os.path.join(output_dir, "figure6_counterfactual.png")]
    counterfactual_figure(
        batch["frames"][0, 0],
        detected[0, 0],
        rollouts["original"][0],
        rollouts["manipulated"][0],
        keypoints,
        offset,
        observed,
        written[-1],
    )
    moved = manipulation.translate(detected, keypoints, offset)
    frames = manipulation.render(
        first.loaded,
        np.concatenate([detected, moved]),
        np.repeat(batch["frames"][:, 0], 2, 0),
        np.repeat(detected[:, 0], 2, 0),
    )
    written.append(os.path.join(output_dir, "figure7_rerender.png"))
    rerender_figure(frames[0], frames[1], detected[0], moved[0], written[-1])
    if "positions" in first.sequences:
        panels = []
        for explored in exports:
            batch = sequence(explored, sequence_index)
            steps = explored.config.observed_steps
            matched = manipulation.match_objects(
                manipulation.detect(explored.loaded, explored.sequences["frames"]),
                explored.sequences["positions"],
                _MIN_SCALE,
            )
            samples = manipulation.predict(
                explored.loaded,
                batch["keypoints"][:, :steps],
                diversity_samples,
                (seed, 0),
                batch.get("actions"),
            )  # [1, N, T + Delta T, K, 3]
            positions = batch["positions"][0]  # [T + Delta T, N_obj, 2]
            shown = (matched >= 0) & ~np.all(np.isnan(positions[..., 0]), axis=0)
            panels.append(
                {
                    "label": explored.label,
                    "frame": batch["frames"][0, 0],
                    "samples": samples[0][:, :, matched[shown], :2],
                    "positions": positions[:, shown],
                    "diversity": diversity_lib.sample_diversity(samples, steps).mean,
                }
            )
        written.append(os.path.join(output_dir, "figureS3_diversity.png"))
        diversity_figure(panels, observed, written[-1])
    return written, keypoints
