"""Generates, or resumes generating, a random-action DMCS dataset.

`generate` checks its arguments, writes the generation spec, has spawn
workers render the missing shards and writes the manifest last. A rerun with
the same parameters resumes an interrupted one; see
video_structure/data/dmcs/manifest.py for the files. One part of a dataset
split across machines writes its part record instead of the manifest; see
video_structure/data/dmcs/sharding.py.
"""

import concurrent.futures
import json
import os

import numpy as np
import tqdm

from video_structure import files
from video_structure.data.dmcs.episodes import (
    ACTION_DISTRIBUTIONS,
    CAMERA_ID,
    DEFAULT_ACTION_HOLD,
    DEFAULT_ACTION_REPEAT,
    DOMAINS,
    domain_info,
    record_dtype,
)
from video_structure.data.dmcs.gl import select_gl_backend
from video_structure.data.dmcs.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    SPEC_NAME,
    dtype_to_json,
    load_manifest,
    plan_shards,
    size_differences,
    write_manifest,
)
from video_structure.data.dmcs.sharding import part_record_name, part_shards
from video_structure.data.dmcs.statistics import format_statistics
from video_structure.data.dmcs.workers import (
    available_cpus,
    generate_shard,
    worker_pool,
    workers_skip_main_module,
)

# The dataset train.py generates on first use and generate_dmcs.py's defaults:
# CPU-sized (the paper's reward study uses 10,000 sequences per domain).
DEFAULT_TRAIN_EPISODES = 20
DEFAULT_TEST_EPISODES = 12
DEFAULT_EPISODE_LENGTH = 100
# Where the dataset lives by default: the checkout's datasets/data/dmcs (the
# package is installed in place), whatever the current directory.
DEFAULT_DIR = os.path.join(files.DATA_ROOT, "dmcs")


def _check_same_spec(previous, spec, spec_path):
    """Raises ValueError naming what differs from an earlier run's spec."""
    changed = sorted(k for k in set(previous) | set(spec) if previous.get(k) != spec.get(k))
    if not changed:
        return
    details = "; ".join(f"{k}: {previous.get(k)!r} before, {spec.get(k)!r} now" for k in changed)
    hint = ""
    if "gl_backend" in changed:
        hint = (
            f" (frames rendered by different GL backends may differ; set "
            f"MUJOCO_GL={previous.get('gl_backend')} to resume)"
        )
    raise ValueError(
        f"{os.path.dirname(spec_path)} holds a dataset generated with other parameters "
        f"({spec_path}): {details}. Use an empty directory or the same parameters as "
        f"before{hint}."
    )


def _package_versions():
    from importlib import metadata

    return {name: metadata.version(name) for name in ("dm-control", "mujoco", "numpy")}


def generate(
    output_dir,
    domains=DOMAINS,
    train_episodes=DEFAULT_TRAIN_EPISODES,
    test_episodes=DEFAULT_TEST_EPISODES,
    episode_length=DEFAULT_EPISODE_LENGTH,
    episodes_per_shard=10,
    image_size=64,
    action_repeat=None,
    action_hold=DEFAULT_ACTION_HOLD,
    action_distribution=ACTION_DISTRIBUTIONS[0],
    seed=0,
    num_parts=1,
    part_index=0,
    num_workers=None,
    progress=True,
):
    """Generates (or resumes generating) a random-action DMCS dataset.

    Args:
        output_dir: directory for shards and manifest; created if missing.
        domains: 'domain/task' names, a subset of `DOMAINS`; their order defines
            the domain indices.
        train_episodes: episodes per domain in the train split.
        test_episodes: episodes per domain in the test split.
        episode_length: frames per episode (the reset frame plus
            episode_length - 1 random actions).
        episodes_per_shard: episodes per shard file.
        image_size: frame height and width in pixels.
        action_repeat: control steps per recorded frame, for every domain;
            None takes `DEFAULT_ACTION_REPEAT` per domain.
        action_hold: recorded frames each random action is held for.
        action_distribution: one of `ACTION_DISTRIBUTIONS`.
        seed: base seed; see `episode_seed`.
        num_parts: how many parts (machines or jobs) share the generation; see
            video_structure/data/dmcs/sharding.py.
        part_index: the part this call renders, in [0, num_parts).
        num_workers: spawn worker processes; defaults to the CPUs this process
            may use.
        progress: whether to show a tqdm progress bar (in episodes).

    Returns:
        With num_parts 1, the manifest, as returned by `load_manifest`. Else
        the part's record: the manifest's fields but 'statistics', with
        'shards' listing the part's shards only.

    Raises:
        ValueError: bad arguments, or output_dir holds a dataset generated with
            different parameters.
        RuntimeError: no GL backend can render (see `select_gl_backend`), or a
            worker died (rerunning resumes).
    """
    domains = list(domains)
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown or not domains or len(set(domains)) != len(domains):
        raise ValueError(f"domains must be distinct names from {DOMAINS}, got {domains}")
    for name, value, minimum in [
        ("train_episodes", train_episodes, 0),
        ("test_episodes", test_episodes, 0),
        ("episode_length", episode_length, 1),
        ("episodes_per_shard", episodes_per_shard, 1),
        ("image_size", image_size, 1),
        ("action_hold", action_hold, 1),
        ("seed", seed, 0),
        ("num_parts", num_parts, 1),
        ("part_index", part_index, 0),
    ] + ([] if action_repeat is None else [("action_repeat", action_repeat, 1)]):
        if not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if part_index >= num_parts:
        raise ValueError(
            f"part_index must be below num_parts ({num_parts}): parts are numbered from 0, got "
            f"{part_index}"
        )
    if action_distribution not in ACTION_DISTRIBUTIONS:
        raise ValueError(
            f"action_distribution must be one of {ACTION_DISTRIBUTIONS}, got "
            f"{action_distribution!r}"
        )
    repeats = {
        d: int(DEFAULT_ACTION_REPEAT[d] if action_repeat is None else action_repeat)
        for d in domains
    }
    num_workers = num_workers or available_cpus()
    # Probing the backend starts subprocesses, so bad arguments fail before it.
    gl_backend = select_gl_backend()
    episodes = {"train": int(train_episodes), "test": int(test_episodes)}
    spec = {
        "format_version": FORMAT_VERSION,
        "domains": domains,
        "episodes": episodes,
        "episode_length": int(episode_length),
        "episodes_per_shard": int(episodes_per_shard),
        "image_size": int(image_size),
        "action_repeat": repeats,
        "action_hold": int(action_hold),
        "action_distribution": action_distribution,
        "camera_id": CAMERA_ID,
        "seed": int(seed),
        "gl_backend": gl_backend,
        "versions": _package_versions(),
    }
    os.makedirs(output_dir, exist_ok=True)
    spec_path = os.path.join(output_dir, SPEC_NAME)
    if os.path.exists(spec_path):
        with open(spec_path) as f:
            previous = json.load(f)
        _check_same_spec(previous, spec, spec_path)
    else:
        files.write_json(spec_path, spec)
    shards = part_shards(plan_shards(domains, episodes, episodes_per_shard), num_parts, part_index)
    if num_parts == 1:
        outputs = {SPEC_NAME, MANIFEST_NAME}
    else:
        outputs = {part_record_name(part_index, num_parts)}
    outputs |= {shard["file"] for shard in shards}
    # A killed writer leaves its temporary file behind. Parts may run at once
    # in one directory, so each removes only those of the files it writes.
    for name in os.listdir(output_dir):
        written, marker, _ = name.partition(files.TMP_MARKER)
        if marker and written in outputs:
            os.remove(os.path.join(output_dir, name))

    with worker_pool(num_workers, gl_backend, output_dir) as pool:
        with workers_skip_main_module():
            infos = pool.map(domain_info, domains)
        infos = dict(zip(domains, infos))
        action_size = max(info["action_size"] for info in infos.values())
        num_bodies = max(len(info["body_names"]) for info in infos.values())
        dtype = record_dtype(episode_length, image_size, action_size, num_bodies)
        tasks = [
            dict(
                shard,
                path=os.path.join(output_dir, shard["file"]),
                domain_index=domains.index(shard["domain"]),
                seed=int(seed),
                dtype=dtype.descr,
                episode_length=int(episode_length),
                image_size=int(image_size),
                action_repeat=repeats[shard["domain"]],
                action_hold=int(action_hold),
                action_distribution=action_distribution,
            )
            for shard in shards
            if not os.path.exists(os.path.join(output_dir, shard["file"]))
        ]
        with workers_skip_main_module():
            futures = [pool.submit(generate_shard, task) for task in tasks]
        with tqdm.tqdm(
            total=sum(t["num_episodes"] for t in tasks),
            unit="episode",
            disable=not progress,
            desc=f"DMCS ({gl_backend})",
        ) as bar:
            for future in concurrent.futures.as_completed(futures):
                bar.update(future.result())

    for shard in shards:
        path = os.path.join(output_dir, shard["file"])
        shard["bytes"] = os.path.getsize(path)
        shard["sha256"] = files.sha256_of_file(path)
    header = dict(
        spec,
        action_sizes={d: infos[d]["action_size"] for d in domains},
        body_names={d: infos[d]["body_names"] for d in domains},
        record_dtype=dtype_to_json(dtype),
    )
    if num_parts == 1:
        return write_manifest(output_dir, header, shards)
    record = dict(header, shards=shards)
    files.write_json(os.path.join(output_dir, part_record_name(part_index, num_parts)), record)
    return record


def prepare(
    data_dir,
    image_size,
    seed=0,
    train_episodes=DEFAULT_TRAIN_EPISODES,
    test_episodes=DEFAULT_TEST_EPISODES,
    episode_length=DEFAULT_EPISODE_LENGTH,
):
    """Generates a dataset in data_dir unless it holds one (train.py's first use).

    An existing dataset is kept whatever its sizes, with a note naming the
    sizes that differ from the ones asked for.

    Args:
        data_dir: the dataset directory.
        image_size: frame height and width of a new dataset.
        seed: seed of a new dataset.
        train_episodes, test_episodes, episode_length: sizes of a new dataset.
    """
    sizes = dict(
        train_episodes=train_episodes, test_episodes=test_episodes, episode_length=episode_length
    )
    if os.path.exists(os.path.join(data_dir, MANIFEST_NAME)):
        differences = size_differences(load_manifest(data_dir), **sizes)
        if differences:
            print(
                f"Note: using the existing DMCS dataset in {data_dir}, which has "
                f"{differences}; the --dmcs_* flags apply only when a dataset is generated "
                "(pass an empty --data_dir for a new one).",
                flush=True,
            )
        return
    print(
        f"Generating the DMCS dataset in {data_dir} (resumable; "
        "datasets/generate_dmcs.py makes larger ones).",
        flush=True,
    )
    manifest = generate(data_dir, image_size=image_size, seed=seed, **sizes)
    print(format_statistics(manifest, "train"), flush=True)
