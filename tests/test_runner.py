"""experiments.runner, and scripts/run_experiments.py end to end at toy size."""

import csv
import json
import os
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
