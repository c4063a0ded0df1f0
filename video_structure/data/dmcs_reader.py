"""The tf.data reader of the DMCS shards that video_structure.data.dmcs writes.

Memory-maps every shard of a split after checking it against the manifest and
cuts windows out of its episodes by slicing (see `window_dataset`).
"""

import os

import numpy as np

from video_structure.data import dmcs
from video_structure.data.windows import window_dataset


def dmcs_dataset(
    data_dir,
    split,
    seq_len,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=None,
    domains=None,
    window_stride=1,
    image_size=64,
    verify_checksums=True,
    start_batch=0,
):
    """Reads a dataset written by `video_structure.data.dmcs.generate`.

    Args:
        data_dir: the dataset directory (with manifest.json).
        split: 'train' or 'test'.
        seq_len: frames per window.
        batch_size: windows per batch (incomplete batches are dropped).
        shuffle: whether to shuffle windows.
        repeat: whether to repeat forever.
        seed: shuffle seed, or None.
        domains: 'domain/task' names to read; None reads all. `domain` in the
            batch is always the index into the manifest's `domains` list.
        window_stride: windows start at multiples of this frame count.
        image_size: expected frame height and width.
        verify_checksums: compare each shard's SHA-256 with the manifest
            (reads every shard once).
        start_batch: index of the first batch of a repeating stream (see
            `window_dataset`).

    Returns:
        A tf.data.Dataset of dicts with `frames` [batch, seq_len, H, W, 3],
        `actions` [batch, seq_len, A] (zero-padded to the largest action size
        of the dataset), `rewards` [batch, seq_len], `positions`
        [batch, seq_len, N, 2] (NaN for bodies a domain does not have) and
        `domain` [batch] and `episode` [batch] (the episode's index within
        the split: shards in manifest order, records in shard order).

    Raises:
        FileNotFoundError: missing directory, manifest or shard.
        ValueError: unknown split or domain, wrong image size, or a shard that
            is truncated, corrupt or does not match the manifest.
    """
    if split not in dmcs.SPLITS:
        raise ValueError(f"split must be one of {dmcs.SPLITS}, got {split!r}")
    manifest = dmcs.load_manifest(data_dir)
    if manifest["image_size"] != image_size:
        raise ValueError(
            f"{data_dir} holds {manifest['image_size']}x"
            f"{manifest['image_size']} frames, expected {image_size}x"
            f"{image_size}"
        )
    domains = manifest["domains"] if domains is None else list(domains)
    unknown = [d for d in domains if d not in manifest["domains"]]
    if unknown:
        raise ValueError(f"Unknown domain(s) {unknown}: {data_dir} holds {manifest['domains']}")
    shards = [s for s in manifest["shards"] if s["split"] == split and s["domain"] in domains]
    if not shards:
        raise ValueError(f"{data_dir} has no {split} episodes of {domains}")
    fields = manifest["dtype"].names
    episodes = []  # (field views of a memory-mapped shard, episode index).
    names = []
    for shard in shards:
        records = dmcs.open_shard(data_dir, manifest, shard, verify_checksums)
        views = {name: records[name] for name in fields}
        episodes.extend((views, i) for i in range(len(records)))
        path = os.path.join(data_dir, shard["file"])
        names.extend(f"{path} (episode {i})" for i in range(len(records)))
    dtype = manifest["dtype"]
    specs = {
        name: (
            dtype[name].base.type,
            (seq_len,) + dtype[name].shape[1:] if dtype[name].shape else (),
        )
        for name in fields
    }
    specs["episode"] = (np.int32, ())

    def read_window(index, start, length):
        views, episode = episodes[index]
        window = {
            name: views[name][episode, start : start + length]
            for name in fields
            if name != "domain"
        }
        window["domain"] = views["domain"][episode]
        window["episode"] = index
        return window

    return window_dataset(
        [manifest["episode_length"]] * len(episodes),
        read_window,
        specs,
        seq_len,
        batch_size,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        window_stride=window_stride,
        source=f"{data_dir} ({split})",
        names=names,
        start_batch=start_batch,
    )
