"""experiments.tasks: the downstream tasks on small arrays shaped like collect()'s."""

import json
import types

import numpy as np
import pytest

from video_structure.experiments import tasks


def make_arrays(num_seqs, seed, observed=4, predicted=3, num_samples=2, with_extras=True):
    """Arrays shaped like collect()'s whose keypoints are the true positions.

    Object 0 moves right at a constant speed, object 1 sits still and object 2
    is absent (NaN) throughout. Sequences alternate between domains 0 and 1,
    the objects of domain 1 lying 0.8 higher. Both samples carry the true
    coordinates; their scales mu differ, which a linear map can ignore exactly.
    """
    rng = np.random.default_rng(seed)
    steps = observed + predicted
    domain = np.arange(num_seqs) % 2
    start = rng.uniform(-0.5, 0.0, size=(num_seqs, 1, 2)) + 0.8 * domain[:, None, None] * [0, 1]
    moving = start + 0.1 * np.arange(steps)[None, :, None] * np.array([1.0, 0.0])
    still = rng.uniform(-0.5, 0.5, size=(num_seqs, 1, 2)).repeat(steps, axis=1)
    still += 0.8 * domain[:, None, None] * [0, 1]
    positions = np.stack([moving, still, np.full_like(moving, np.nan)], axis=2)  # [S, T, 3, 2]
    keypoints = np.concatenate(
        [np.nan_to_num(positions[:, :, :2]), np.ones((num_seqs, steps, 2, 1))], axis=-1
    )  # [S, T, 2, 3]
    other = keypoints.copy()
    other[..., 2] = rng.uniform(0.5, 1.0, size=other.shape[:-1])
    samples = np.stack([keypoints, other], axis=1)  # [S, 2, T, 2, 3]
    arrays = {
        "keypoints": samples[:, :num_samples].astype(np.float32),
        "observed_keypoints": keypoints.astype(np.float32),
        "states": rng.normal(size=(num_seqs, steps, 5)).astype(np.float32),
    }
    if with_extras:
        arrays.update(
            positions=positions.astype(np.float32),
            domain=domain.astype(np.int32),
            rewards=(arrays["states"][..., 0] + domain[:, None]).astype(np.float32),
        )
    return arrays


def test_run_tasks_tracks_exact_keypoints_better_than_the_baseline():
    train, test = make_arrays(12, 0), make_arrays(10, 1)
    for arrays in (train, test):
        del arrays["rewards"], arrays["domain"]
    results = tasks.run_tasks(train, test, num_observed_steps=4, epochs=1)
    assert tuple(results) == tasks.TASKS  # What the runner's cache of tasks.json checks.
    tracking = results["tracking"]
    assert list(tracking["per_domain"]) == ["0"]  # No domains: one.
    assert tracking["per_domain"]["0"]["num_objects"] == 2  # The absent object is left out.
    assert tracking["mean_predicted"] == pytest.approx(0.0, abs=1e-3)
    # Object 0 moves 0.1 per step, object 1 stays: the repeated last observed
    # keypoints miss by 0.05, 0.1, 0.15 on average over the two objects.
    np.testing.assert_allclose(tracking["baseline_per_step"][4:], [0.05, 0.1, 0.15], atol=1e-3)
    assert tracking["baseline_mean_predicted"] == pytest.approx(0.1, abs=1e-3)
    # The detected keypoints are the positions: the detector alone scores R^2 = 1.
    assert tracking["detected_r2"] == pytest.approx(1.0, abs=1e-6)
    assert tracking["detected_error"] == pytest.approx(0.0, abs=1e-4)
    assert set(results["reward"]) == set(results["action"]) == {"skipped"}


def test_tracking_fits_one_regression_on_detected_keypoints_for_model_and_baseline():
    # Decoded samples scatter around exact detections. Fitted on the detections
    # (the default) the regression is the identity on (x, y), so the baseline
    # through it is exact on observed steps and the model's error is its
    # samples' own; the old fit on the samples is shrunk, and the baseline
    # sharing it misses even on observed steps.
    rng = np.random.default_rng(2)
    train, test = make_arrays(12, 0), make_arrays(10, 1)
    for arrays in (train, test):
        del arrays["rewards"], arrays["domain"]
        detected = arrays["observed_keypoints"]  # [S, T, 2, 3]
        arrays["keypoints"] = (
            detected[:, None] + rng.normal(0.0, 0.05, (len(detected), 4) + detected.shape[1:])
        ).astype(np.float32)
    default = tasks.run_tasks(train, test, num_observed_steps=4, epochs=1)["tracking"]
    samples = tasks.run_tasks(train, test, num_observed_steps=4, epochs=1, fit_on="samples")[
        "tracking"
    ]
    assert (default["fit_on"], samples["fit_on"]) == ("detected", "samples")
    np.testing.assert_allclose(default["baseline_per_step"][:4], 0.0, atol=1e-3)
    np.testing.assert_allclose(default["baseline_per_step"][4:], [0.05, 0.1, 0.15], atol=1e-3)
    assert min(samples["baseline_per_step"][:4]) > 0.01
    # Oracle of the model: the distances of the samples' (x, y) to the truth,
    # the best sample per sequence chosen on the predicted steps.
    truth = test["positions"][:, None, :, :2]  # [S, 1, T, 2, 2]
    errors = np.linalg.norm(test["keypoints"][..., :2] - truth, axis=-1)  # [S, M, T, 2]
    best = np.argmin(errors[:, :, 4:].mean(axis=(2, 3)), axis=1)  # [S]
    chosen = errors[np.arange(len(best)), best]  # [S, T, 2]
    np.testing.assert_allclose(default["per_step"], chosen.mean(axis=(0, 2)), atol=1e-3)
    with pytest.raises(ValueError, match="fit_on must be one of"):
        tasks.run_tasks(train, test, num_observed_steps=4, epochs=1, fit_on="decoded")


@pytest.mark.slow
def test_tracking_fits_each_domain_on_its_own_bodies():
    # Object 0 is keypoint 0 in domain 0 and keypoint 1 in domain 1, where
    # keypoint 0 is noise; object 1 exists (keypoint 0) only in domain 0.
    # One regression over both domains cannot map both; one per domain can.
    rng = np.random.default_rng(0)

    def arrays(num_seqs):
        domain = np.arange(num_seqs) % 2
        keypoints = rng.uniform(-1, 1, size=(num_seqs, 7, 2, 3)).astype(np.float32)
        positions = np.full((num_seqs, 7, 2, 2), np.nan, np.float32)
        positions[domain == 0, :, 0] = keypoints[domain == 0, :, 0, :2]
        positions[domain == 0, :, 1] = -keypoints[domain == 0, :, 0, :2]
        positions[domain == 1, :, 0] = keypoints[domain == 1, :, 1, :2]
        return {
            "keypoints": keypoints[:, None],
            "observed_keypoints": keypoints,
            "states": np.zeros((num_seqs, 7, 2), np.float32),
            "positions": positions,
            "domain": domain.astype(np.int32),
        }

    results = tasks.run_tasks(arrays(40), arrays(20), num_observed_steps=4, epochs=1)
    tracking = results["tracking"]
    assert sorted(tracking["per_domain"]) == ["0", "1"]
    assert [tracking["per_domain"][d]["num_objects"] for d in "01"] == [2, 1]
    for domain in tracking["per_domain"].values():
        assert domain["mean_predicted"] == pytest.approx(0.0, abs=1e-4)
        assert domain["num_test"] == 10
    assert tracking["mean_predicted"] == pytest.approx(0.0, abs=1e-4)
    # The baseline holds step 3 of uniform noise: a large error, the mean of the domains'.
    baselines = [d["baseline_mean_predicted"] for d in tracking["per_domain"].values()]
    assert min(baselines) > 0.3
    assert tracking["baseline_mean_predicted"] == pytest.approx(np.mean(baselines))


@pytest.mark.slow
def test_run_tasks_predicts_rewards_per_domain_and_recognises_domains():
    train, test = make_arrays(12, 0), make_arrays(10, 1)
    results = tasks.run_tasks(train, test, num_observed_steps=4, epochs=20)
    reward = results["reward"]
    assert sorted(reward["per_domain"]) == ["0", "1"]
    for value in reward["per_domain"].values():
        assert (value["num_train"], value["num_test"]) == (4, 1)
        assert value["normalized_mse"] == pytest.approx(value["mse"] / value["null_mse"])
        assert len(value["normalized_mse_per_step"]) == 7
    assert reward["mean_normalized_mse"] == pytest.approx(
        np.mean([v["normalized_mse"] for v in reward["per_domain"].values()])
    )
    action = results["action"]
    assert action["num_classes"] == 2 and (action["num_train"], action["num_test"]) == (12, 10)
    # Training classes are balanced, so the null model predicts class 0: half the test set.
    assert action["null_accuracy"] == pytest.approx(0.5)
    # The domains lie apart: both classifiers learn that.
    assert action["accuracy"] == action["ground_truth_accuracy"] == 1.0
    assert "absent objects set to 0" in action["note"]
    json.dumps(results, allow_nan=False)


def test_run_tasks_skips_tasks_without_arrays():
    train = make_arrays(6, 0, with_extras=False)
    test = make_arrays(6, 1, with_extras=False)
    results = tasks.run_tasks(train, test, num_observed_steps=4, epochs=1)
    assert set(results) == {"tracking", "reward", "action", "diversity"}
    for name in ("tracking", "reward", "action"):
        assert set(results[name]) == {"skipped"} and results[name]["skipped"]
    # The two samples share their coordinates: no diversity, which needs only keypoints.
    assert results["diversity"]["mean_pairwise_distance"] == 0.0
    assert results["diversity"]["per_step"] == [0.0, 0.0, 0.0]


def test_diversity_is_skipped_with_one_sample():
    train = make_arrays(6, 0, num_samples=1, with_extras=False)
    test = make_arrays(6, 1, num_samples=1, with_extras=False)
    results = tasks.run_tasks(train, test, num_observed_steps=4, epochs=1)
    assert "diversity needs 2" in results["diversity"]["skipped"]


def test_run_tasks_names_missing_collect_arrays():
    train = make_arrays(6, 0)
    del train["states"]
    with pytest.raises(ValueError, match="train_arrays lacks.*states"):
        tasks.run_tasks(train, make_arrays(6, 1), num_observed_steps=4, epochs=1)


@pytest.mark.slow
def test_reward_leaves_out_a_domain_whose_windows_come_from_one_episode():
    test = make_arrays(10, 1)
    # Domain 0's windows all cut from episode 7; domain 1's from five episodes.
    test["episode"] = np.where(test["domain"] == 0, 7, np.arange(10)).astype(np.int32)
    results = tasks.run_tasks(make_arrays(12, 0), test, num_observed_steps=4, epochs=1)
    reward = results["reward"]
    assert sorted(reward["per_domain"]) == ["1"]
    assert "domains [0]" in reward["note"] and "episodes" in reward["note"]


def test_action_classifies_the_labels_where_the_sequences_have_them(monkeypatch):
    # Labels (Human3.6M's actions) rather than domains: three classes, 0 unused.
    # The classifier itself is tested in test_action.py; here only what it is given.
    train, test = make_arrays(12, 0), make_arrays(10, 1)
    for arrays in (train, test):
        arrays["label"] = (arrays["domain"] + 1).astype(np.int32)
    given = {}

    def classify(train_keypoints, train_labels, test_keypoints, test_labels, **kwargs):
        given.update(train=train_labels, test=test_labels, **kwargs)
        return types.SimpleNamespace(
            accuracy=1.0, null_accuracy=0.5, ground_truth_accuracy=1.0, num_classes=3
        )

    monkeypatch.setattr(tasks.action_lib, "action_recognition", classify)
    action = tasks._action(train, test, 4, epochs=1, batch_size=12, seed=0)
    assert (action["num_train"], action["num_test"]) == (12, 10) and given["num_classes"] == 3
    np.testing.assert_array_equal(given["train"], train["label"])
    np.testing.assert_array_equal(given["test"], test["label"])
    train["label"] = np.ones_like(train["label"])
    skipped = tasks._action(train, test, 4, epochs=1, batch_size=12, seed=0)
    assert skipped == {"skipped": "the training sequences come from fewer than 2 classes"}
