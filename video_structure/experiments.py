"""The paper's model comparisons (Sections 5.1-5.5, S2) from SavedModel exports.

Three steps, each usable on its own:

* `collect`: runs an export (`video_structure.export`) over one split of a
  registered dataset and returns numpy arrays: decoded keypoints of N samples,
  detected keypoints, GRU states and whatever ground truth the dataset has.
* `run_tasks`: the downstream analyses of `video_structure.downstream` on the
  collected arrays: object tracking by coordinate regression (Figure 4),
  reward prediction per domain (Figure 9) and action recognition (Figure 8).
  A task whose arrays are missing is skipped with a note, not an error.
* `write_report`: one table (markdown and CSV) over variants and seeds, with
  the mean over seeds, and PNG figures laid out as Figures 4, 5, 8 and 9.

`scripts/run_experiments.py` chains train.py, evaluate.py and these steps.

Collected arrays (S sequences, N samples, T observed + Delta T predicted steps):
  keypoints: float32 [S, N, T + Delta T, K, 3] decoded keypoints; observed
    steps are posterior reconstructions, later steps prior predictions.
  observed_keypoints: float32 [S, T + Delta T, K, 3] detector on all frames.
  states: float32 [S, T + Delta T, H] GRU states of sample 0.
  positions: float32 [S, T + Delta T, N_obj, 2] (NaN: object absent), where known.
  rewards: float32 [S, T + Delta T], where known.
  domain: int32 [S], where known.
  actions: float32 [S, T + Delta T, A], where known (fed to action-conditional
    exports).
"""

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
import tensorflow as tf

from video_structure import config as config_lib
from video_structure import downstream, files
from video_structure import export as export_lib
from video_structure.data import registry

_OPTIONAL_KEYS = ("positions", "rewards", "domain", "episode", "actions")


# ----------------------------------------------------------------------------
# Collecting model outputs.
# ----------------------------------------------------------------------------


def collect(
    export_path: str,
    dataset: str,
    split: str,
    num_sequences: int,
    num_samples: int,
    batch_size: int,
    data_dir: str | None = None,
    seed: int = 0,
    window_stride: int | None = None,
) -> dict[str, np.ndarray]:
    """Runs an export over the first `num_sequences` sequences of a split.

    The sequences are `registry.take_sequences`': the split read once, in an
    order shuffled by `seed`.

    Args:
        export_path: SavedModel directory written by train.py.
        dataset: a key of `registry.DATASETS`.
        split: "train" or "test".
        num_sequences: sequences to collect (fewer if the split is smaller).
        num_samples: N, prior samples per sequence.
        batch_size: sequences per forward pass.
        data_dir: dataset directory of file-based datasets.
        seed: seed of the sequence order and of the samples.
        window_stride: see `registry.load_split`.

    Returns:
        Dict of numpy arrays as in the module docstring.

    Raises:
        FileNotFoundError: if `export_path` does not exist.
        ValueError: for a bad export, bad sizes, a dataset whose actions do not
            fit the export, or an empty split.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    loaded, config_dict, action_size = export_lib.load(export_path)
    config = config_lib.Config.from_dict(config_dict, f"the config of {export_path}")
    observed = config.observed_steps
    batches, data_action_size = registry.take_sequences(
        dataset,
        split,
        config,
        num_sequences,
        batch_size,
        data_dir=data_dir,
        seed=seed,
        window_stride=window_stride,
    )
    if data_action_size != action_size:
        raise ValueError(
            f"The export {export_path} takes actions of size {action_size}, the "
            f"{dataset} dataset has {data_action_size}."
        )
    parts = {key: [] for key in ("keypoints", "observed_keypoints", "states") + _OPTIONAL_KEYS}
    sample_seed = tf.constant([seed, 0])
    for batch in batches:
        # [b, T + Delta T, K, 3]
        detected = loaded.detect_keypoints(batch["frames"])["keypoints"].numpy()
        inputs = [detected[:, :observed], tf.constant(num_samples), sample_seed]
        if action_size:
            inputs.append(batch["actions"])
        outputs = loaded.predict_keypoints(*inputs)
        parts["keypoints"].append(outputs["keypoints"].numpy())  # [b, N, T + Delta T, K, 3]
        parts["observed_keypoints"].append(detected)
        parts["states"].append(outputs["states"][:, 0].numpy())  # [b, T + Delta T, H]
        for key in _OPTIONAL_KEYS:
            if key in batch:
                parts[key].append(batch[key])
        sample_seed = sample_seed + tf.constant([0, 1])
    return {key: np.concatenate(value) for key, value in parts.items() if value}


# ----------------------------------------------------------------------------
# Downstream tasks.
# ----------------------------------------------------------------------------

# Best of N (footnote 3): per object where the objects are separable
# (Basketball's players, which the npz format's default preset models; the
# synthetic blobs), per sequence for articulated bodies (Human3.6M; DMCS).
DEFAULT_SELECTION = {
    "synthetic": downstream.SELECT_PER_OBJECT,
    "sprites": downstream.SELECT_PER_OBJECT,
    "npz": downstream.SELECT_PER_OBJECT,
    "dmcs": downstream.SELECT_PER_SEQUENCE,
    "videos": downstream.SELECT_PER_SEQUENCE,
}


# What the tracking regression is fitted on, as the `collect` array of the
# training sequences holding it: the detector's keypoints (default), or every
# decoded sample, whose scatter shrinks the fit (docs/fidelity.md).
FIT_ON = {"detected": "observed_keypoints", "samples": "keypoints"}
DEFAULT_FIT_ON = "detected"


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _list(values) -> list[float | None]:
    return [_finite_or_none(v) for v in np.asarray(values).reshape(-1)]


def _domain_ids(arrays) -> np.ndarray:
    """int64 [S] domain of each collected sequence; 0 for datasets without domains."""
    if "domain" in arrays:
        return np.asarray(arrays["domain"], np.int64)
    return np.zeros(len(arrays["keypoints"]), np.int64)


def tracking(
    train_arrays: Mapping[str, np.ndarray],
    test_arrays: Mapping[str, np.ndarray],
    num_observed_steps: int,
    selection: str = downstream.SELECT_PER_SEQUENCE,
    fit_on: str = DEFAULT_FIT_ON,
) -> dict[str, Any]:
    """Figure 4, fitted and scored per domain (the tracking task of `run_tasks`).

    Object n is a different body in each DMCS domain (and NaN padding where a
    domain has fewer), so each domain gets its own regression, over the objects
    present in its training positions, fitted on `train_arrays[FIT_ON[fit_on]]`.
    That one regression scores the model, the baseline and the detector alone
    (`downstream.detection_fit` on the held-out detected keypoints of every
    step: `detected_r2`, `detected_error`). The summary is the mean over
    domains.

    Args:
        train_arrays, test_arrays: `collect` outputs with `positions`.
        num_observed_steps: T.
        selection, fit_on: as `run_tasks`.

    Returns:
        A plain dict of numbers, or {"skipped": reason}.
    """
    train_domains, test_domains = _domain_ids(train_arrays), _domain_ids(test_arrays)
    results, notes = {}, []
    for domain in np.unique(test_domains):
        train, test = train_domains == domain, test_domains == domain
        if not train.any():
            notes.append(f"domain {domain} has no training sequence")
            continue
        train_positions = train_arrays["positions"][train]  # [S_d, T, N_obj, 2]
        present = ~np.all(np.isnan(train_positions[..., 0]), axis=(0, 1))  # [N_obj]
        if not present.any():
            notes.append(f"domain {domain} has no object in its training positions")
            continue
        train_positions = train_positions[:, :, present]
        test_positions = test_arrays["positions"][test][:, :, present]
        fitted = downstream.coordinate_regression(
            train_arrays[FIT_ON[fit_on]][train],
            train_positions,
            test_arrays["keypoints"][test],
            test_positions,
            num_observed_steps,
            selection=selection,
        )
        model = fitted.errors
        baseline = downstream.last_observed_baseline(
            fitted.regressor,
            test_arrays["observed_keypoints"][test],
            test_positions,
            num_observed_steps,
        )
        detected = downstream.detection_fit(
            fitted.regressor, test_arrays["observed_keypoints"][test], test_positions
        )
        counts = {
            "num_objects": int(present.sum()),
            "num_train": int(train.sum()),
            "num_test": int(test.sum()),
        }
        results[str(domain)] = (model, baseline, detected, counts)
    if not results:
        return {"skipped": "; ".join(notes)}

    def across_domains(values):
        return downstream.masked_mean(np.array(values, np.float64), axis=0)

    models = [model for model, _, _, _ in results.values()]
    baselines = [baseline for _, baseline, _, _ in results.values()]
    detections = [detected for _, _, detected, _ in results.values()]
    output = {
        "per_domain": {
            domain: {
                "per_step": _list(model.per_step),
                "baseline_per_step": _list(baseline.per_step),
                "mean_predicted": _finite_or_none(model.mean_predicted_error),
                "baseline_mean_predicted": _finite_or_none(baseline.mean_predicted_error),
                "detected_r2": _finite_or_none(detected.r_squared),
                "detected_error": _finite_or_none(detected.mean_error),
                **counts,
            }
            for domain, (model, baseline, detected, counts) in results.items()
        },
        "per_step": _list(across_domains([m.per_step for m in models])),
        "baseline_per_step": _list(across_domains([b.per_step for b in baselines])),
        "mean_predicted": _finite_or_none(across_domains([m.mean_predicted_error for m in models])),
        "baseline_mean_predicted": _finite_or_none(
            across_domains([b.mean_predicted_error for b in baselines])
        ),
        "detected_r2": _finite_or_none(across_domains([d.r_squared for d in detections])),
        "detected_error": _finite_or_none(across_domains([d.mean_error for d in detections])),
        "num_observed_steps": num_observed_steps,
        "selection": selection,
        "fit_on": fit_on,
    }
    if notes:
        output["note"] = "; ".join(notes)
    return output


def _reward(test_arrays, epochs, batch_size, seed):
    """Figure 9: per domain, 80/20 split of the collected test sequences."""
    states, rewards = test_arrays["states"], test_arrays["rewards"]
    domains = _domain_ids(test_arrays)
    # Overlapping windows of one episode stay on one side of the 80/20 split,
    # so a domain needs windows of two episodes.
    groups = (
        np.asarray(test_arrays["episode"]) if "episode" in test_arrays else np.arange(len(domains))
    )
    small = [int(d) for d in np.unique(domains) if len(np.unique(groups[domains == d])) < 2]
    keep = ~np.isin(domains, small)
    if not keep.any():
        return {"skipped": "no domain has test sequences of 2 or more episodes"}
    results = downstream.reward_prediction(
        states[keep],
        rewards[keep],
        domains[keep],
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        groups=groups[keep],
    )
    per_domain = {
        str(domain): {
            "normalized_mse": _finite_or_none(r.normalized_mse),
            "normalized_mse_per_step": _list(r.normalized_mse_per_step),
            "mse": float(r.mse),
            "null_mse": float(r.null_mse),
            "num_train": r.num_train,
            "num_test": r.num_test,
        }
        for domain, r in results.items()
    }
    finite = [v["normalized_mse"] for v in per_domain.values() if v["normalized_mse"] is not None]
    output = {
        "per_domain": per_domain,
        "mean_normalized_mse": float(np.mean(finite)) if finite else None,
    }
    if small:
        output["note"] = (
            f"domains {small} have test sequences of fewer than 2 episodes and were left out"
        )
    return output


def _action(train_arrays, test_arrays, num_observed_steps, epochs, batch_size, seed):
    """Figure 8 with the domains as classes, from the detected observed keypoints."""
    train_labels = np.asarray(train_arrays["domain"], np.int64)
    test_labels = np.asarray(test_arrays["domain"], np.int64)
    if len(np.unique(train_labels)) < 2:
        return {"skipped": "the training sequences come from fewer than 2 domains"}
    positions = {}
    note = None
    if "positions" in train_arrays and "positions" in test_arrays:
        # Absent bodies are NaN; zero stands in for them. Which bodies a domain
        # has then tells the domain, so this reference is an upper bound.
        positions = {
            "train_positions": np.nan_to_num(train_arrays["positions"]),
            "test_positions": np.nan_to_num(test_arrays["positions"]),
        }
        note = "ground truth: positions with absent objects set to 0"
    result = downstream.action_recognition(
        train_arrays["observed_keypoints"],
        train_labels,
        test_arrays["observed_keypoints"],
        test_labels,
        num_classes=int(max(train_labels.max(), test_labels.max())) + 1,
        num_steps=num_observed_steps,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        **positions,
    )
    output = {
        "accuracy": result.accuracy,
        "null_accuracy": result.null_accuracy,
        "ground_truth_accuracy": result.ground_truth_accuracy,
        "num_classes": result.num_classes,
        "num_train": len(train_labels),
        "num_test": len(test_labels),
    }
    if note:
        output["note"] = note
    return output


def run_tasks(
    train_arrays: Mapping[str, np.ndarray],
    test_arrays: Mapping[str, np.ndarray],
    num_observed_steps: int,
    epochs: int = 100,
    reward_batch_size: int = 64,
    action_batch_size: int = 32,
    selection: str = downstream.SELECT_PER_SEQUENCE,
    fit_on: str = DEFAULT_FIT_ON,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Runs the downstream tasks that the arrays allow.

    * tracking (Figure 4), per domain: a linear regression from the detected
      keypoints of every step of `train_arrays` (or, with fit_on="samples",
      the decoded keypoints of every sample and step) to the positions, scored
      on `test_arrays` as the error of the best of N samples on the predicted
      steps; next to the baseline without dynamics, the detected keypoints of
      the last observed step held, scored through the same regression.
      Per-domain numbers and their mean over domains.
    * reward (Figure 9): one reward model per domain on the GRU states of the
      test sequences, trained on 80% and scored on 20% as in Section S2.3.
    * action (Figure 8): the domain of a sequence (DMCS) classified from the
      detected keypoints of its observed steps; trained on `train_arrays`,
      scored on `test_arrays`; with the null model (most frequent training
      class) and the classifier on ground-truth positions.

    Args:
        train_arrays: `collect` output of the train split.
        test_arrays: `collect` output of the test split.
        num_observed_steps: T.
        epochs: training epochs of the reward and action models (100 in the
            paper's Section S2.2).
        reward_batch_size: sequences per batch of the reward models.
        action_batch_size: sequences per batch of the action classifier.
        selection: best-sample selection of the tracking task, per sequence
            (`downstream.SELECT_PER_SEQUENCE`) or per object; see
            `DEFAULT_SELECTION`.
        fit_on: a key of `FIT_ON`: what the tracking regression is fitted on.
        seed: seed of splits and initialisations.

    Returns:
        {"tracking": ..., "reward": ..., "action": ...}: plain dicts of numbers
        (None for undefined values); a skipped task is {"skipped": reason}.

    Raises:
        ValueError: for an unknown `fit_on` or arrays that the tasks reject (see
            `downstream`).
    """
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on must be one of {sorted(FIT_ON)}, got {fit_on!r}.")
    for name, arrays in (("train_arrays", train_arrays), ("test_arrays", test_arrays)):
        missing = [k for k in ("keypoints", "observed_keypoints", "states") if k not in arrays]
        if missing:
            raise ValueError(f"{name} lacks {missing}; pass the output of collect().")

    def both(key):
        return key in train_arrays and key in test_arrays

    results = {}
    results["tracking"] = (
        tracking(train_arrays, test_arrays, num_observed_steps, selection, fit_on)
        if both("positions")
        else {"skipped": "the dataset has no ground-truth positions"}
    )
    results["reward"] = (
        _reward(test_arrays, epochs, reward_batch_size, seed)
        if "rewards" in test_arrays
        else {"skipped": "the dataset has no rewards"}
    )
    results["action"] = (
        _action(train_arrays, test_arrays, num_observed_steps, epochs, action_batch_size, seed)
        if both("domain")
        else {"skipped": "the dataset has no domain labels"}
    )
    return results


# ----------------------------------------------------------------------------
# Runner support.
# ----------------------------------------------------------------------------

# Schedules given in steps that S1.2 sets for 1e5 training steps.
_SCHEDULES = ("kl_annealing_steps", "lr_decay_steps")


def scaled_schedules(preset: config_lib.Config, steps: int) -> dict[str, int]:
    """The step schedules of `preset` stretched to a run of `steps` steps.

    S1.2 anneals beta over 2.5e4 and halves the learning rate every 3e4 of 1e5
    steps. A shorter run keeps these fractions of its length; unscaled, a
    300-step run would end with beta at 1% of its value and the learning rate
    never decayed. The scheduled-sampling ramp already spans the whole run.

    Args:
        preset: the hyperparameters the run starts from.
        steps: training steps of the run.

    Returns:
        {"kl_annealing_steps": ..., "lr_decay_steps": ...} for a run shorter
        than preset.num_steps; {} otherwise (the preset's values stand).
    """
    if steps >= preset.num_steps:
        return {}
    scaled = {name: round(getattr(preset, name) * steps / preset.num_steps) for name in _SCHEDULES}
    scaled["lr_decay_steps"] = max(1, scaled["lr_decay_steps"])
    return scaled


def load_if_current(
    path: str, settings: Mapping[str, Any], trained_step: int
) -> dict[str, Any] | None:
    """The runner's JSON output at `path` if it is up to date, else None.

    Up to date means written from a model at `trained_step` with equal
    `settings`, both stored under its "runner" key.

    Args:
        path: metrics.json or tasks.json of a run.
        settings: the settings that the output depends on (JSON values).
        trained_step: the training step of the model now exported.

    Returns:
        The parsed JSON, or None if `path` is missing or out of date.
    """
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    stored = data.get("runner") or {}
    # A JSON round trip makes the comparison exact (tuples become lists).
    current = json.loads(json.dumps({"settings": settings, "trained_step": trained_step}))
    if {key: stored.get(key) for key in current} != current:
        return None
    return data


# ----------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------


def _write_text(path: str, text: str) -> None:
    files.atomic_write(path, lambda f: f.write(text), mode="w")


def _get(tree, *keys):
    """tree[k0][k1]...; None where a level is missing or None."""
    for key in keys:
        if not isinstance(tree, Mapping) or tree.get(key) is None:
            return None
        tree = tree[key]
    return tree


def _mean_of(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _domains(runs, task) -> list[str]:
    """Domain ids (strings) with numbers of `task` in some run."""
    found = set()
    for run in runs:
        found.update((_get(run, "tasks", task, "per_domain") or {}).keys())
    return sorted(found, key=int)


def _domain_name(domain: str, domain_names: Sequence[str] | None) -> str:
    """The name of domain id `domain` (a string) where known, else the id."""
    index = int(domain)
    return domain_names[index] if domain_names and index < len(domain_names) else domain


def table_rows(
    runs: Sequence[Mapping[str, Any]], domain_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The report's rows: one per run, then one mean over seeds per variant.

    Args:
        runs: one dict per trained model with "variant" (str), "seed" (int),
            "evaluation" (the dict of evaluate.py's metrics.json, or None),
            "tasks" (the output of `run_tasks`) and optionally "trained_step"
            (int) and "wall_time_s" ({"train", "evaluate", "tasks"}: seconds).
        domain_names: names of the domain ids (e.g. "cartpole/balance"), used
            in the reward columns; ids where None.

    Returns:
        Rows in variant order of first appearance; `seed` is "mean" in the
        mean rows. Missing values are None.
    """
    domains = _domains(runs, "reward")
    # One tracking domain is the dataset itself: its column would repeat tracking_error.
    tracking_domains = _domains(runs, "tracking")
    if len(tracking_domains) < 2:
        tracking_domains = []
    rows_by_variant: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        results = _get(run, "evaluation", "results")
        vgg = {
            key: _get(results, "model", "vgg_cosine", key, "mean")
            for key in ("closest", "furthest")
        }
        tasks = run.get("tasks") or {}
        row = {
            "variant": run["variant"],
            "seed": run["seed"],
            "steps": run.get("trained_step"),
            "fvd": _get(results, "model", "fvd", "value"),
            "fvd_n": _get(results, "model", "fvd", "num_generated"),
            "samples": _get(run, "evaluation", "settings", "num_samples"),
            "vgg_closest": _mean_of(vgg["closest"]) if vgg["closest"] else None,
            "vgg_furthest": _mean_of(vgg["furthest"]) if vgg["furthest"] else None,
            "tracking_error": _get(tasks, "tracking", "mean_predicted"),
            "tracking_last_observed": _get(tasks, "tracking", "baseline_mean_predicted"),
        }
        for domain in tracking_domains:
            name = _domain_name(domain, domain_names)
            row[f"tracking_error_{name}"] = _get(
                tasks, "tracking", "per_domain", domain, "mean_predicted"
            )
            row[f"tracking_last_observed_{name}"] = _get(
                tasks, "tracking", "per_domain", domain, "baseline_mean_predicted"
            )
        for domain in domains:
            name = _domain_name(domain, domain_names)
            row[f"reward_nmse_{name}"] = _get(
                tasks, "reward", "per_domain", domain, "normalized_mse"
            )
        row["reward_nmse_mean"] = _get(tasks, "reward", "mean_normalized_mse")
        row["action_accuracy"] = _get(tasks, "action", "accuracy")
        row["action_null"] = _get(tasks, "action", "null_accuracy")
        row["action_ground_truth"] = _get(tasks, "action", "ground_truth_accuracy")
        for stage in ("train", "evaluate", "tasks"):
            row[f"{stage}_s"] = _get(run, "wall_time_s", stage)
        rows_by_variant.setdefault(run["variant"], []).append(row)
    rows = []
    for variant, variant_rows in rows_by_variant.items():
        rows.extend(variant_rows)
        mean = {"variant": variant, "seed": "mean"}
        for column in variant_rows[0]:
            if column not in mean:
                mean[column] = _mean_of([r[column] for r in variant_rows])
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
        elif _get(run, "evaluation", "results", "model", "fvd") is None:
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

    figures = _plot_figures(runs, output_dir, domain_names)
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
    if figures:
        lines += ["", "Figures:", ""]
        lines += [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in figures]
    markdown_path = os.path.join(output_dir, "results.md")
    _write_text(markdown_path, "\n".join(lines) + "\n")
    return written + [markdown_path] + figures


def _curves(runs, *keys):
    """{variant: [seeds, time] array} of the per-step curves found under `keys`."""
    curves: dict[str, list[list[float]]] = {}
    for run in runs:
        curve = _get(run, "tasks", *keys)
        if curve:
            curves.setdefault(run["variant"], []).append(
                [np.nan if v is None else v for v in curve]
            )
    return {k: np.array(v, np.float64) for k, v in curves.items()}


def _plot_mean_and_ci(axis, steps, values, label, color, style="-"):
    """Mean over seeds with a shaded 95% interval when there are several seeds.

    NaN entries (undefined values) are left out; a step without any value is a gap.
    """
    mean = downstream.masked_mean(values, axis=0)  # [time]
    axis.plot(steps, mean, style, color=color, label=label)
    if len(values) > 1:
        count = np.sum(~np.isnan(values), axis=0)  # [time]
        # Unbiased variance; undefined (NaN) with fewer than two values.
        variance = (
            downstream.masked_mean((values - mean) ** 2, axis=0)
            * count
            / np.where(count > 1, count - 1, np.nan)
        )
        half = 1.96 * np.sqrt(variance / count)
        axis.fill_between(steps, mean - half, mean + half, color=color, alpha=0.2)


def _plot_tracking(axis, runs, colors):
    model = _curves(runs, "tracking", "per_step")
    baseline = _curves(runs, "tracking", "baseline_per_step")
    observed = None
    for variant, values in model.items():
        observed = _get(
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


def _plot_figures(runs, output_dir, domain_names) -> list[str]:
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
        (variants.index(r["variant"]), _get(r, "evaluation", "results", "model", "fvd", "value"))
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
        v: [_get(r, "tasks", "action", "accuracy") for r in runs if r["variant"] == v]
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
        null = _mean_of([_get(r, "tasks", "action", "null_accuracy") for r in runs])
        truth = _mean_of([_get(r, "tasks", "action", "ground_truth_accuracy") for r in runs])
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

    domains = _domains(runs, "reward")
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
            axis.set_title(f"domain {_domain_name(domain, domain_names)}", fontsize=9)
            axis.set_xlabel("time step")
            axis.set_ylabel("normalised reward MSE")
            axis.grid(alpha=0.3)
        for axis in axes.reshape(-1)[len(domains) :]:
            axis.set_axis_off()
        axes[0, 0].legend(fontsize=7)
        figure.suptitle("Figure 9: reward prediction from GRU states")
        save(figure, "figure9_reward.png")
    return written
