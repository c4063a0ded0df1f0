"""DeepMind Control Suite random-action datasets (paper Section 5.5, S2.3).

This package generates the datasets and reads their shards with numpy. It must
never import TensorFlow: MuJoCo rendering and TensorFlow in one process
segfault, so rendering happens in `multiprocessing` "spawn" workers that import
only this package, numpy and dm-control. dm-control is imported lazily inside
the workers, after the GL backend has been chosen (dm-control reads MUJOCO_GL
when it is first imported).

One job per module:

* `episodes`: the domains, their environments and one random-action episode
  (the episode and ground-truth position conventions).
* `gl`: choosing the headless GL backend.
* `manifest`: the storage format: shard plan, manifest, checked shard reading.
* `statistics`: motion and reward statistics of the model windows.
* `workers`: the spawn worker pool that renders and writes shards.
* `generation`: `generate`, which plans, resumes and writes a dataset, or
  one part of it.
* `sharding`: a dataset split into parts for several machines, and `merge`,
  which checks the parts and writes their manifest.

This __init__ re-exports the public API, so callers use `dmcs.generate`,
`dmcs.load_manifest`, `dmcs.DOMAINS` and so on. It re-exports values: to
monkeypatch a module constant such as `GL_BACKENDS`, patch the module that
reads it (`video_structure.data.dmcs.gl`).
"""

from video_structure.data.dmcs.episodes import (
    ACTION_DISTRIBUTIONS,
    CAMERA_ID,
    DEFAULT_ACTION_HOLD,
    DEFAULT_ACTION_REPEAT,
    DOMAINS,
    SPLITS,
    camera_matrix,
    domain_info,
    episode_seed,
    generate_episode,
    load_env,
    pixels_to_keypoints,
    project_bodies,
    random_action,
    record_dtype,
    reset_episode,
)
from video_structure.data.dmcs.generation import (
    DEFAULT_DIR,
    DEFAULT_EPISODE_LENGTH,
    DEFAULT_TEST_EPISODES,
    DEFAULT_TRAIN_EPISODES,
    generate,
    prepare,
)
from video_structure.data.dmcs.gl import GL_BACKENDS, select_gl_backend
from video_structure.data.dmcs.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    SPEC_NAME,
    OutdatedDatasetError,
    load_manifest,
    open_shard,
    plan_shards,
    size_differences,
)
from video_structure.data.dmcs.sharding import merge, part_record_name, part_shards
from video_structure.data.dmcs.statistics import (
    HEATMAP_PIXEL,
    REWARD_VARIATION,
    STATISTICS_WINDOW,
    format_statistics,
    motion_statistics,
)

__all__ = [
    "ACTION_DISTRIBUTIONS",
    "CAMERA_ID",
    "DEFAULT_ACTION_HOLD",
    "DEFAULT_ACTION_REPEAT",
    "DEFAULT_DIR",
    "DEFAULT_EPISODE_LENGTH",
    "DEFAULT_TEST_EPISODES",
    "DEFAULT_TRAIN_EPISODES",
    "DOMAINS",
    "FORMAT_VERSION",
    "GL_BACKENDS",
    "HEATMAP_PIXEL",
    "MANIFEST_NAME",
    "REWARD_VARIATION",
    "SPEC_NAME",
    "SPLITS",
    "STATISTICS_WINDOW",
    "OutdatedDatasetError",
    "camera_matrix",
    "domain_info",
    "episode_seed",
    "format_statistics",
    "generate",
    "generate_episode",
    "load_env",
    "load_manifest",
    "merge",
    "motion_statistics",
    "open_shard",
    "part_record_name",
    "part_shards",
    "pixels_to_keypoints",
    "plan_shards",
    "prepare",
    "project_bodies",
    "random_action",
    "record_dtype",
    "reset_episode",
    "select_gl_backend",
    "size_differences",
]
