"""experiments.runner, and scripts/run_experiments.py end to end at toy size."""

import concurrent.futures
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from video_structure import config, files
from video_structure.data import dmcs
from video_structure.experiments import runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_scaled_schedules_keep_the_fractions_of_s12():
    preset = config.PRESETS["dmcs"]  # 2.5e4 and 3e4 of 1e5 steps.
    assert runner.scaled_schedules(preset, 300) == {
        "kl_annealing_steps": 75,
        "lr_decay_steps": 90,
    }
    assert runner.scaled_schedules(preset, 100_000) == {}
    assert runner.scaled_schedules(preset, 200_000) == {}
    assert runner.scaled_schedules(preset, 200_000, longer=True) == {
        "kl_annealing_steps": 50_000,
        "lr_decay_steps": 60_000,
    }
    assert runner.scaled_schedules(preset, 1) == {"kl_annealing_steps": 0, "lr_decay_steps": 1}


def test_load_if_current_reuses_only_outputs_of_the_same_model_and_settings(tmp_path):
    path = str(tmp_path / "tasks.json")
    settings = {
        "task_sequences": 300,
        "tracking_samples": 10,
        "task_epochs": 20,
        "selection": "sequence",
        "data_dir": None,
    }
    assert runner.load_if_current(path, settings, 300) is None
    files.write_json(
        path,
        {
            "results": {"tracking": {}},
            "runner": {"settings": settings, "trained_step": 300, "wall_time_s": 2.0},
        },
    )
    assert runner.load_if_current(path, dict(settings), 300)["results"] == {"tracking": {}}
    assert runner.load_if_current(path, settings, 600) is None  # Trained further.
    for key, value in (
        ("task_sequences", 64),
        ("tracking_samples", 50),
        ("task_epochs", 100),
        ("selection", "object"),
    ):
        assert runner.load_if_current(path, dict(settings, **{key: value}), 300) is None
    files.write_json(path, {"results": {"tracking": {}}})  # From before settings were stored.
    assert runner.load_if_current(path, settings, 300) is None


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


SYNTHETIC = ["--dataset=synthetic", f"--train_flags={TINY_TRAIN}"]
DMCS_DOMAINS = ["cartpole/balance", "reacher/easy"]


def _dmcs_run(out):
    data_dir = str(out / "dmcs")
    # Two test episodes per domain: reward prediction splits them by episode.
    manifest = dmcs.generate(
        data_dir,
        domains=DMCS_DOMAINS,
        train_episodes=1,
        test_episodes=2,
        episode_length=20,
        image_size=16,
        num_workers=2,
        progress=False,
    )
    tiny = (
        TINY_MODEL + " --image_size=16 --heatmap_size=8 --posterior_net_size=8 --decoder_net_size=8"
    )
    output = run_runner(
        out / "experiments",
        "--variants=struct_vrnn",
        "--dataset=dmcs",
        f"--data_dir={data_dir}",
        "--steps=4",
        f"--train_flags={tiny}",
    )
    return output, manifest, out / "experiments"


@pytest.fixture(scope="module")
def runner_runs(tmp_path_factory, gl_backend_if_any):
    """The module's runner runs, two at a time (each trains in its own processes).

    {name: future}: the synthetic "first" run of one variant at 3 steps; on
    copies of it, a "rerun" and a run "grown" to 4 steps; beside them, where a
    GL backend renders, the "dmcs" run. A test's `.result()` raises its run's failure.
    """
    out = tmp_path_factory.mktemp("runner")
    runs = {}
    with pytest.MonkeyPatch.context() as patch, concurrent.futures.ThreadPoolExecutor(2) as pool:
        if gl_backend_if_any:
            patch.setenv("MUJOCO_GL", gl_backend_if_any)  # Probed once per session, in conftest.py.
            runs["dmcs"] = pool.submit(_dmcs_run, out / "dmcs")
        first = out / "first"
        # One variant: the table's rows of several variants are test_report's.
        args = ["--variants=struct_vrnn", "--steps=3", *SYNTHETIC]
        runs["first"] = pool.submit(run_runner, first, *args)
        if runs["first"].exception() is None:
            runs["first_training"] = read_json(first / "struct_vrnn" / "seed0" / "training.json")
            for name in ("rerun", "grown"):
                shutil.copytree(first, out / name)
            runs["rerun"] = pool.submit(run_runner, out / "rerun", *args)
            args = ["--variants=struct_vrnn", "--steps=4", *SYNTHETIC]
            runs["grown"] = pool.submit(run_runner, out / "grown", *args)
        else:
            runs["rerun"] = runs["grown"] = runs["first"]
    return out, runs


@pytest.mark.slow
@pytest.mark.needs_vgg_weights
def test_runner_end_to_end_on_synthetic(runner_runs):
    root, runs = runner_runs
    runs["first"].result()
    out = root / "first"
    run_dir = out / "struct_vrnn" / "seed0"
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
    ]
    assert all(float(r["tracking_error"]) > 0 for r in rows)
    assert all(float(r[f"{stage}_s"]) > 0 for r in rows for stage in ("train", "evaluate", "tasks"))
    assert rows[0]["fvd"] == "" and rows[0]["steps"] == "3"  # 5 frames: --nofvd.
    for name in ("results.md", "figure4_tracking.png", "figure5_ablations.png"):
        assert (out / name).stat().st_size > 0
    assert "FVD not computed" in (out / "results.md").read_text()


@pytest.mark.slow
@pytest.mark.needs_vgg_weights
def test_a_rerun_neither_trains_nor_evaluates_nor_runs_the_tasks_again(runner_runs):
    _, runs = runner_runs
    rerun = runs["rerun"].result()
    assert rerun.count("is up to date, not evaluating again") == 1
    assert rerun.count("is up to date, not running the tasks again") == 1
    assert "training" not in rerun


@pytest.mark.slow
@pytest.mark.needs_vgg_weights
def test_more_steps_train_evaluate_and_run_the_tasks_again(runner_runs):
    root, runs = runner_runs
    grown = runs["grown"].result()
    assert "training 4 steps" in grown and "evaluating" in grown and "running the tasks" in grown
    run_dir = root / "grown" / "struct_vrnn" / "seed0"
    assert read_json(run_dir / "eval" / "metrics.json")["runner"]["trained_step"] == 4
    assert read_json(run_dir / "tasks.json")["runner"]["trained_step"] == 4
    training = read_json(run_dir / "training.json")
    assert training["trained_step"] == 4
    # Summed over both runs.
    assert training["wall_time_s"] > runs["first_training"]["wall_time_s"]


@pytest.mark.slow
@pytest.mark.needs_mujoco_gl
@pytest.mark.needs_vgg_weights
def test_runner_end_to_end_on_dmcs(runner_runs):
    _, runs = runner_runs
    output, manifest, out = runs["dmcs"].result()
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
    for index, domain in enumerate(DMCS_DOMAINS):
        assert tracking[str(index)]["num_objects"] == len(manifest["body_names"][domain])
        assert tracking[str(index)]["mean_predicted"] > 0
    reward = results["reward"]["per_domain"]
    assert sorted(reward) == ["0", "1"]
    assert all(r["num_train"] >= 1 and r["num_test"] >= 1 for r in reward.values())
    action = results["action"]
    assert action["num_classes"] == 2 and action["num_test"] == 8
    assert action["null_accuracy"] == pytest.approx(0.5)  # 4 test windows per domain.
    row = read_csv(out / "results.csv")[0]
    for domain in DMCS_DOMAINS:
        # Undefined (empty) reward numbers are possible: constant rewards.
        assert float(row[f"tracking_error_{domain}"]) > 0 and f"reward_nmse_{domain}" in row
    assert row["action_accuracy"]
    for name in ("figure4_tracking.png", "figure8_action.png", "figure9_reward.png"):
        assert (out / name).stat().st_size > 0
