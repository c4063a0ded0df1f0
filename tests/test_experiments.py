"""experiments: tasks and report on small arrays; the runner end to end at toy size."""

import csv
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from video_structure import config, experiments, export, files
from video_structure import model as model_lib
from video_structure.data import dmcs, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    results = experiments.run_tasks(train, test, num_observed_steps=4, epochs=1)
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
    default = experiments.run_tasks(train, test, num_observed_steps=4, epochs=1)["tracking"]
    samples = experiments.run_tasks(train, test, num_observed_steps=4, epochs=1, fit_on="samples")[
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
        experiments.run_tasks(train, test, num_observed_steps=4, epochs=1, fit_on="decoded")


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

    results = experiments.run_tasks(arrays(40), arrays(20), num_observed_steps=4, epochs=1)
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
    results = experiments.run_tasks(train, test, num_observed_steps=4, epochs=20)
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
    results = experiments.run_tasks(train, test, num_observed_steps=4, epochs=1)
    assert set(results) == {"tracking", "reward", "action"}
    for task in results.values():
        assert set(task) == {"skipped"} and task["skipped"]


def test_run_tasks_names_missing_collect_arrays():
    train = make_arrays(6, 0)
    del train["states"]
    with pytest.raises(ValueError, match="train_arrays lacks.*states"):
        experiments.run_tasks(train, make_arrays(6, 1), num_observed_steps=4, epochs=1)


def make_run(variant, seed, fvd, tracking, with_tasks=True):
    evaluation = {
        "settings": {"num_samples": 3},
        "results": {
            "model": {
                "fvd": {"value": fvd, "num_generated": 8},
                "vgg_cosine": {"closest": {"mean": [0.9, 0.7]}, "furthest": {"mean": [0.5, 0.3]}},
            }
        },
    }
    if not with_tasks:
        skipped = {"skipped": "the dataset has no rewards"}
        return {
            "variant": variant,
            "seed": seed,
            "evaluation": evaluation,
            "tasks": {"tracking": skipped, "reward": skipped, "action": skipped},
        }
    curve = [0.1, 0.1, tracking, tracking]
    tasks = {
        "tracking": {
            "per_step": curve,
            "baseline_per_step": [0.1, 0.1, 0.5, 0.6],
            "mean_predicted": tracking,
            "baseline_mean_predicted": 0.55,
            "per_domain": {
                "0": {"mean_predicted": tracking - 0.1},
                "3": {"mean_predicted": tracking + 0.1},
            },
            "num_observed_steps": 2,
        },
        "reward": {
            "per_domain": {
                "0": {"normalized_mse": 0.5, "normalized_mse_per_step": [0.4, 0.6]},
                "3": {"normalized_mse": 1.5, "normalized_mse_per_step": [1.0, 2.0]},
            },
            "mean_normalized_mse": 1.0,
        },
        "action": {"accuracy": 0.8, "null_accuracy": 0.25, "ground_truth_accuracy": 0.95},
    }
    return {
        "variant": variant,
        "seed": seed,
        "evaluation": evaluation,
        "tasks": tasks,
        "trained_step": 300,
        "wall_time_s": {"train": 60.0 + seed, "evaluate": 5.0, "tasks": 7.5},
    }


def test_write_report_table_means_over_seeds_and_figures(tmp_path):
    runs = [
        make_run("struct_vrnn", 0, 10.0, 0.2),
        make_run("struct_vrnn", 1, 20.0, 0.4),
        make_run("cnn_vrnn", 0, 50.0, None, with_tasks=False),
    ]
    paths = experiments.write_report(runs, str(tmp_path))
    names = sorted(os.path.basename(p) for p in paths)
    assert names == [
        "figure4_tracking.png",
        "figure5_ablations.png",
        "figure8_action.png",
        "figure9_reward.png",
        "results.csv",
        "results.md",
    ]
    for name in names:
        data = (tmp_path / name).read_bytes()
        assert data
        if name.endswith(".png"):
            assert data.startswith(PNG_MAGIC)
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("struct_vrnn", "0"),
        ("struct_vrnn", "1"),
        ("struct_vrnn", "mean"),
        ("cnn_vrnn", "0"),
        ("cnn_vrnn", "mean"),
    ]
    mean = rows[2]
    assert float(mean["fvd"]) == pytest.approx(15.0)
    assert float(mean["tracking_error"]) == pytest.approx(0.3)
    assert float(mean["vgg_closest"]) == pytest.approx(0.8) and mean["samples"] == "3"
    assert float(mean["vgg_furthest"]) == pytest.approx(0.4)
    assert float(mean["reward_nmse_3"]) == pytest.approx(1.5)
    assert float(mean["action_accuracy"]) == pytest.approx(0.8)
    assert float(mean["tracking_error_3"]) == pytest.approx(0.4)
    assert mean["tracking_last_observed_3"] == ""
    assert (mean["steps"], float(mean["train_s"]), float(mean["tasks_s"])) == ("300", 60.5, 7.5)
    assert rows[4]["tracking_error"] == "" and float(rows[4]["fvd"]) == 50.0
    markdown = (tmp_path / "results.md").read_text()
    assert "| variant | seed | steps | fvd |" in markdown
    assert "**15**" in markdown
    assert "cnn_vrnn seed 0: reward skipped: the dataset has no rewards." in markdown
    assert not [n for n in os.listdir(tmp_path) if n.startswith("tmp")]


def test_write_report_names_domains_and_tolerates_undefined_curves(tmp_path):
    run = make_run("struct_vrnn", 0, 10.0, 0.2)
    run["tasks"]["reward"]["per_domain"]["3"].update(
        normalized_mse=None, normalized_mse_per_step=[None, None]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        experiments.write_report([run], str(tmp_path), domain_names=["cartpole/balance"])
    with open(tmp_path / "results.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["reward_nmse_cartpole/balance"]) == 0.5
    assert row["reward_nmse_3"] == ""


def test_write_report_without_task_numbers_writes_only_the_table(tmp_path):
    runs = [make_run("cnn_vrnn", 0, 50.0, None, with_tasks=False)]
    runs[0]["evaluation"] = None
    names = sorted(os.path.basename(p) for p in experiments.write_report(runs, str(tmp_path)))
    assert names == ["results.csv", "results.md"]
    assert "no evaluate.py metrics" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="at least one run"):
        experiments.write_report([], str(tmp_path))


def test_scaled_schedules_keep_the_fractions_of_s12():
    preset = config.PRESETS["dmcs"]  # 2.5e4 and 3e4 of 1e5 steps.
    assert experiments.scaled_schedules(preset, 300) == {
        "kl_annealing_steps": 75,
        "lr_decay_steps": 90,
    }
    assert experiments.scaled_schedules(preset, 100_000) == {}
    assert experiments.scaled_schedules(preset, 200_000) == {}
    assert experiments.scaled_schedules(preset, 1) == {"kl_annealing_steps": 0, "lr_decay_steps": 1}


def test_load_if_current_reuses_only_outputs_of_the_same_model_and_settings(tmp_path):
    path = str(tmp_path / "tasks.json")
    settings = {
        "task_sequences": 300,
        "tracking_samples": 10,
        "task_epochs": 20,
        "selection": "sequence",
        "data_dir": None,
    }
    assert experiments.load_if_current(path, settings, 300) is None
    files.write_json(
        path,
        {
            "results": {"tracking": {}},
            "runner": {"settings": settings, "trained_step": 300, "wall_time_s": 2.0},
        },
    )
    assert experiments.load_if_current(path, dict(settings), 300)["results"] == {"tracking": {}}
    assert experiments.load_if_current(path, settings, 600) is None  # Trained further.
    for key, value in (
        ("task_sequences", 64),
        ("tracking_samples", 50),
        ("task_epochs", 100),
        ("selection", "object"),
    ):
        assert experiments.load_if_current(path, dict(settings, **{key: value}), 300) is None
    files.write_json(path, {"results": {"tracking": {}}})  # From before settings were stored.
    assert experiments.load_if_current(path, settings, 300) is None


@pytest.mark.slow
def test_collect_runs_the_export_over_whole_and_partial_batches(tmp_path):
    cfg = config.get_preset(
        "synthetic",
        num_keypoints=4,
        encoder_filters=4,
        rnn_units=8,
        latent_size=4,
        num_bom_samples=2,
        observed_steps=3,
        predicted_steps=2,
    )
    model = model_lib.StructVRNN(cfg)
    model.compile(optimizer=model_lib.make_optimizer(cfg))
    model.build_all()
    path = str(tmp_path / "export")
    export.export(model, path)
    arrays = experiments.collect(
        path, "synthetic", "test", num_sequences=5, num_samples=3, batch_size=2, seed=1
    )
    assert sorted(arrays) == ["keypoints", "observed_keypoints", "positions", "states"]
    assert arrays["keypoints"].shape == (5, 3, 5, 4, 3)
    assert arrays["observed_keypoints"].shape == (5, 5, 4, 3)
    assert arrays["states"].shape == (5, 5, 8)
    assert arrays["positions"].shape == (5, 5, 3, 2)
    frames, positions = synthetic.generate(6, 5, cfg.image_size, seed=1, split="test")
    # The pipeline shuffles: match collected sequences to generated ones by positions.
    order = [int(np.argmin(np.abs(positions - p).sum(axis=(1, 2, 3)))) for p in arrays["positions"]]
    assert len(set(order)) == 5
    np.testing.assert_allclose(positions[order], arrays["positions"])
    detected = model.detect(frames[order].astype(np.float32) / 255.0).numpy()
    np.testing.assert_allclose(arrays["observed_keypoints"], detected, atol=1e-5)
    samples = arrays["keypoints"]
    assert not np.allclose(samples[:, 0, 3:], samples[:, 1, 3:])  # Prior samples differ.
    with pytest.raises(ValueError, match="num_samples"):
        experiments.collect(path, "synthetic", "test", 2, 0, 2)


TINY_MODEL = (
    "--eval_batches=0 --checkpoint_every=3 --num_keypoints=4 --encoder_filters=4 "
    "--rnn_units=8 --latent_size=4 --num_bom_samples=2 --observed_steps=3 "
    "--predicted_steps=2"
)
# Explicit schedules: the runner would scale them to --steps, which grows below,
# and train.py refuses to resume a run with other schedules.
TINY_TRAIN = TINY_MODEL + " --num_sequences=16 --kl_annealing_steps=1 --lr_decay_steps=2"


def run_runner(out, *args):
    """Runs scripts/run_experiments.py at toy size; returns its output."""
    command = [
        sys.executable,
        os.path.join(ROOT, "scripts", "run_experiments.py"),
        f"--output_dir={out}",
        "--seeds=0",
        "--batch_size=4",
        "--num_sequences=8",
        "--task_sequences=8",
        "--num_samples=2",
        "--tracking_samples=2",
        "--task_epochs=1",
        *args,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_runner_end_to_end_on_synthetic(tmp_path):
    out = tmp_path / "experiments"
    args = ["--dataset=synthetic", "--steps=3", f"--train_flags={TINY_TRAIN}"]
    run_runner(out, "--variants=struct_vrnn,cnn_vrnn", *args)
    for variant in ("struct_vrnn", "cnn_vrnn"):
        run_dir = out / variant / "seed0"
        assert (run_dir / "export" / "saved_model.pb").exists()
        assert read_json(run_dir / "eval" / "metrics.json")["runner"]["trained_step"] == 3
        tasks = read_json(run_dir / "tasks.json")
        assert tasks["runner"]["settings"]["selection"] == "object"  # The synthetic default.
        tracking = tasks["results"]["tracking"]
        assert tracking["mean_predicted"] > 0 and len(tracking["per_step"]) == 5
        assert "skipped" in tasks["results"]["reward"] and "skipped" in tasks["results"]["action"]
    rows = read_csv(out / "results.csv")
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("struct_vrnn", "0"),
        ("struct_vrnn", "mean"),
        ("cnn_vrnn", "0"),
        ("cnn_vrnn", "mean"),
    ]
    assert all(float(r["tracking_error"]) > 0 for r in rows)
    assert all(float(r[f"{stage}_s"]) > 0 for r in rows for stage in ("train", "evaluate", "tasks"))
    assert rows[0]["fvd"] == "" and rows[0]["steps"] == "3"  # 5 frames: --nofvd.
    for name in ("results.md", "figure4_tracking.png", "figure5_ablations.png"):
        assert (out / name).stat().st_size > 0
    assert "FVD not computed" in (out / "results.md").read_text()

    rerun = run_runner(out, "--variants=struct_vrnn,cnn_vrnn", *args)
    assert rerun.count("is up to date, not evaluating again") == 2
    assert rerun.count("is up to date, not running the tasks again") == 2
    assert "training" not in rerun

    run_dir = out / "struct_vrnn" / "seed0"
    first_training = read_json(run_dir / "training.json")
    args[1] = "--steps=4"
    grown = run_runner(out, "--variants=struct_vrnn", *args)
    assert "training 4 steps" in grown and "evaluating" in grown and "running the tasks" in grown
    assert read_json(run_dir / "eval" / "metrics.json")["runner"]["trained_step"] == 4
    assert read_json(run_dir / "tasks.json")["runner"]["trained_step"] == 4
    training = read_json(run_dir / "training.json")
    assert training["trained_step"] == 4
    assert training["wall_time_s"] > first_training["wall_time_s"]  # Summed over both runs.


@pytest.mark.slow
def test_runner_end_to_end_on_dmcs(tmp_path):
    data_dir = str(tmp_path / "dmcs")
    domains = ["cartpole/balance", "reacher/easy"]
    # Two test episodes per domain: reward prediction splits them by episode.
    manifest = dmcs.generate(
        data_dir,
        domains=domains,
        train_episodes=1,
        test_episodes=2,
        episode_length=20,
        image_size=16,
        num_workers=2,
        progress=False,
    )
    out = tmp_path / "experiments"
    tiny = (
        TINY_MODEL + " --image_size=16 --heatmap_size=8 --posterior_net_size=8 --decoder_net_size=8"
    )
    output = run_runner(
        out,
        "--variants=struct_vrnn",
        "--dataset=dmcs",
        f"--data_dir={data_dir}",
        "--steps=4",
        f"--train_flags={tiny}",
    )
    run_dir = out / "struct_vrnn" / "seed0"
    # S1.2's 2.5e4 and 3e4 of 1e5 steps, scaled to 4 steps.
    assert "schedules scaled to them" in output
    config_json = read_json(run_dir / "config.json")
    assert (config_json["kl_annealing_steps"], config_json["lr_decay_steps"]) == (1, 1)
    assert read_json(run_dir / "training.json")["scaled_schedules"] == {
        "kl_annealing_steps": 1,
        "lr_decay_steps": 1,
    }
    tasks = read_json(run_dir / "tasks.json")
    assert tasks["runner"]["settings"]["selection"] == "sequence"  # The DMCS default.
    results = tasks["results"]
    tracking = results["tracking"]["per_domain"]
    assert sorted(tracking) == ["0", "1"]
    for index, domain in enumerate(domains):
        assert tracking[str(index)]["num_objects"] == len(manifest["body_names"][domain])
        assert tracking[str(index)]["mean_predicted"] > 0
    reward = results["reward"]["per_domain"]
    assert sorted(reward) == ["0", "1"]
    assert all(r["num_train"] >= 1 and r["num_test"] >= 1 for r in reward.values())
    action = results["action"]
    assert action["num_classes"] == 2 and action["num_test"] == 8
    assert action["null_accuracy"] == pytest.approx(0.5)  # 4 test windows per domain.
    row = read_csv(out / "results.csv")[0]
    for domain in domains:
        # Undefined (empty) reward numbers are possible: constant rewards.
        assert float(row[f"tracking_error_{domain}"]) > 0 and f"reward_nmse_{domain}" in row
    assert row["action_accuracy"]
    for name in ("figure4_tracking.png", "figure8_action.png", "figure9_reward.png"):
        assert (out / name).stat().st_size > 0


def test_reward_leaves_out_a_domain_whose_windows_come_from_one_episode():
    test = make_arrays(10, 1)
    # Domain 0's windows all cut from episode 7; domain 1's from five episodes.
    test["episode"] = np.where(test["domain"] == 0, 7, np.arange(10)).astype(np.int32)
    results = experiments.run_tasks(make_arrays(12, 0), test, num_observed_steps=4, epochs=1)
    reward = results["reward"]
    assert sorted(reward["per_domain"]) == ["1"]
    assert "domains [0]" in reward["note"] and "episodes" in reward["note"]
