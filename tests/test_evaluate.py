"""evaluate.py: its frame metrics and end-to-end runs on a tiny export."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from video_structure import config
from video_structure import export
from video_structure import metrics
from video_structure import model as model_lib
from video_structure import pretrained

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("evaluate", os.path.join(ROOT, "evaluate.py"))
evaluate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(evaluate)


def test_vgg_cosine_reuses_truth_features_and_matches_the_metric():
    vgg = pretrained.build_vgg16_features(weights=None)
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(2, 3, 16, 16, 3)).astype(np.float32)
    samples = rng.uniform(size=(2, 5, 3, 16, 16, 3)).astype(np.float32)
    samples[:, 0] = truth
    ours = evaluate.FrameMetrics(vgg, chunk_frames=6)(truth, samples)
    expected = metrics.vgg_cosine_similarity(
        np.broadcast_to(truth[:, None], samples.shape), samples, vgg).numpy()
    np.testing.assert_allclose(ours["vgg_cosine"], expected, atol=1e-5)
    np.testing.assert_allclose(ours["vgg_cosine"][:, 0], 1.0, atol=1e-5)
    assert ours["ssim"].shape == ours["psnr"].shape == (2, 5, 3)


def make_export(tmp_path, observed, predicted):
    cfg = config.get_preset("synthetic", num_keypoints=4, encoder_filters=4, rnn_units=8,
                            latent_size=4, num_bom_samples=2, observed_steps=observed,
                            predicted_steps=predicted)
    model = model_lib.StructVRNN(cfg)
    model.compile(optimizer=model_lib.make_optimizer(cfg))
    model.build_all()
    path = str(tmp_path / "export")
    export.export(model, path)
    return path


def run_evaluate(*flags):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), *flags],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_end_to_end_writes_json_plots_and_strips(tmp_path):
    path = make_export(tmp_path, 5, 4)
    out = tmp_path / "eval"
    result = run_evaluate(f"--export={path}", "--dataset=synthetic", "--num_sequences=4",
                          "--num_samples=3", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["metrics.json", "metrics.png", "samples.gif",
                                       "samples.png"]
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["num_sequences"] == 4 and report["settings"]["num_samples"] == 3
    results = report["results"]
    for metric in evaluate.FRAME_METRICS:
        closest = np.array(results["model"][metric]["closest"]["mean"])
        furthest = np.array(results["model"][metric]["furthest"]["mean"])
        assert closest.shape == (4,)
        assert np.mean(closest) >= np.mean(furthest)
    assert results["model"]["fvd"]["num_generated"] == 4
    assert results["model"]["fvd"]["value"] > 0


@pytest.mark.slow
def test_bad_inputs_are_named(tmp_path):
    short = make_export(tmp_path, 3, 2)
    result = run_evaluate(f"--export={short}", "--num_sequences=2", "--num_samples=2")
    assert result.returncode != 0 and "at least 9 frames" in result.stderr
    result = run_evaluate(f"--export={tmp_path}", "--num_sequences=2")
    assert result.returncode != 0 and "saved_model.pb" in result.stderr
