"""experiments.report: the table and its figures from small runs."""

import csv
import os
import warnings

import pytest

from video_structure.experiments import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
        "diversity": {"mean_pairwise_distance": 0.1 * (seed + 1)},
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
    paths = report.write_report(runs, str(tmp_path))
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
    assert float(mean["diversity"]) == pytest.approx(0.15)
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
        report.write_report([run], str(tmp_path), domain_names=["cartpole/balance"])
    with open(tmp_path / "results.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["reward_nmse_cartpole/balance"]) == 0.5
    assert row["reward_nmse_3"] == ""


def test_write_report_without_task_numbers_writes_only_the_table(tmp_path):
    runs = [make_run("cnn_vrnn", 0, 50.0, None, with_tasks=False)]
    runs[0]["evaluation"] = None
    names = sorted(os.path.basename(p) for p in report.write_report(runs, str(tmp_path)))
    assert names == ["results.csv", "results.md"]
    assert "no evaluate.py metrics" in (tmp_path / "results.md").read_text()
    with pytest.raises(ValueError, match="at least one run"):
        report.write_report([], str(tmp_path))
