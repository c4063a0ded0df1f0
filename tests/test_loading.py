import numpy as np
import pytest
import tensorflow as tf

from video_structure import config
from video_structure.data import loading, registry, synthetic

CONFIG = config.get_preset("synthetic", batch_size=2, observed_steps=2, predicted_steps=1)


@pytest.mark.parametrize("name", [n for n, s in registry.DATASETS.items() if s.scene])
def test_generated_datasets_fit_the_config(name):
    train, test, action_size = loading.load(name, CONFIG, num_sequences=8)
    assert action_size == 0
    # Every batch holds sequences of the dataset's own scene (shuffled).
    frames, positions = synthetic.generate(8, 3, 32, scene=registry.DATASETS[name].scene)
    for data in (train, test):
        batch = next(iter(data))
        loading.check_batch(batch, CONFIG, "test data")
        assert batch["frames"].shape == (2, 3, 32, 32, 3)
        assert batch["positions"].shape == (2, 3, 3, 2)
    batch = next(iter(train))
    for sequence, position in zip(batch["frames"].numpy(), batch["positions"].numpy()):
        index = int(np.argmin(np.abs(positions - position).sum(axis=(1, 2, 3))))
        np.testing.assert_array_equal(positions[index], position)
        np.testing.assert_array_equal(frames[index], np.round(sequence * 255).astype(np.uint8))


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        loading.load("nope", CONFIG)


@pytest.mark.parametrize(
    "frames,message",
    [
        (np.zeros([2, 3, 16, 16, 3], np.float32), r"shape \(2, 3, 16, 16, 3\)"),
        (np.zeros([2, 4, 32, 32, 3], np.float32), r"shape \(2, 4, 32, 32, 3\)"),
        (np.full([2, 3, 32, 32, 3], 255.0, np.float32), r"values in \[255, 255\]"),
        (np.full([2, 3, 32, 32, 3], np.nan, np.float32), "NaN"),
        (np.zeros([2, 3, 32, 32, 3], np.uint8), "dtype uint8"),
    ],
)
def test_bad_frames_are_named(frames, message):
    with pytest.raises(ValueError, match=message):
        loading.check_batch({"frames": tf.constant(frames)}, CONFIG, "my data")


def write_npz_split(directory, num_files=2, length=6, size=32, with_actions=True, channels=3):
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(num_files):
        arrays = {"image": rng.integers(0, 256, (length, size, size, channels), dtype=np.uint8)}
        if with_actions:
            arrays["action"] = rng.uniform(size=(length, 2)).astype(np.float32)
        np.savez(directory / f"seq{i}.npz", **arrays)


def test_npz_dataset_reads_split_folders_and_finds_the_action_size(tmp_path):
    write_npz_split(tmp_path / "train")
    write_npz_split(tmp_path / "test")
    data, action_size = loading.load_split(
        "npz", "test", CONFIG, 2, data_dir=str(tmp_path), repeat=False
    )
    batch = next(iter(data))
    loading.check_batch(batch, CONFIG, "npz")
    assert action_size == 2 and batch["actions"].shape == (2, 3, 2)


@pytest.mark.parametrize("name", ["npz", "videos"])
def test_file_datasets_name_what_is_missing(tmp_path, name):
    with pytest.raises(ValueError, match="--data_dir"):
        loading.load_split(name, "train", CONFIG, 2)
    with pytest.raises(FileNotFoundError, match="train"):
        loading.load_split(name, "train", CONFIG, 2, data_dir=str(tmp_path))


@pytest.mark.parametrize(
    "name,how", [("basketball", "render_basketball.py"), ("human36m", "prepare_human36m.py")]
)
def test_missing_paper_datasets_say_how_to_make_them(tmp_path, name, how):
    with pytest.raises(FileNotFoundError, match=f"test split in {tmp_path}/test.*{how}"):
        loading.load_split(name, "test", CONFIG, 2, data_dir=str(tmp_path))


@pytest.mark.parametrize("num_sequences,batch_size,sizes", [(5, 2, [2, 2, 1]), (3, 8, [3])])
def test_take_sequences_cuts_the_split_to_the_count(num_sequences, batch_size, sizes):
    batches, action_size = loading.take_sequences(
        "synthetic", "test", CONFIG, num_sequences, batch_size, seed=3
    )
    batches = list(batches)
    assert action_size == 0 and [len(b["frames"]) for b in batches] == sizes
    frames = np.concatenate([b["frames"] for b in batches])
    assert isinstance(frames, np.ndarray) and frames.shape == (num_sequences, 3, 32, 32, 3)
    assert len(np.unique(frames.reshape(num_sequences, -1), axis=0)) == num_sequences


def test_take_sequences_reads_the_first_sequences_of_one_shuffled_order(tmp_path):
    write_npz_split(tmp_path / "test", num_files=6, length=3)  # One window per file.

    def frames(num_sequences, batch_size):
        batches, _ = loading.take_sequences(
            "npz", "test", CONFIG, num_sequences, batch_size, data_dir=str(tmp_path), seed=3
        )
        return np.concatenate([b["frames"] for b in batches])

    everything = frames(6, 6)
    np.testing.assert_array_equal(frames(4, 2), everything[:4])
    np.testing.assert_array_equal(frames(5, 3), everything[:5])


@pytest.mark.parametrize("window_stride, count", [(None, 2), (3, 2), (1, 6)])
def test_take_sequences_window_stride(tmp_path, window_stride, count):
    # Two files of 5 frames; CONFIG's windows have 3: test windows do not
    # overlap by default (one per file at stride 3), stride 1 gives 3 per file.
    write_npz_split(tmp_path / "test", num_files=2, length=5)
    batches, _ = loading.take_sequences(
        "npz", "test", CONFIG, 100, 1, data_dir=str(tmp_path), window_stride=window_stride
    )
    assert sum(len(b["frames"]) for b in batches) == count


def test_take_sequences_of_a_small_split_warns_or_names_the_split(tmp_path, caplog):
    write_npz_split(tmp_path / "test", num_files=3, length=3)  # One window per file.
    batches, _ = loading.take_sequences("npz", "test", CONFIG, 4, 1, data_dir=str(tmp_path))
    assert len(list(batches)) == 3
    assert "has only 3 sequences (asked for 4)" in caplog.text
    with pytest.raises(ValueError, match="test has 3 windows of 3 frames, fewer than batch_size"):
        loading.take_sequences("npz", "test", CONFIG, 4, 4, data_dir=str(tmp_path))


@pytest.mark.parametrize(
    "train,test,message",
    [
        ({}, {"with_actions": False}, "train and test splits differ"),
        ({}, {"channels": 1}, "train and test splits differ"),
        ({"channels": 1}, {"channels": 1}, "1 channels, but image_channels=3"),
    ],
)
def test_splits_that_differ_from_each_other_or_the_model_are_refused(
    tmp_path, train, test, message
):
    write_npz_split(tmp_path / "train", **train)
    write_npz_split(tmp_path / "test", **test)
    with pytest.raises(ValueError, match=message):
        loading.load("npz", CONFIG, data_dir=str(tmp_path))


def test_the_train_stream_starts_at_the_step_given():
    def train_frames(start_step, count):
        train, _, _ = loading.load("synthetic", CONFIG, num_sequences=6, start_step=start_step)
        return np.stack([b["frames"].numpy() for b in train.take(count)])

    np.testing.assert_array_equal(train_frames(4, 2), train_frames(0, 6)[4:])


def test_generated_yields_batches_in_range():
    data = loading.generated("blobs", "train", 10, 4, batch_size=3, image_size=32)
    batch = next(iter(data))
    assert batch["frames"].shape == (3, 4, 32, 32, 3)
    assert batch["positions"].shape == (3, 4, 3, 2)
    frames = batch["frames"].numpy()
    assert frames.dtype == np.float32 and frames.min() >= 0 and frames.max() <= 1
