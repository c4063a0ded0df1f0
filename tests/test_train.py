"""End-to-end runs of train.py at toy size (slow: each run starts TensorFlow)."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from video_structure import export
from video_structure.data import dmcs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = ["--eval_batches=1", "--num_keypoints=4", "--encoder_filters=4", "--rnn_units=8",
              "--num_bom_samples=2", "--verbose=0"]
TINY = ["--dataset=synthetic", "--num_sequences=32", "--batch_size=4", *TINY_MODEL]


def run_train(*flags, base=TINY):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *base, *flags],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.mark.slow
def test_trains_checkpoints_resumes_and_exports(tmp_path):
    out = str(tmp_path / "run")
    first = run_train(f"--output_dir={out}", "--steps=4", "--checkpoint_every=2")
    assert first.returncode == 0, first.stderr
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [
        "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index",
        "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    assert os.path.exists(os.path.join(out, "export", "saved_model.pb"))
    assert os.listdir(os.path.join(out, "tensorboard"))
    # 3 sequences x (true, reconstructed, predicted) rows of 10 frames, 32 px upscaled 4x.
    with Image.open(os.path.join(out, "samples.png")) as grid:
        assert grid.size == (10 * (4 * 32 + 2), 9 * (4 * 32 + 2))
    with Image.open(os.path.join(out, "samples.gif")) as animation:
        assert animation.n_frames == 10 and animation.size == (4 * 32 + 2, 9 * (4 * 32 + 2))
    resumed = run_train(f"--output_dir={out}", "--steps=6", "--checkpoint_every=2")
    assert resumed.returncode == 0, resumed.stderr
    assert "from step 4" in resumed.stdout
    assert tf.train.latest_checkpoint(os.path.join(out, "checkpoints")).endswith("ckpt-6")
    changed = run_train(f"--output_dir={out}", "--steps=6", "--kl_scale=0.5")
    assert changed.returncode != 0 and "kl_scale" in changed.stderr


@pytest.mark.slow
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    result = run_train(f"--output_dir={out}", "--steps=20", "--checkpoint_every=1",
                       "--learning_rate=1e10")
    assert result.returncode == 1
    assert "non-finite" in result.stderr
    latest = tf.train.latest_checkpoint(os.path.join(out, "checkpoints"))
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.all(np.isfinite(value)), name
    assert not os.path.exists(os.path.join(out, "export"))


@pytest.mark.slow
@pytest.mark.parametrize("flag,message", [("--preset=nope", "nope"),
                                          ("--kl_scale=-1", "kl_scale"),
                                          ("--num_keypoints=0", "num_keypoints"),
                                          ("--dataset=nope", "dataset")])
def test_bad_flags_are_named(tmp_path, flag, message):
    result = run_train(f"--output_dir={tmp_path}", "--steps=1", flag)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_dmcs_is_generated_and_trains_an_action_conditional_export(tmp_path):
    data_dir, out = str(tmp_path / "dmcs"), str(tmp_path / "run")
    result = run_train("--dataset=dmcs", f"--data_dir={data_dir}", f"--output_dir={out}",
                       "--dmcs_train_episodes=1", "--dmcs_test_episodes=1",
                       "--dmcs_episode_length=20", "--observed_steps=3", "--predicted_steps=2",
                       "--steps=2", "--batch_size=2", "--checkpoint_every=2", base=TINY_MODEL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Generating the DMCS dataset" in result.stdout
    manifest = dmcs.load_manifest(data_dir)
    action_size = manifest["dtype"]["actions"].shape[-1]  # Padded to the largest domain's.
    assert action_size == max(manifest["action_sizes"].values()) == 6
    loaded, config, exported_action_size = export.load(os.path.join(out, "export"))
    assert exported_action_size == action_size

    shard = next(s for s in manifest["shards"] if s["split"] == "test")
    episode = dmcs.open_shard(data_dir, manifest, shard)[0]
    observed, total = 3, 5
    frames = tf.constant(episode["frames"][None, :observed] / 255, tf.float32)
    actions = episode["actions"][None, :total]  # [1, 5, 6]

    def predicted_keypoints(actions):
        out = loaded.rollout(frames, tf.constant(1), tf.constant([0, 0]), tf.constant(actions))
        assert out["frames"].shape == (1, 1, total, 64, 64, 3)
        return out["keypoints"].numpy()[:, :, observed:]  # [1, 1, 2, 4, 3]

    keypoints = predicted_keypoints(actions)
    assert config["num_keypoints"] == 4 and keypoints.shape == (1, 1, 2, 4, 3)
    # The dmcs preset of Table S1 under the flags that shrink the model.
    dmcs_values = {"sparsity_scale": 5.0, "kl_scale": 3e-3, "latent_size": 128,
                   "separation_sigma": 2e-2, "prior_net_size": 16, "layers_per_scale": 1}
    assert {name: config[name] for name in dmcs_values} == dmcs_values
    assert np.all(np.isfinite(keypoints))
    assert not np.allclose(keypoints, predicted_keypoints(-actions)), "actions are ignored"
