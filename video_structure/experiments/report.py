"""The comparison table of the runs: results.md and results.csv, with the figures.

`table_rows` has one row per run (variant and seed) and one mean over seeds
per variant; `write_report` writes them as markdown and CSV, with the column
explanations `COLUMN_HELP`, notes on skipped tasks and the figures of
`figures.plot_figures`.
"""

import csv
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from video_structure import files, statistics
from video_structure.experiments import figures
from video_structure.experiments import runs as runs_lib


def _write_text(path: str, text: str) -> None:
    files.atomic_write(path, lambda f: f.write(text), mode="w")


def table_rows(
    runs: Sequence[Mapping[str, Any]], domain_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The report's rows: one per run, then one mean over seeds per variant.

    Args:
        runs: one dict per trained model with "variant" (str), "seed" (int),
            "evaluation" (the dict of evaluate.py's metrics.json, or None),
            "tasks" (the output of `tasks.run_tasks`) and optionally "trained_step"
            (int) and "wall_time_s" ({"train", "evaluate", "tasks"}: seconds).
        domain_names: names of the domain ids (e.g. "cartpole/balance"), used
            in the reward columns; ids where None.

    Returns:
        Rows in variant order of first appearance; `seed` is "mean" in the
        mean rows. Missing values are None.
    """
    domains = runs_lib.domains(runs, "reward")
    # One tracking domain is the dataset itself: its column would repeat tracking_error.
    tracking_domains = runs_lib.domains(runs, "tracking")
    if len(tracking_domains) < 2:
        tracking_domains = []
    rows_by_variant: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        results = runs_lib.get(run, "evaluation", "results")
        vgg = {
            key: runs_lib.get(results, "model", "vgg_cosine", key, "mean")
            for key in ("closest", "furthest")
        }
        tasks = run.get("tasks") or {}
        row = {
            "variant": run["variant"],
            "seed": run["seed"],
            "steps": run.get("trained_step"),
            "fvd": runs_lib.get(results, "model", "fvd", "value"),
            "fvd_n": runs_lib.get(results, "model", "fvd", "num_generated"),
            "samples": runs_lib.get(run, "evaluation", "settings", "num_samples"),
            "vgg_closest": statistics.mean_or_none(vgg["closest"]) if vgg["closest"] else None,
            "vgg_furthest": statistics.mean_or_none(vgg["furthest"]) if vgg["furthest"] else None,
            "tracking_error": runs_lib.get(tasks, "tracking", "mean_predicted"),
            "tracking_last_observed": runs_lib.get(tasks, "tracking", "baseline_mean_predicted"),
        }
        for domain in tracking_domains:
            name = runs_lib.domain_name(domain, domain_names)
            row[f"tracking_error_{name}"] = runs_lib.get(
                tasks, "tracking", "per_domain", domain, "mean_predicted"
            )
            row[f"tracking_last_observed_{name}"] = runs_lib.get(
                tasks, "tracking", "per_domain", domain, "baseline_mean_predicted"
            )
        for domain in domains:
            name = runs_lib.domain_name(domain, domain_names)
            row[f"reward_nmse_{name}"] = runs_lib.get(
                tasks, "reward", "per_domain", domain, "normalized_mse"
            )
        row["reward_nmse_mean"] = runs_lib.get(tasks, "reward", "mean_normalized_mse")
        row["action_accuracy"] = runs_lib.get(tasks, "action", "accuracy")
        row["action_null"] = runs_lib.get(tasks, "action", "null_accuracy")
        row["action_ground_truth"] = runs_lib.get(tasks, "action", "ground_truth_accuracy")
        row["diversity"] = runs_lib.get(tasks, "diversity", "mean_pairwise_distance")
        for stage in ("train", "evaluate", "tasks"):
            row[f"{stage}_s"] = runs_lib.get(run, "wall_time_s", stage)
        rows_by_variant.setdefault(run["variant"], []).append(row)
    rows = []
    for variant, variant_rows in rows_by_variant.items():
        rows.extend(variant_rows)
        mean = {"variant": variant, "seed": "mean"}
        for column in variant_rows[0]:
            if column not in mean:
                mean[column] = statistics.mean_or_none([r[column] for r in variant_rows])
        rows.append(mean)
    return rows


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _notes(runs) -> list[str]:
    notes = []
    for run in runs:
        name = f"{run['variant']} seed {run['seed']}"
        if run.get("evaluation") is None:
            notes.append(f"{name}: no evaluate.py metrics.")
        elif runs_lib.get(run, "evaluation", "results", "model", "fvd") is None:
            notes.append(f"{name}: FVD not computed (evaluate.py --nofvd).")
        for task, result in (run.get("tasks") or {}).items():
            for key in ("skipped", "note"):
                if result.get(key):
                    notes.append(f"{name}: {task} {key}: {result[key]}.")
    return notes


COLUMN_HELP = {
    "fvd": "FVD of T observed + Delta T predicted frames vs. ground truth (lower is better)",
    "fvd_n": "generated videos entering FVD",
    "samples": "N, samples per sequence of the closest/furthest selection",
    "vgg_closest": "VGG cosine similarity of the closest of N samples, mean over predicted steps",
    "vgg_furthest": "the same for the furthest sample",
    "steps": "training steps of the model",
    "tracking_error": "coordinate regression error of the best of N samples, mean over "
    "predicted steps and domains (Figure 4); tracking_error_<d>: domain d. "
    "The regression is fitted on the training split's detected keypoints "
    "(--tracking_fit_on=samples: on its decoded samples)",
    "tracking_last_observed": "the same without dynamics: the detected keypoints of the last "
    "observed step held, through the same regression",
    "reward_nmse_<d>": "reward MSE / null-model MSE of domain d on 20% held-out test "
    "sequences (Figure 9); _mean: mean over domains",
    "action_accuracy": "classifying the domain from observed keypoints (Figure 8); "
    "_null: most frequent class; _ground_truth: from true positions",
    "diversity": "mean pairwise distance between the N predicted keypoint trajectories "
    "of a test sequence (Figure S3), over predicted steps, keypoints, pairs and sequences, "
    "in keypoint coordinates (the image spans 2); 0 for a deterministic model",
    "train_s, evaluate_s, tasks_s": "wall time of training (summed over resumed runs), "
    "evaluate.py and collection plus tasks, in seconds",
}


def write_report(
    runs: Sequence[Mapping[str, Any]], output_dir: str, domain_names: Sequence[str] | None = None
) -> list[str]:
    """Writes the comparison table and figures.

    Outputs in `output_dir`: results.md and results.csv (the rows of
    `table_rows`), figure4_tracking.png, figure5_ablations.png,
    figure8_action.png and figure9_reward.png, each only when some run has
    its numbers.

    Args:
        runs: as for `table_rows`.
        output_dir: directory, created if needed.
        domain_names: as for `table_rows`; also titles the panels of Figure 9.

    Returns:
        Paths of the written files.

    Raises:
        ValueError: if `runs` is empty.
    """
    if not runs:
        raise ValueError("write_report needs at least one run.")
    os.makedirs(output_dir, exist_ok=True)
    rows = table_rows(runs, domain_names)
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_format(row[c]) for c in columns])
    csv_path = os.path.join(output_dir, "results.csv")
    _write_text(csv_path, buffer.getvalue())
    written = [csv_path]

    figure_paths = figures.plot_figures(runs, output_dir, domain_names)
    lines = [
        "# Struct-VRNN comparisons",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [_format(row[c]) for c in columns]
        if row["seed"] == "mean":
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Columns:", ""]
    lines += [f"* `{name}`: {text}." for name, text in COLUMN_HELP.items()]
    notes = _notes(runs)
    if notes:
        lines += ["", "Notes:", ""] + [f"* {note}" for note in notes]
    if figure_paths:
        lines += ["", "Figures:", ""]
        lines += [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in figure_paths]
    markdown_path = os.path.join(output_dir, "results.md")
    _write_text(markdown_path, "\n".join(lines) + "\n")
    return written + [markdown_path] + figure_paths
