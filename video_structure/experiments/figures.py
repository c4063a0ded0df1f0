"""The report's PNG figures, laid out as the paper's Figures 4, 5, 8 and 9.

Curves are means over seeds with their 95% interval (`statistics`); a figure
is drawn only when some run has its numbers.
"""

import os

import matplotlib
import matplotlib.ticker
import numpy as np

from video_structure import files, statistics
from video_structure.experiments import runs as runs_lib


def _curves(runs, *keys):
    """{variant: [seeds, time] array} of the per-step curves found under `keys`."""
    curves: dict[str, list[list[float]]] = {}
    for run in runs:
        curve = runs_lib.get(run, "tasks", *keys)
        if curve:
            curves.setdefault(run["variant"], []).append(
                [np.nan if v is None else v for v in curve]
            )
    return {k: np.array(v, np.float64) for k, v in curves.items()}


def _plot_mean_and_ci(axis, steps, values, label, color, style="-"):
    """Mean over seeds with a shaded 95% interval when there are several seeds.

    NaN entries (undefined values) are left out; a step without any value is a
    gap, as is the interval of a step with one value.
    """
    mean, half = statistics.nanmean_and_ci95(values, axis=0)  # [time] each
    axis.plot(steps, mean, style, color=color, label=label)
    if len(values) > 1:
        axis.fill_between(steps, mean - half, mean + half, color=color, alpha=0.2)


def _plot_tracking(axis, runs, colors):
    model = _curves(runs, "tracking", "per_step")
    baseline = _curves(runs, "tracking", "baseline_per_step")
    observed = None
    for variant, values in model.items():
        observed = runs_lib.get(
            next(r for r in runs if r["variant"] == variant),
            "tasks",
            "tracking",
            "num_observed_steps",
        )
        steps = np.arange(1, values.shape[1] + 1)
        _plot_mean_and_ci(axis, steps, values, variant, colors[variant])
        _plot_mean_and_ci(
            axis, steps, baseline[variant], f"{variant} last observed", colors[variant], "--"
        )
    if observed:
        axis.axvline(observed + 0.5, color="grey", linewidth=0.8)
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_xlabel("time step (observed | predicted)")
    axis.set_ylabel("trajectory error")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)


def plot_figures(runs, output_dir, domain_names) -> list[str]:
    """Writes the figures that the runs have numbers for.

    Args:
        runs: as for `report.table_rows`.
        output_dir: an existing directory.
        domain_names: as for `report.table_rows`; titles the panels of Figure 9.

    Returns:
        Paths of the written PNG files, of figure4_tracking.png,
        figure5_ablations.png, figure8_action.png and figure9_reward.png.
    """
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(dict.fromkeys(run["variant"] for run in runs))
    palette = plt.get_cmap("tab10")
    colors = {v: palette(i % 10) for i, v in enumerate(variants)}
    written = []

    def save(figure, name):
        path = os.path.join(output_dir, name)
        figure.tight_layout()
        files.atomic_write(path, lambda f: figure.savefig(f, dpi=110, format="png"))
        plt.close(figure)
        written.append(path)

    has_tracking = bool(_curves(runs, "tracking", "per_step"))
    if has_tracking:
        figure, axis = plt.subplots(figsize=(5.5, 4))
        axis.set_title("Figure 4: tracking by coordinate regression")
        _plot_tracking(axis, runs, colors)
        save(figure, "figure4_tracking.png")

    fvd = [
        (
            variants.index(r["variant"]),
            runs_lib.get(r, "evaluation", "results", "model", "fvd", "value"),
        )
        for r in runs
    ]
    fvd = [(i, v) for i, v in fvd if v is not None]
    if fvd or has_tracking:
        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        offsets = np.linspace(-0.15, 0.15, max(2, len(runs)))
        for k, (i, value) in enumerate(fvd):
            axes[0].plot(i + offsets[k % len(offsets)], value, "o", color=colors[variants[i]])
        axes[0].set_xticks(range(len(variants)), variants, rotation=30, ha="right", fontsize=8)
        axes[0].set_xlim(-0.5, len(variants) - 0.5)
        axes[0].set_ylabel("FVD (one dot per seed)")
        axes[0].grid(alpha=0.3)
        if has_tracking:
            _plot_tracking(axes[1], runs, colors)
        else:
            axes[1].set_axis_off()
        figure.suptitle("Figure 5: ablations")
        save(figure, "figure5_ablations.png")

    accuracy = {
        v: [runs_lib.get(r, "tasks", "action", "accuracy") for r in runs if r["variant"] == v]
        for v in variants
    }
    accuracy = {v: [a for a in values if a is not None] for v, values in accuracy.items()}
    if any(accuracy.values()):
        figure, axis = plt.subplots(figsize=(5.5, 4))
        shown = [v for v in variants if accuracy[v]]
        axis.bar(
            range(len(shown)),
            [np.mean(accuracy[v]) for v in shown],
            color=[colors[v] for v in shown],
        )
        for i, v in enumerate(shown):
            axis.plot([i] * len(accuracy[v]), accuracy[v], "k.")
        null = statistics.mean_or_none(
            [runs_lib.get(r, "tasks", "action", "null_accuracy") for r in runs]
        )
        truth = statistics.mean_or_none(
            [runs_lib.get(r, "tasks", "action", "ground_truth_accuracy") for r in runs]
        )
        if null is not None:
            axis.axhline(null, color="black", linestyle="-", label="null model")
        if truth is not None:
            axis.axhline(truth, color="black", linestyle="--", label="ground-truth positions")
        axis.set_xticks(range(len(shown)), shown, rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 1)
        axis.set_ylabel("accuracy")
        axis.set_title("Figure 8: action (domain) recognition")
        axis.legend(fontsize=7, loc="lower right")
        save(figure, "figure8_action.png")

    domains = runs_lib.domains(runs, "reward")
    if domains:
        columns = min(3, len(domains))
        lines = -(-len(domains) // columns)
        figure, axes = plt.subplots(
            lines, columns, figsize=(4 * columns, 3.2 * lines), squeeze=False
        )
        for axis, domain in zip(axes.reshape(-1), domains):
            curves = _curves(runs, "reward", "per_domain", domain, "normalized_mse_per_step")
            for variant, values in curves.items():
                steps = np.arange(1, values.shape[1] + 1)
                _plot_mean_and_ci(axis, steps, values, variant, colors[variant])
            axis.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
            axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            if not any(np.isfinite(values).any() for values in curves.values()):
                axis.text(
                    0.5,
                    0.5,
                    "undefined: the null model is exact\n(constant rewards)",
                    ha="center",
                    va="center",
                    transform=axis.transAxes,
                    fontsize=8,
                )
                axis.set_xticks([])
                axis.set_yticks([])
            axis.set_title(f"domain {runs_lib.domain_name(domain, domain_names)}", fontsize=9)
            axis.set_xlabel("time step")
            axis.set_ylabel("normalised reward MSE")
            axis.grid(alpha=0.3)
        for axis in axes.reshape(-1)[len(domains) :]:
            axis.set_axis_off()
        axes[0, 0].legend(fontsize=7)
        figure.suptitle("Figure 9: reward prediction from GRU states")
        save(figure, "figure9_reward.png")
    return written
