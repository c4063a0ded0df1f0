"""The on-disk format of a DMCS dataset: shard plan, manifest, checked reading.

Plans the shard files of a dataset, reads and checks its manifest, and
memory-maps shards after checking them against it.

Storage format
    Each shard is one `.npy` file holding a 1-D structured array with one record
    per episode and the fields `frames` uint8 [T, H, W, 3], `actions` float32
    [T, A], `rewards` float32 [T], `positions` float32 [T, N, 2] and `domain`
    int32. Reasons: (1) the generator must not import TensorFlow, and `.npy` is
    written by numpy alone, so the rendering workers write their shards
    themselves and the parent never touches pixel data; (2) `np.load(...,
    mmap_mode='r')` memory-maps a shard, so the tf.data reader cuts random
    windows by slicing without decoding or reading whole episodes (TFRecord
    would have to parse every serialized episode to cut a window, and could only
    be written by a TensorFlow process); (3) frames are stored raw (12 KiB per
    64x64 frame): random-action renders compress poorly with fast codecs and
    raw bytes keep the input pipeline cheap. A shard holds `episodes_per_shard`
    episodes of one (split, domain).

    `manifest.json` lists the parameters, seeds, package versions, the record
    dtype, every shard with its size and SHA-256, and per split and domain the
    `statistics` of `motion_statistics` (does a model window show motion and
    reward changes?). Every file is written to a
    temporary file in the same directory and moved into place with os.replace,
    so an interrupted run never leaves a shard that looks complete. A worker
    that dies stops the run with an error; a rerun with the same parameters
    deletes stale temporary files, skips finished shards and writes the
    manifest last; its output is byte-identical to an uninterrupted run.
    `generation_spec.json` (written first) makes a rerun with different
    parameters fail instead of mixing two datasets. The spec includes the GL
    backend and the package versions: content is a function of the seed for
    one backend, package versions and renderer (EGL and OSMesa rendered
    identical frames where we compared them, both on Mesa's software renderer;
    a GPU driver's EGL may differ). A dataset generated in parts on several
    machines also holds one `generation_part-IIIII-of-NNNNN.json` per part,
    from which `merge` writes the manifest (see
    video_structure/data/dmcs/sharding.py).
"""

import json
import os

import numpy as np

from video_structure import files
from video_structure.data.dmcs.episodes import SPLITS, record_dtype
from video_structure.data.dmcs.statistics import dataset_statistics

MANIFEST_NAME = "manifest.json"
SPEC_NAME = "generation_spec.json"
# 2: actions held for several frames, frames every `action_repeat` control
# steps (per domain), mean rewards, motion statistics in the manifest.
FORMAT_VERSION = 2


def _shard_name(split, domain, index, count):
    return f"{split}-{domain.replace('/', '_')}-{index:05d}-of-{count:05d}.npy"


def plan_shards(domains, episodes, episodes_per_shard):
    """Lists the shards of a dataset.

    Args:
        domains: the dataset's domain names.
        episodes: {split: episodes per domain}.
        episodes_per_shard: maximum episodes per shard.

    Returns:
        A list of {'file', 'split', 'domain', 'first_episode', 'num_episodes'}.
    """
    shards = []
    for split in SPLITS:
        num_shards = -(-episodes[split] // episodes_per_shard)
        for domain in domains:
            for index in range(num_shards):
                first = index * episodes_per_shard
                shards.append(
                    {
                        "file": _shard_name(split, domain, index, num_shards),
                        "split": split,
                        "domain": domain,
                        "first_episode": first,
                        "num_episodes": min(episodes_per_shard, episodes[split] - first),
                    }
                )
    return shards


def size_differences(manifest, train_episodes, test_episodes, episode_length):
    """Describes how a dataset's sizes differ from requested ones.

    Args:
        manifest: the dict from `load_manifest`.
        train_episodes: requested train episodes per domain.
        test_episodes: requested test episodes per domain.
        episode_length: requested frames per episode.

    Returns:
        None if they agree, else e.g. 'train_episodes 20 (not 50), episode_length
        100 (not 20)'.
    """
    pairs = [
        ("train_episodes", manifest["episodes"]["train"], train_episodes),
        ("test_episodes", manifest["episodes"]["test"], test_episodes),
        ("episode_length", manifest["episode_length"], episode_length),
    ]
    differing = [f"{name} {have} (not {want})" for name, have, want in pairs if have != want]
    return ", ".join(differing) or None


def dtype_to_json(dtype):
    return [[name, dtype[name].base.str, list(dtype[name].shape)] for name in dtype.names]


def _dtype_from_json(fields):
    return np.dtype([(name, np.dtype(base), tuple(shape)) for name, base, shape in fields])


_PLANNED_KEYS = ("file", "split", "domain", "first_episode", "num_episodes")


def _check_shard_list(manifest):
    """Raises ValueError unless the manifest lists exactly its planned shards.

    A list with entries removed would otherwise silently yield less data.
    """
    listed = {}
    for i, entry in enumerate(manifest["shards"]):
        missing = [k for k in _PLANNED_KEYS + ("bytes", "sha256") if k not in entry]
        if missing:
            raise ValueError(f"shard entry {i} ({entry.get('file')}) lacks {missing}")
        listed[entry["file"]] = entry
    planned = plan_shards(manifest["domains"], manifest["episodes"], manifest["episodes_per_shard"])
    for shard in planned:
        entry = listed.pop(shard["file"], None)
        if entry is None:
            raise ValueError(
                f"shard {shard['file']} ({shard['num_episodes']} {shard['split']} episodes of "
                f"{shard['domain']}) is missing from the shard list"
            )
        differing = {k: entry[k] for k in _PLANNED_KEYS if entry[k] != shard[k]}
        if differing:
            raise ValueError(
                f"shard {shard['file']} is listed with {differing}, but the manifest's "
                f"domains and episodes plan { ({k: shard[k] for k in differing}) }"
            )
    if listed:
        raise ValueError(
            f"shards {sorted(listed)} are listed but not planned for the manifest's domains "
            "and episodes"
        )


def write_manifest(output_dir, header, shards):
    """Writes output_dir/manifest.json atomically, then reads it back checked.

    Args:
        output_dir: the dataset directory, holding every planned shard.
        header: every manifest field but 'shards' and 'statistics': the
            generation spec, 'action_sizes', 'body_names' and 'record_dtype'.
        shards: every planned shard, in plan order, with its 'bytes' and
            'sha256'.

    Returns:
        The manifest, as returned by `load_manifest`.
    """
    manifest = dict(
        header,
        shards=shards,
        statistics=dataset_statistics(output_dir, shards, header["domains"]),
    )
    files.write_json(os.path.join(output_dir, MANIFEST_NAME), manifest)
    return load_manifest(output_dir)


class OutdatedDatasetError(ValueError):
    """A dataset written in an older format, which must be regenerated."""


def load_manifest(data_dir):
    """Reads and checks data_dir/manifest.json.

    Args:
        data_dir: a directory written by `generate`.

    Returns:
        The manifest dict with an added 'dtype' (numpy dtype of a record).

    Raises:
        FileNotFoundError: data_dir or its manifest is missing.
        ValueError: the manifest is malformed.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"DMCS data directory {data_dir} does not exist")
    path = os.path.join(data_dir, MANIFEST_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is empty or its generation did not "
            "finish (rerun datasets/generate_dmcs.py with the same flags)"
        )
    try:
        with open(path) as f:
            manifest = json.load(f)
        if manifest["format_version"] != FORMAT_VERSION:
            raise OutdatedDatasetError(
                f"{data_dir} holds a DMCS dataset of format {manifest['format_version']}; this "
                f"version reads format {FORMAT_VERSION} (held random actions, see "
                "docs/fidelity.md). Regenerate it: delete the directory (or pass another "
                "--data_dir) and rerun train.py --dataset=dmcs or datasets/generate_dmcs.py."
            )
        manifest["dtype"] = _dtype_from_json(manifest["record_dtype"])
        expected = record_dtype(
            manifest["episode_length"],
            manifest["image_size"],
            max(manifest["action_sizes"].values()),
            max(len(names) for names in manifest["body_names"].values()),
        )
        if manifest["dtype"] != expected:
            raise ValueError(
                f"record_dtype {manifest['dtype']} does not match the manifest's sizes ({expected})"
            )
        if sorted(manifest["action_sizes"]) != sorted(manifest["domains"]):
            raise ValueError("action_sizes and domains list different domains")
        _check_shard_list(manifest)
    except OutdatedDatasetError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"Malformed DMCS manifest {path}: {e!r}") from e
    return manifest


def open_shard(data_dir, manifest, shard, verify_checksum=True):
    """Memory-maps one shard after checking it against the manifest.

    Args:
        data_dir: the dataset directory.
        manifest: the dict from `load_manifest`.
        shard: one entry of manifest['shards'].
        verify_checksum: also compare the file's SHA-256 (reads the whole file).

    Returns:
        A read-only memory-mapped record array of shape [num_episodes].

    Raises:
        FileNotFoundError: the shard is missing.
        ValueError: the shard is truncated, corrupt or does not match the
            manifest.
    """
    path = os.path.join(data_dir, shard["file"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"Shard {path} listed in the manifest is missing")
    size = os.path.getsize(path)
    if size != shard["bytes"]:
        raise ValueError(
            f"Shard {path} has {size} bytes but the manifest says "
            f"{shard['bytes']}: truncated or from another run"
        )
    if verify_checksum and files.sha256_of_file(path) != shard["sha256"]:
        raise ValueError(f"Shard {path} is corrupt: its SHA-256 does not match the manifest")
    try:
        records = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"Shard {path} is not a readable .npy file: {e}") from e
    if records.dtype != manifest["dtype"] or records.shape != (shard["num_episodes"],):
        raise ValueError(
            f"Shard {path} holds {records.shape} records of {records.dtype}, "
            f"but the manifest expects ({shard['num_episodes']},) of "
            f"{manifest['dtype']}"
        )
    return records
