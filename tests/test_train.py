"""End-to-end runs of train.py at toy size (slow: each run starts TensorFlow).

The fault-injection tests run train.py as a child process and break it: kill
-9 during a checkpoint write (tests/faulty_train.py), damaged checkpoints,
files and flags, a second run on a locked directory. Every run has a timeout,
so a hang fails its test.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from video_structure import config, export, optimizers, run_dir
from video_structure import model as model_lib
from video_structure.data import dmcs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_MODEL = [
    "--eval_batches=1",
    "--num_keypoints=4",
    "--encoder_filters=4",
    "--rnn_units=8",
    "--num_bom_samples=2",
    "--verbose=0",
]
# 3 observed and 2 predicted steps: the unrolled graphs, and their tracing, are half the preset's.
TINY = [
    "--dataset=synthetic",
    "--num_sequences=32",
    "--batch_size=4",
    "--observed_steps=3",
    "--predicted_steps=2",
    *TINY_MODEL,
]


def run_train(*flags, base=TINY, script="train.py", fault=(), timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT)
    command = [sys.executable, os.path.join(ROOT, script), *fault, *base, *flags]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
    )


def run_trains(*runs):
    """Runs train.py once per run, two at a time; a run is a tuple of flags or (flags, kwargs)."""

    def run(flags_and_kwargs):
        if isinstance(flags_and_kwargs[-1], dict):
            *flags, kwargs = flags_and_kwargs
            return run_train(*flags, **kwargs)
        return run_train(*flags_and_kwargs)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, runs))


def assert_one_line_error(result, *fragments, returncode=2):
    """The run failed with `train.py: error: ...` naming `fragments`: no traceback, no help."""
    assert result.returncode == returncode, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: "), result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in last, last
    assert "Traceback" not in result.stderr and "--checkpoint_every" not in result.stderr


def checkpoint_tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def four_steps(tmp_path_factory):
    """A run of 4 steps with checkpoints at steps 2 and 4; tests work on copies."""
    out = str(tmp_path_factory.mktemp("four_steps") / "run")
    result = run_train(f"--output_dir={out}", "--steps=4", "--checkpoint_every=2")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def copy_run(source, destination):
    shutil.copytree(source, destination)
    return str(destination)


@pytest.mark.slow
def test_trains_checkpoints_resumes_on_two_replicas_and_exports(tmp_path, four_steps):
    out = copy_run(four_steps, tmp_path / "run")
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]
    assert os.path.exists(os.path.join(out, "export", "saved_model.pb"))
    assert os.listdir(os.path.join(out, "tensorboard"))
    # 3 sequences x (true, reconstructed, predicted) rows of 5 frames, 32 px upscaled 4x.
    with Image.open(os.path.join(out, "samples.png")) as grid:
        assert grid.size == (5 * (4 * 32 + 2), 9 * (4 * 32 + 2))
    with Image.open(os.path.join(out, "samples.gif")) as animation:
        assert animation.n_frames == 5 and animation.size == (4 * 32 + 2, 9 * (4 * 32 + 2))
    assert export.load(os.path.join(out, "export"))[1]["num_steps"] == 4
    # Refused changes of a run trained 4 steps, each on a copy of it, beside the resumed run.
    changed, other_seed, fewer = (tmp_path / name for name in ("changed", "other_seed", "fewer"))
    for copy in (changed, other_seed, fewer):
        copy_run(four_steps, copy)
    # The one-device run resumes on two replicas (two logical CPUs).
    mirrored = ("--strategy=mirrored", "--devices=CPU:0,CPU:1")
    resumed, changed, other_seed, fewer = run_trains(
        (f"--output_dir={out}", "--steps=6", "--checkpoint_every=2", *mirrored),
        (f"--output_dir={changed}", "--steps=4", "--kl_scale=0.5"),
        (f"--output_dir={other_seed}", "--steps=4", "--seed=1"),
        (f"--output_dir={fewer}", "--steps=2"),
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "from step 4, batch 4 on 2 replicas" in resumed.stdout
    # A quiet console: no warning of Keras or tf.distribute.
    assert "WARNING" not in resumed.stderr and "Warning" not in resumed.stderr, resumed.stderr
    checkpoints = os.path.join(out, "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-6")
    before = checkpoint_tensors(os.path.join(checkpoints, "ckpt-4"))
    after = checkpoint_tensors(os.path.join(checkpoints, "ckpt-6"))
    assert before.keys() == after.keys()
    # The weights and Adam's moments, tracked through the optimizer.
    trained = [name for name in after if name.startswith("optimizer/_variables/")]
    assert any(not np.array_equal(before[n], after[n]) for n in trained)
    assert_one_line_error(changed, "kl_scale: 0.01 -> 0.5")
    assert_one_line_error(other_seed, "seed: 0 -> 1")
    with open(os.path.join(out, "config.json")) as f:
        saved = json.load(f)
    assert saved["seed"] == 0 and saved["dataset"] == "synthetic" and saved["num_steps"] == 6
    assert_one_line_error(fewer, "trained 4 steps; --steps=2")
    loaded, saved_config, _ = export.load(os.path.join(out, "export"))
    assert saved_config["num_steps"] == 6
    frames = np.random.default_rng(0).uniform(size=[2, 3, 32, 32, 3]).astype(np.float32)
    rollout = loaded.rollout(frames, tf.constant(2), tf.constant([0, 1]))
    assert rollout["frames"].shape == (2, 2, 5, 32, 32, 3)
    assert np.all(np.isfinite(rollout["frames"].numpy()))
    with open(os.path.join(out, run_dir.LOCK_NAME)) as f:
        assert not f.read(), "a run that ended left its PID"


@pytest.mark.slow
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    result = run_train(
        f"--output_dir={out}", "--steps=20", "--checkpoint_every=1", "--learning_rate=1e10"
    )
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


BAD_FLAGS = {
    "--preset=nope": "nope",
    "--kl_scale=-1": "kl_scale",
    "--num_keypoints=0": "num_keypoints",
    "--dataset=nope": "--dataset=nope",
    "--steps=0": "--steps=0",
    "--predicted_steps=0": "predicted_steps=0",
    "--batch_size=100": "fewer than batch_size=100",
    "stray": "Unexpected arguments: ['stray']",
    "--strategy=multi_worker": "TF_CONFIG environment variable, which is not set",
    "--devices=CPU:0": "--devices applies to --strategy=mirrored only",
    "--micro_batch_size=3": "--micro_batch_size=3 must divide each replica's 4 sequences",
}


@pytest.fixture(scope="module")
def refused_runs(tmp_path_factory):
    """train.py run two at a time (each run starts TensorFlow), once per bad flag, on
    a file as --output_dir and on a directory another run holds: {case: (result, path)}."""
    cases = {}
    for flag in BAD_FLAGS:
        cases[flag] = (tmp_path_factory.mktemp("bad_flag"), [flag])
    cases["file"] = (tmp_path_factory.mktemp("file") / "file", [])
    cases["file"][0].write_text("")
    cases["locked"] = (tmp_path_factory.mktemp("locked") / "run", ["--steps=2"])
    cases["locked"][0].mkdir()
    lock = run_dir.Lock(str(cases["locked"][0]))  # This process plays the first run.
    try:
        runs = run_trains(
            *(
                (f"--output_dir={path}", "--steps=1", *flags, {"timeout": 300})
                for path, flags in cases.values()
            )
        )
    finally:
        lock.release()
    return {case: (run, path) for case, run, (path, _) in zip(cases, runs, cases.values())}


@pytest.mark.slow
@pytest.mark.parametrize("flag", list(BAD_FLAGS))
def test_bad_flags_are_named_in_one_line(refused_runs, flag):
    assert_one_line_error(refused_runs[flag][0], BAD_FLAGS[flag])


@pytest.mark.slow
def test_a_file_as_output_dir_is_named(refused_runs):
    result, path = refused_runs["file"]
    assert_one_line_error(result, f"--output_dir={path} is a file")


@pytest.mark.slow
def test_a_second_run_on_a_locked_directory_stops_naming_the_holder(refused_runs):
    result, out = refused_runs["locked"]
    assert_one_line_error(result, f"in use by another training run (PID {os.getpid()})")
    assert not os.path.exists(out / "checkpoints") and not os.path.exists(out / "config.json")


@pytest.mark.slow
def test_a_kill_during_a_checkpoint_write_resumes_bit_for_bit(tmp_path):
    # 12 sequences in batches of 4: the 6 steps cross two epochs of the stream.
    flags = ["--num_sequences=12", "--steps=6", "--checkpoint_every=2"]
    whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=ROOT)
    log = tmp_path / "whole.log"
    with open(log, "w") as f:  # Runs beside the killed run, to save time.
        uninterrupted = subprocess.Popen(
            [
                sys.executable,
                os.path.join(ROOT, "train.py"),
                *TINY,
                *flags,
                f"--output_dir={whole}",
            ],
            env=env,
            cwd=ROOT,
            stdout=f,
            stderr=f,
        )
    first = run_train(
        f"--output_dir={killed}",
        *flags,
        script="tests/faulty_train.py",
        fault=["--fault=kill_at_checkpoint=4"],
    )
    assert first.returncode == -9, first.stderr[-3000:]
    assert os.path.isdir(os.path.join(killed, "checkpoints", "ckpt-4_temp"))
    # What kills during the other writes leave.
    os.mkdir(os.path.join(killed, ".export-x1"))
    open(os.path.join(killed, "samples.gif.tmp-y2"), "w").close()
    resumed = run_train(f"--output_dir={killed}", *flags)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "took over the lock" in resumed.stdout and "from step 2" in resumed.stdout
    assert "ckpt-4_temp" in resumed.stdout and ".export-x1" in resumed.stdout
    assert sorted(n for n in os.listdir(killed) if n.startswith(".") or ".tmp-" in n) == [
        run_dir.LOCK_NAME
    ]
    assert uninterrupted.wait(timeout=600) == 0, log.read_text()[-3000:]
    expected = checkpoint_tensors(os.path.join(whole, "checkpoints", "ckpt-6"))
    actual = checkpoint_tensors(os.path.join(killed, "checkpoints", "ckpt-6"))
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, err_msg=name)


@pytest.mark.slow
def test_a_checkpoint_without_seed_states_resumes_with_a_warning(tmp_path):
    # As train.py wrote them before the seed generators' states were saved.
    cfg = config.get_preset(
        "synthetic",
        num_keypoints=4,
        encoder_filters=4,
        rnn_units=8,
        num_bom_samples=2,
        batch_size=4,
    )
    model = model_lib.StructVRNN(cfg)
    model.compile(optimizer=optimizers.make_optimizer(cfg))
    model.build_all()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(2)
    out = tmp_path / "run"
    tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=model.optimizer), str(out / "checkpoints"), 3
    ).save(checkpoint_number=2)
    bad = model_lib.StructVRNN(cfg.replace(rnn_units=16))
    bad.compile(optimizer=optimizers.make_optimizer(cfg))
    bad.build_all()
    bad.optimizer.build(bad.trainable_variables)
    other = tmp_path / "other"
    tf.train.CheckpointManager(
        tf.train.Checkpoint(model=bad, optimizer=bad.optimizer), str(other / "checkpoints"), 3
    ).save(checkpoint_number=2)
    result, unfit = run_trains(
        (f"--output_dir={out}", "--steps=3", "--checkpoint_every=3"),
        (f"--output_dir={other}", "--steps=3"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "from step 2" in result.stdout and "predates saved sampling seeds" in result.stderr
    assert_one_line_error(unfit, f"{other}/checkpoints/ckpt-2 does not fit this model")


@pytest.mark.slow
def test_damaged_checkpoints_and_config_are_named_and_skipped(tmp_path, four_steps):
    # Each damage on its own copy of the run, two runs at a time.
    latest, every, fresh, config_only = (
        copy_run(four_steps, tmp_path / name) for name in ("latest", "every", "fresh", "config")
    )
    open(os.path.join(latest, "checkpoints", "ckpt-4.index"), "w").close()
    for name in os.listdir(os.path.join(every, "checkpoints")):
        if name.startswith("ckpt-"):
            open(os.path.join(every, "checkpoints", name), "w").close()
    shutil.rmtree(os.path.join(fresh, "checkpoints"))
    for out in (fresh, config_only):
        with open(os.path.join(out, "config.json"), "w") as f:
            f.write('{"seed": ')
    resumed, refused, started, unreadable = run_trains(
        (f"--output_dir={latest}", "--steps=4", "--checkpoint_every=2"),
        (f"--output_dir={every}", "--steps=4"),
        (f"--output_dir={fresh}", "--steps=2"),
        (f"--output_dir={config_only}", "--steps=4"),
    )
    checkpoints = os.path.join(latest, "checkpoints")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"skipping the damaged checkpoint {checkpoints}/ckpt-4" in resumed.stderr
    assert "from step 2" in resumed.stdout
    assert os.path.getsize(os.path.join(checkpoints, "ckpt-4.index")) > 0  # Written anew.
    assert_one_line_error(refused, f"no checkpoint in {every}/checkpoints is intact")
    # Without checkpoints an unreadable config is replaced: nothing was trained.
    assert started.returncode == 0, started.stderr[-3000:]
    assert_one_line_error(unreadable, "config.json is unreadable")


def _video_split(directory, length=12, size=32):
    for v in range(2):
        os.makedirs(directory / f"v{v}")
        for t in range(length):
            frame = np.random.default_rng([v, t]).integers(0, 256, (size, size, 3), np.uint8)
            Image.fromarray(frame).save(directory / f"v{v}" / f"{t:03d}.png")
    return directory / "v1" / "005.png"


def _npz_split(directory, length=12, size=32):
    directory.mkdir(parents=True)
    for i in range(2):
        rng = np.random.default_rng(i)
        np.savez(
            directory / f"{i}.npz",
            image=rng.integers(0, 256, (length, size, size, 3), np.uint8),
            action=rng.normal(size=(length, 2)).astype(np.float32),
        )
    return directory / "1.npz"


def _cut_in_half(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # Inside image.npy, the first and largest member.
    path.write_bytes(bytes(data))


def _nan_actions(path):
    with np.load(path) as arrays:
        image = arrays["image"]
    np.savez(path, image=image, action=np.full((len(image), 2), np.nan, np.float32))


def _damaged_data(tmp_path, write, damage):
    data_dir = tmp_path / "data"
    write(data_dir / "test")
    bad = write(data_dir / "train")
    damage(bad)
    return data_dir, bad


# Damaged training data: met when the dataset is built (and named before
# training), or, with the checks off (tests/faulty_train.py), inside the pipeline.
CORRUPT_DATA = {
    "videos-cut": ("videos", _video_split, _cut_in_half, " has unreadable pixel data"),
    "npz-flipped": ("npz", _npz_split, _flip_a_byte, ": `image` is corrupt: BadZipFile"),
    "npz-nan": ("npz", _npz_split, _nan_actions, ": `action` contains NaN"),
}
UNVALIDATED = ("videos-cut", "npz-flipped")


@pytest.fixture(scope="module")
def corrupt_data_runs(tmp_path_factory):
    """train.py run on each damaged dataset, two at a time: {(case, validated): (result, bad)}."""
    runs, bad_files = [], []
    cases = [(case, True) for case in CORRUPT_DATA] + [(case, False) for case in UNVALIDATED]
    for case, validated in cases:
        dataset, write, damage, _ = CORRUPT_DATA[case]
        directory = tmp_path_factory.mktemp(case)
        data_dir, bad = _damaged_data(directory, write, damage)
        fault = (
            {}
            if validated
            else {"script": "tests/faulty_train.py", "fault": ["--fault=unvalidated_data"]}
        )
        runs.append(
            (
                f"--dataset={dataset}",
                "--preset=synthetic",
                f"--data_dir={data_dir}",
                f"--output_dir={directory / 'run'}",
                "--steps=20",
                "--batch_size=2",
                dict(base=TINY_MODEL, timeout=300, **fault),
            )
        )
        bad_files.append(bad)
    return dict(zip(cases, zip(run_trains(*runs), bad_files)))


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CORRUPT_DATA))
def test_corrupt_data_is_named_before_training(corrupt_data_runs, case):
    result, bad = corrupt_data_runs[case, True]
    assert_one_line_error(result, f"{bad}{CORRUPT_DATA[case][-1]}")


@pytest.mark.slow
@pytest.mark.parametrize("case", UNVALIDATED)
def test_data_found_corrupt_in_training_stops_the_run_without_a_hang(corrupt_data_runs, case):
    # Unvalidated, the damage is met inside the pipeline's numpy_function.
    result, bad = corrupt_data_runs[case, False]
    assert_one_line_error(result, "reading the training data failed", str(bad), returncode=1)


@pytest.mark.slow
def test_dmcs_is_generated_and_trains_an_action_conditional_export(tmp_path):
    data_dir, out = str(tmp_path / "dmcs"), str(tmp_path / "run")
    result = run_train(
        "--dataset=dmcs",
        f"--data_dir={data_dir}",
        f"--output_dir={out}",
        "--dmcs_train_episodes=1",
        "--dmcs_test_episodes=1",
        "--dmcs_episode_length=20",
        "--observed_steps=3",
        "--predicted_steps=2",
        "--steps=2",
        "--batch_size=2",
        "--checkpoint_every=2",
        base=TINY_MODEL,
    )
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
    dmcs_values = {
        "sparsity_scale": 5.0,
        "kl_scale": 3e-3,
        "latent_size": 128,
        "separation_sigma": 2e-2,
        "prior_net_size": 16,
        "layers_per_scale": 1,
    }
    assert {name: config[name] for name in dmcs_values} == dmcs_values
    assert np.all(np.isfinite(keypoints))
    assert not np.allclose(keypoints, predicted_keypoints(-actions)), "actions are ignored"
