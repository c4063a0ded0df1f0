"""The downstream tasks of `video_structure.downstream` on `collection.collect`'s arrays.

`run_tasks` runs those that the arrays allow: tracking (Figure 4, `tracking`),
reward prediction (Figure 9), action recognition (Figure 8) and the diversity
of the samples (Figure S3, `diversity`), and returns plain dicts of numbers
for tasks.json (None for undefined values).
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from video_structure import statistics
from video_structure.downstream import action as action_lib
from video_structure.downstream import diversity as diversity_lib
from video_structure.downstream import reward as reward_lib
from video_structure.downstream import tracking as tracking_lib

# What the tracking regression is fitted on, as the `collection.collect` array of the
# training sequences holding it: the detector's keypoints (default), or every
# decoded sample, whose scatter shrinks the fit (docs/fidelity.md).
FIT_ON = {"detected": "observed_keypoints", "samples": "keypoints"}
DEFAULT_FIT_ON = "detected"
# The keys of `run_tasks`' results; the runner stores them with a run's tasks.json,
# so that an output written before a task was added is not reused.
TASKS = ("tracking", "reward", "action", "diversity")


def _domain_ids(arrays) -> np.ndarray:
    """int64 [S] domain of each collected sequence; 0 for datasets without domains."""
    if "domain" in arrays:
        return np.asarray(arrays["domain"], np.int64)
    return np.zeros(len(arrays["keypoints"]), np.int64)


def tracking(
    train_arrays: Mapping[str, np.ndarray],
    test_arrays: Mapping[str, np.ndarray],
    num_observed_steps: int,
    selection: str = tracking_lib.SELECT_PER_SEQUENCE,
    fit_on: str = DEFAULT_FIT_ON,
) -> dict[str, Any]:
    """Figure 4, fitted and scored per domain (the tracking task of `run_tasks`).

    Object n is a different body in each DMCS domain (and NaN padding where a
    domain has fewer), so each domain gets its own regression, over the objects
    present in its training positions, fitted on `train_arrays[FIT_ON[fit_on]]`.
    That one regression scores the model, the baseline and the detector alone
    (`downstream.tracking.detection_fit` on the held-out detected keypoints of
    every step: `detected_r2`, `detected_error`). The summary is the mean over
    domains.

    Args:
        train_arrays, test_arrays: `collection.collect` outputs with `positions`.
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
        fitted = tracking_lib.coordinate_regression(
            train_arrays[FIT_ON[fit_on]][train],
            train_positions,
            test_arrays["keypoints"][test],
            test_positions,
            num_observed_steps,
            selection=selection,
        )
        model = fitted.errors
        baseline = tracking_lib.last_observed_baseline(
            fitted.regressor,
            test_arrays["observed_keypoints"][test],
            test_positions,
            num_observed_steps,
        )
        detected = tracking_lib.detection_fit(
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
        return statistics.nanmean(np.array(values, np.float64), axis=0)

    models = [model for model, _, _, _ in results.values()]
    baselines = [baseline for _, baseline, _, _ in results.values()]
    detections = [detected for _, _, detected, _ in results.values()]
    output = {
        "per_domain": {
            domain: {
                "per_step": statistics.finite_or_none_list(model.per_step),
                "baseline_per_step": statistics.finite_or_none_list(baseline.per_step),
                "mean_predicted": statistics.finite_or_none(model.mean_predicted_error),
                "baseline_mean_predicted": statistics.finite_or_none(baseline.mean_predicted_error),
                "detected_r2": statistics.finite_or_none(detected.r_squared),
                "detected_error": statistics.finite_or_none(detected.mean_error),
                **counts,
            }
            for domain, (model, baseline, detected, counts) in results.items()
        },
        "per_step": statistics.finite_or_none_list(across_domains([m.per_step for m in models])),
        "baseline_per_step": statistics.finite_or_none_list(
            across_domains([b.per_step for b in baselines])
        ),
        "mean_predicted": statistics.finite_or_none(
            across_domains([m.mean_predicted_error for m in models])
        ),
        "baseline_mean_predicted": statistics.finite_or_none(
            across_domains([b.mean_predicted_error for b in baselines])
        ),
        "detected_r2": statistics.finite_or_none(across_domains([d.r_squared for d in detections])),
        "detected_error": statistics.finite_or_none(
            across_domains([d.mean_error for d in detections])
        ),
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
    results = reward_lib.reward_prediction(
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
            "normalized_mse": statistics.finite_or_none(r.normalized_mse),
            "normalized_mse_per_step": statistics.finite_or_none_list(r.normalized_mse_per_step),
            "mse": float(r.mse),
            "null_mse": float(r.null_mse),
            "num_train": r.num_train,
            "num_test": r.num_test,
        }
        for domain, r in results.items()
    }
    output = {
        "per_domain": per_domain,
        "mean_normalized_mse": statistics.mean_or_none(
            v["normalized_mse"] for v in per_domain.values()
        ),
    }
    if small:
        output["note"] = (
            f"domains {small} have test sequences of fewer than 2 episodes and were left out"
        )
    return output


def _action(train_arrays, test_arrays, num_observed_steps, epochs, batch_size, seed):
    """Figure 8 from the detected observed keypoints: the labels as classes, else the domains."""
    key = "label" if "label" in train_arrays and "label" in test_arrays else "domain"
    train_labels = np.asarray(train_arrays[key], np.int64)
    test_labels = np.asarray(test_arrays[key], np.int64)
    if len(np.unique(train_labels)) < 2:
        what = "classes" if key == "label" else "domains"
        return {"skipped": f"the training sequences come from fewer than 2 {what}"}
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
    result = action_lib.action_recognition(
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


def _diversity(test_arrays, num_observed_steps):
    """Figure S3 as a number: mean pairwise distance of the test sequences' samples."""
    keypoints = test_arrays["keypoints"]  # [S, N, T + Delta T, K, 3]
    if keypoints.shape[1] < 2:
        return {"skipped": f"{keypoints.shape[1]} sample per sequence; diversity needs 2"}
    result = diversity_lib.sample_diversity(keypoints, num_observed_steps)
    return {
        "mean_pairwise_distance": result.mean,
        "per_step": statistics.finite_or_none_list(result.per_step),
        "num_samples": int(keypoints.shape[1]),
        "num_test": int(keypoints.shape[0]),
    }


def run_tasks(
    train_arrays: Mapping[str, np.ndarray],
    test_arrays: Mapping[str, np.ndarray],
    num_observed_steps: int,
    epochs: int = 100,
    reward_batch_size: int = 64,
    action_batch_size: int = 32,
    selection: str = tracking_lib.SELECT_PER_SEQUENCE,
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
    * action (Figure 8): the label of a sequence (Human3.6M's action) or else
      its domain (DMCS) classified from the detected keypoints of its
      observed steps; trained on `train_arrays`,
      scored on `test_arrays`; with the null model (most frequent training
      class) and the classifier on ground-truth positions.
    * diversity (Figure S3): the mean pairwise distance between the N
      predicted keypoint trajectories of each test sequence
      (`downstream.diversity.sample_diversity`); 0 for Struct-RNN.

    Args:
        train_arrays: `collection.collect` output of the train split.
        test_arrays: `collection.collect` output of the test split.
        num_observed_steps: T.
        epochs: training epochs of the reward and action models (100 in the
            paper's Section S2.2).
        reward_batch_size: sequences per batch of the reward models.
        action_batch_size: sequences per batch of the action classifier.
        selection: best-sample selection of the tracking task, per sequence
            (`downstream.tracking.SELECT_PER_SEQUENCE`) or per object; each
            dataset's default is its `registry.DatasetSpec.tracking_selection`.
        fit_on: a key of `FIT_ON`: what the tracking regression is fitted on.
        seed: seed of splits and initialisations.

    Returns:
        {"tracking": ..., "reward": ..., "action": ..., "diversity": ...}: plain dicts of numbers
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
        if both("label") or both("domain")
        else {"skipped": "the dataset has no action or domain labels"}
    )
    results["diversity"] = _diversity(test_arrays, num_observed_steps)
    return results
