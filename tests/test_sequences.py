"""Tests for video_structure.data.sequences."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from video_structure.data import dmcs, sequences

_DOMAINS = ["cartpole/balance", "walker/walk"]
_LENGTH = 6


@pytest.fixture(scope="module")
def dmcs_dir(tmp_path_factory):
    # Generation only spawns TF-free processes, so it is safe from this
    # process even though it has imported TensorFlow.
    path = str(tmp_path_factory.mktemp("dmcs"))
    dmcs.generate(
        path,
        domains=_DOMAINS,
        train_episodes=2,
        test_episodes=2,
        episode_length=_LENGTH,
        episodes_per_shard=1,
        seed=5,
        num_workers=2,
        progress=False,
    )
    return path


@pytest.fixture
def dmcs_copy(dmcs_dir, tmp_path):
    path = str(tmp_path / "copy")
    shutil.copytree(dmcs_dir, path)
    return path


def _episodes(data_dir, split):
    """Returns {field: [episodes, ...]} read with numpy, in manifest order."""
    manifest = dmcs.load_manifest(data_dir)
    records = np.concatenate(
        [dmcs.open_shard(data_dir, manifest, s) for s in manifest["shards"] if s["split"] == split]
    )
    return {name: records[name] for name in records.dtype.names}


def _find_window(batch_frames, episodes_frames):
    """Returns (episode, start) whose frames equal a window, or None."""
    length = len(batch_frames)
    for episode, frames in enumerate(episodes_frames):
        for start in range(len(frames) - length + 1):
            if np.array_equal(frames[start : start + length], batch_frames):
                return episode, start
    return None


def test_dmcs_dataset_yields_every_window_once(dmcs_dir):
    dataset = sequences.dmcs_dataset(
        dmcs_dir, "test", seq_len=4, batch_size=2, shuffle=False, repeat=False
    )
    episodes = _episodes(dmcs_dir, "test")
    windows = []
    for batch in dataset:
        assert batch["frames"].shape == (2, 4, 64, 64, 3)
        assert batch["frames"].dtype == tf.float32
        assert batch["actions"].shape == (2, 4, 6)
        assert batch["rewards"].shape == (2, 4)
        assert batch["positions"].shape == (2, 4, 7, 2)
        assert batch["domain"].dtype == tf.int32
        for key in ("actions", "rewards", "positions"):
            assert batch[key].dtype == tf.float32, key
        frames = batch["frames"].numpy()
        assert frames.min() >= 0 and frames.max() <= 1
        assert np.all(np.abs(batch["actions"]) <= 1)
        assert np.all((batch["rewards"] >= 0) & (batch["rewards"] <= 1))
        positions = batch["positions"].numpy()  # [2, 4, 7, 2]
        num_bodies = np.where(batch["domain"].numpy() == 0, 2, 7)  # cartpole, walker
        for i in range(2):
            assert np.all(np.abs(positions[i, :, : num_bodies[i]]) < 1)
            assert np.all(np.isnan(positions[i, :, num_bodies[i] :]))
        for i in range(2):
            uint8 = np.round(frames[i] * 255).astype(np.uint8)
            found = _find_window(uint8, episodes["frames"])
            assert found is not None, "window crosses an episode boundary"
            episode, start = found
            window = slice(start, start + 4)
            for key in ("actions", "rewards", "positions"):
                np.testing.assert_array_equal(batch[key][i], episodes[key][episode, window])
            assert batch["domain"][i] == episodes["domain"][episode]
            assert batch["episode"][i] == episode
            windows.append(found)
    # 4 episodes x 3 windows of 4 frames in 6; batch 2 divides 12.
    assert sorted(windows) == [(e, s) for e in range(4) for s in range(3)]
    domain = episodes["domain"]
    assert sorted(domain.tolist()) == [0, 0, 1, 1]
    walker = np.flatnonzero(domain == 1)[0]
    cartpole = np.flatnonzero(domain == 0)[0]
    assert np.all(np.isnan(episodes["positions"][cartpole, :, 2:]))
    assert not np.any(np.isnan(episodes["positions"][walker]))
    assert np.all(episodes["actions"][cartpole, :, 1:] == 0)


def test_dmcs_dataset_shuffle_is_seeded(dmcs_dir):
    def first_rewards(seed, shuffle=True):
        dataset = sequences.dmcs_dataset(
            dmcs_dir, "train", seq_len=2, batch_size=4, shuffle=shuffle, repeat=True, seed=seed
        )
        return np.concatenate([b["rewards"].numpy() for b in dataset.take(5)])

    np.testing.assert_array_equal(first_rewards(1), first_rewards(1))
    assert not np.array_equal(first_rewards(1), first_rewards(None, False))


@pytest.mark.parametrize(
    "domains, expected", [(["walker/walk"], {1}), (["cartpole/balance"], {0}), (None, {0, 1})]
)
def test_dmcs_dataset_domain_selection(dmcs_dir, domains, expected):
    dataset = sequences.dmcs_dataset(
        dmcs_dir,
        "train",
        seq_len=_LENGTH,
        batch_size=1,
        shuffle=False,
        repeat=False,
        domains=domains,
    )
    assert {int(b["domain"][0]) for b in dataset} == expected


def test_dmcs_dataset_window_stride(dmcs_dir):
    dataset = sequences.dmcs_dataset(
        dmcs_dir, "train", seq_len=2, batch_size=1, shuffle=False, repeat=False, window_stride=2
    )
    # 4 episodes x starts {0, 2, 4}.
    assert sum(1 for _ in dataset) == 12


def _truncate(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(path, name)) - 100)


def _flip_last_byte(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))


def _edit_manifest(path, edit):
    manifest_path = os.path.join(path, dmcs.MANIFEST_NAME)
    with open(manifest_path) as f:
        manifest = json.load(f)
    edit(manifest)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)


def _shard_name(path):
    return dmcs.load_manifest(path)["shards"][0]["file"]


def _more_episodes(manifest):
    manifest["shards"][0]["num_episodes"] = 2


def _drop_checksum(manifest):
    del manifest["shards"][0]["sha256"]


def _drop_size(manifest):
    del manifest["shards"][0]["bytes"]


def _longer_episodes(manifest):
    manifest["episode_length"] += 1
    for _, _, shape in manifest["record_dtype"]:
        if shape:
            shape[0] += 1


def _damage_shard_header(path, name):
    with open(os.path.join(path, name), "r+b") as f:
        f.write(b"garbage!")


@pytest.mark.parametrize(
    "damage, error, match",
    [
        (lambda p: _truncate(p, _shard_name(p)), ValueError, "truncated"),
        (lambda p: _flip_last_byte(p, _shard_name(p)), ValueError, "corrupt"),
        (lambda p: os.remove(os.path.join(p, _shard_name(p))), FileNotFoundError, "missing"),
        (
            lambda p: _edit_manifest(p, _more_episodes),
            ValueError,
            "listed with {'num_episodes': 2}",
        ),
        (lambda p: _edit_manifest(p, lambda m: m["shards"].pop(0)), ValueError, "missing from"),
        (lambda p: _edit_manifest(p, _drop_checksum), ValueError, r"lacks \['sha256'\]"),
        (lambda p: _edit_manifest(p, _drop_size), ValueError, r"lacks \['bytes'\]"),
        (lambda p: _edit_manifest(p, _longer_episodes), ValueError, "manifest expects"),
        (
            lambda p: _edit_manifest(p, lambda m: m["record_dtype"].pop()),
            ValueError,
            "Malformed DMCS manifest",
        ),
        (
            lambda p: os.remove(os.path.join(p, dmcs.MANIFEST_NAME)),
            FileNotFoundError,
            "manifest.json not found",
        ),
    ],
)
def test_dmcs_dataset_rejects_damaged_data(dmcs_copy, damage, error, match):
    name = _shard_name(dmcs_copy)
    damage(dmcs_copy)
    with pytest.raises(error, match=match) as info:
        sequences.dmcs_dataset(dmcs_copy, "train", 2, 1)
    if "manifest" not in match:
        assert name in str(info.value)


def test_dmcs_dataset_rejects_bad_header_without_checksums(dmcs_copy):
    name = _shard_name(dmcs_copy)
    _damage_shard_header(dmcs_copy, name)
    with pytest.raises(ValueError, match=re.escape(f"{name} is not a readable")):
        sequences.dmcs_dataset(dmcs_copy, "train", 2, 1, verify_checksums=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"split": "valid"}, ValueError, "split"),
        ({"domains": ["cheetah/run"]}, ValueError, "cheetah/run"),
        ({"image_size": 32}, ValueError, "expected 32x32"),
        ({"seq_len": _LENGTH + 1}, ValueError, "seq_len=7"),
        ({"seq_len": 0}, ValueError, "seq_len"),
        ({"batch_size": 100, "repeat": False}, ValueError, "batch_size=100"),
    ],
)
def test_dmcs_dataset_rejects_bad_arguments(dmcs_dir, kwargs, error, match):
    args = dict(split="train", seq_len=2, batch_size=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sequences.dmcs_dataset(dmcs_dir, **args)


@pytest.mark.parametrize(
    "reader", [sequences.dmcs_dataset, sequences.npz_dataset, sequences.video_dataset]
)
def test_empty_or_missing_directory(tmp_path, reader):
    args = ("train",) if reader is sequences.dmcs_dataset else ()
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
            reader(str(path), *args, 2, 1)


def _write_npz(
    path, length, size=64, keys=("image", "true_object_pos", "action", "reward"), seed=0
):
    rng = np.random.default_rng(seed)
    arrays = {
        "image": rng.integers(0, 256, (length, size, size, 3), np.uint8),
        "true_object_pos": rng.uniform(0, 1, (length, 3, 2)),
        "action": rng.normal(size=(length, 2)).astype(np.float32),
        "reward": rng.normal(size=length),
    }
    arrays = {k: v for k, v in arrays.items() if k in keys}
    np.savez(path, **arrays)
    return arrays


def test_npz_dataset_passes_authors_arrays_through(tmp_path):
    written = [_write_npz(tmp_path / f"{i:03d}.npz", 5, seed=i) for i in range(2)]
    dataset = sequences.npz_dataset(
        str(tmp_path), seq_len=5, batch_size=2, shuffle=False, repeat=False
    )
    (batch,) = list(dataset)
    assert sorted(batch) == ["actions", "frames", "positions", "rewards"]
    assert batch["positions"].dtype == tf.float32
    for i, arrays in enumerate(written):
        np.testing.assert_allclose(batch["frames"][i], arrays["image"] / 255, atol=1e-7)
        np.testing.assert_allclose(batch["positions"][i], arrays["true_object_pos"], atol=1e-7)
        np.testing.assert_array_equal(batch["actions"][i], arrays["action"])
        np.testing.assert_allclose(batch["rewards"][i], arrays["reward"], atol=1e-6)


def test_npz_dataset_accepts_no_objects(tmp_path):
    # The authors' example file has true_object_pos of shape [T, 0, 2].
    arrays = _write_npz(tmp_path / "a.npz", 4, keys=("image",))
    np.savez(tmp_path / "a.npz", true_object_pos=np.zeros((4, 0, 2)), **arrays)
    dataset = sequences.npz_dataset(
        str(tmp_path), seq_len=2, batch_size=3, shuffle=False, repeat=False
    )
    (batch,) = list(dataset)
    assert batch["positions"].shape == (3, 2, 0, 2)
    np.testing.assert_allclose(batch["frames"][2], arrays["image"][2:4] / 255, atol=1e-7)


def test_a_single_pass_ends_with_a_partial_batch(tmp_path):
    arrays = _write_npz(tmp_path / "a.npz", 7, keys=("image",))
    dataset = sequences.npz_dataset(
        str(tmp_path), seq_len=3, batch_size=2, shuffle=False, repeat=False
    )
    batches = list(dataset)
    # 5 windows: two full batches and the last window alone, none dropped.
    assert [len(b["frames"]) for b in batches] == [2, 2, 1]
    np.testing.assert_allclose(batches[-1]["frames"][0], arrays["image"][4:7] / 255, atol=1e-7)


# A cache of 0 bytes decodes the file again for each of its 5 windows.
@pytest.mark.parametrize("cache_bytes,decodes", [(0, 5), (2**29, 1)])
def test_npz_dataset_windows(tmp_path, monkeypatch, cache_bytes, decodes):
    arrays = _write_npz(tmp_path / "a.npz", 7, keys=("image",))
    dataset = sequences.npz_dataset(
        str(tmp_path),
        seq_len=3,
        batch_size=5,
        shuffle=False,
        repeat=False,
        cache_bytes=cache_bytes,
    )
    loads = []
    load = np.load

    def counting_load(*args, **kwargs):
        loads.append(args[0])
        return load(*args, **kwargs)

    monkeypatch.setattr(np, "load", counting_load)
    (batch,) = list(dataset)
    assert len(loads) == decodes
    assert sorted(batch) == ["frames"]
    for start in range(5):
        np.testing.assert_allclose(
            batch["frames"][start], arrays["image"][start : start + 3] / 255, atol=1e-7
        )


def test_npz_dataset_rejects_bad_files(tmp_path):
    _write_npz(tmp_path / "a.npz", 4)
    bad = tmp_path / "b.npz"
    _write_npz(bad, 4, keys=("action", "reward"))
    with pytest.raises(ValueError, match=re.escape(f"{bad} has no `image`")):
        sequences.npz_dataset(str(tmp_path), 2, 1)
    _write_npz(bad, 4, size=32)
    with pytest.raises(ValueError, match=re.escape(f"{bad}: `image` has shape")):
        sequences.npz_dataset(str(tmp_path), 2, 1)
    _write_npz(bad, 4, keys=("image",))
    with pytest.raises(ValueError, match=re.escape(f"{bad} has arrays")):
        sequences.npz_dataset(str(tmp_path), 2, 1)
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable")):
        sequences.npz_dataset(str(tmp_path), 2, 1)


@pytest.mark.parametrize(
    "key, shape, expected",
    [
        ("reward", (4, 1), "[T]"),
        ("action", (4,), "[T, A]"),
        ("action", (3, 2), "[T, A]"),
        ("true_object_pos", (4, 3), "[T, N, 2]"),
        ("true_object_pos", (4, 3, 3), "[T, N, 2]"),
    ],
)
def test_npz_dataset_rejects_arrays_of_other_shapes(tmp_path, key, shape, expected):
    arrays = _write_npz(tmp_path / "a.npz", 4)
    arrays[key] = np.zeros(shape, np.float32)
    np.savez(tmp_path / "a.npz", **arrays)
    message = f"{tmp_path / 'a.npz'}: `{key}` has shape {shape}, expected {expected} with T = 4"
    with pytest.raises(ValueError, match=re.escape(message)):
        sequences.npz_dataset(str(tmp_path), 2, 1)


def _frames(length, size=64):
    # Few distinct colours, so GIF palettes reproduce them exactly.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)
    frames = np.zeros((length, size, size, 3), np.uint8)
    for t in range(length):
        frames[t] = colours[t % 4]
        frames[t, t : t + 8, 10:20] = colours[(t + 1) % 4]
    return frames


def test_video_dataset_reads_folders_and_gifs(tmp_path):
    folder_frames, gif_frames = _frames(4), _frames(5)[::-1]
    os.mkdir(tmp_path / "clip")
    for t, frame in enumerate(folder_frames):
        Image.fromarray(frame).save(tmp_path / "clip" / f"frame_{t:02d}.png")
    images = [Image.fromarray(f) for f in gif_frames]
    images[0].save(
        tmp_path / "other.gif", save_all=True, append_images=images[1:], duration=40, loop=0
    )
    dataset = sequences.video_dataset(
        str(tmp_path), seq_len=4, batch_size=3, shuffle=False, repeat=False
    )
    (batch,) = list(dataset)
    assert sorted(batch) == ["frames"]
    frames = np.round(batch["frames"].numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(frames[0], folder_frames)
    np.testing.assert_array_equal(frames[1], gif_frames[:4])
    np.testing.assert_array_equal(frames[2], gif_frames[1:])


def test_video_dataset_rejects_bad_frames(tmp_path):
    os.mkdir(tmp_path / "clip")
    Image.fromarray(_frames(1)[0]).save(tmp_path / "clip" / "0.png")
    bad = tmp_path / "clip" / "1.png"
    Image.fromarray(_frames(1, size=48)[0]).save(bad)
    with pytest.raises(ValueError, match=re.escape(f"{bad} is 48x48 pixels")):
        sequences.video_dataset(str(tmp_path), 1, 1)
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable image")):
        sequences.video_dataset(str(tmp_path), 1, 1)


def _png_folder(root, name, length, size=64):
    os.makedirs(root / name)
    for t, frame in enumerate(_frames(length, size)):
        Image.fromarray(frame).save(root / name / f"{t:03d}.png")
    return root / name


def _cut_short(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_video_dataset_rejects_truncated_pixel_data(tmp_path):
    bad = _png_folder(tmp_path, "clip", 4) / "002.png"
    _cut_short(bad)  # The header stays readable.
    with pytest.raises(ValueError, match=re.escape(f"{bad} has unreadable pixel data")):
        sequences.video_dataset(str(tmp_path), 2, 1)
    shutil.rmtree(tmp_path / "clip")
    images = [
        Image.fromarray(f)
        for f in np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), np.uint8)
    ]
    gif = tmp_path / "clip.gif"
    images[0].save(gif, save_all=True, append_images=images[1:])
    _cut_short(gif, 0.6)
    with pytest.raises(ValueError, match=re.escape(f"{gif} has unreadable pixel data")):
        sequences.video_dataset(str(tmp_path), 2, 1)


def test_npz_dataset_rejects_corrupt_or_unusable_arrays(tmp_path):
    path = tmp_path / "a.npz"
    arrays = _write_npz(path, 4, keys=("image",))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # Inside image.npy: only its CRC shows it.
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(f"{path}: `image` is corrupt: BadZipFile")):
        sequences.npz_dataset(str(tmp_path), 2, 1)
    np.savez(path, action=np.array([[None, 1]] * 4, dtype=object), **arrays)
    with pytest.raises(ValueError, match=re.escape(f"{path}: `action` has dtype object")):
        sequences.npz_dataset(str(tmp_path), 2, 1)
    np.savez(path, action=np.full((4, 2), np.nan, np.float32), **arrays)
    with pytest.raises(ValueError, match=re.escape(f"{path}: `action` contains NaN")):
        sequences.npz_dataset(str(tmp_path), 2, 1)


def test_short_sequences_are_skipped_with_a_warning(tmp_path, caplog):
    _write_npz(tmp_path / "long.npz", 4, keys=("image",))
    _write_npz(tmp_path / "short.npz", 2, keys=("image",))
    dataset = sequences.npz_dataset(str(tmp_path), 3, 2, shuffle=False, repeat=False)
    assert len(list(dataset)) == 1
    assert f"Skipping 1 of 2 sequences of {tmp_path} shorter than seq_len=3 frames" in caplog.text
    assert str(tmp_path / "short.npz") in caplog.text


def test_a_batch_larger_than_the_data_is_refused(tmp_path):
    _write_npz(tmp_path / "a.npz", 4, keys=("image",))
    # 3 windows: a repeating batch of 4 would hold one of them twice.
    with pytest.raises(ValueError, match="3 windows of 2 frames, fewer than batch_size=4"):
        sequences.npz_dataset(str(tmp_path), 2, 4, repeat=True)


def test_a_file_damaged_after_validation_is_named_when_read(tmp_path):
    bad = _png_folder(tmp_path, "clip", 4) / "001.png"
    dataset = sequences.video_dataset(str(tmp_path), 4, 1, repeat=False)
    _cut_short(bad)
    with pytest.raises(tf.errors.OpError) as raised:
        list(dataset)
    message = sequences.read_error_message(raised.value)
    assert message == f"{bad}: OSError: image file is truncated"
    assert sequences.read_error_message(tf.errors.UnknownError(None, None, "other")) is None


@pytest.mark.parametrize("shuffle", [True, False])
def test_batch_b_of_a_stream_does_not_depend_on_where_it_starts(tmp_path, shuffle):
    for i in range(2):
        _write_npz(tmp_path / f"{i}.npz", 4, keys=("image",), seed=i)

    def frames(start_batch, count, seed=3):
        dataset = sequences.npz_dataset(
            str(tmp_path), 2, 2, shuffle=shuffle, seed=seed, start_batch=start_batch
        )
        return np.stack([b["frames"].numpy() for b in dataset.take(count)])

    # 6 windows, 3 batches an epoch: batches 2-4 span epochs 0 and 1.
    whole = frames(0, 5)
    np.testing.assert_array_equal(frames(2, 3), whole[2:])
    epochs = whole[:3].reshape(6, -1), frames(3, 3).reshape(6, -1)
    # Each epoch visits every window once, in a new order when shuffling.
    assert sorted(map(bytes, epochs[0])) == sorted(map(bytes, epochs[1]))
    assert np.array_equal(epochs[0], epochs[1]) != shuffle
    assert not shuffle or not np.array_equal(frames(0, 3, seed=4), whole[:3])
