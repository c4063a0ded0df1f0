"""DeepMind Control Suite random-action datasets (paper Section 5.5, S2.3).

This module generates the datasets and reads their shards with numpy. It must
never import TensorFlow: MuJoCo rendering and TensorFlow in one process
segfault, so rendering happens in `multiprocessing` "spawn" workers that import
only this module, numpy and dm-control. dm-control is imported lazily inside
the workers, after the GL backend has been chosen (dm-control reads MUJOCO_GL
when it is first imported).

Episodes
    Each episode starts from `env.reset()` of a domain/task whose task-level
    randomness is seeded per episode, followed by `episode_length - 1` recorded
    frames. Each frame comes `action_repeat` control steps after the previous
    one (a per-domain default, `DEFAULT_ACTION_REPEAT`), and a random action is
    drawn every `action_hold` frames and held in between (`ACTION_DISTRIBUTIONS`:
    the spec's bounds chosen at random per component, or uniform between them).
    The reward of a frame is the mean reward of the control steps it covers, so
    it stays in the suite's [0, 1]. docs/fidelity.md gives the measurements
    behind these defaults: i.i.d. uniform actions at every control step left
    four of six domains moving less than a heatmap pixel per window. Frames are
    `image_size` x `image_size` RGB uint8 renders of camera 0 with the suite's
    default look (shadows, skybox, floor). Following video_structure/data/__init__.py,
    `actions[t]` and `rewards[t]` belong to the transition that produced frame t,
    so both are zero for frame 0. Per-episode seeds come from
    `numpy.random.SeedSequence(seed, spawn_key=(split, domain, episode))` where
    split and domain are indices into `SPLITS` and `DOMAINS` (fixed tuples, so a
    domain's episodes do not change when other domains are added or removed), so
    train and test never share a seed and the content of an episode does not
    depend on sharding or worker scheduling. Time limits are disabled, so any
    episode length works.

Several domains in one dataset
    One model is trained on all domains together, so all records share one
    shape: `actions` are zero-padded to the largest action size over the chosen
    domains, and `positions` are NaN-padded to the largest number of bodies.
    The manifest stores the true `action_sizes`, `body_names` (whose length is
    the true number of bodies) per domain, and each record carries `domain`, its
    index into the manifest's `domains` list.

Ground-truth positions
    `positions[t, i]` is the centre of mass (`physics.data.xipos`) of body i + 1
    (body 0, the world, is excluded) projected through camera 0 at frame t, as
    (x, y) in the keypoint convention of `video_structure.keypoint_ops` (x right,
    y up, pixel centres at -1 + (2u + 1) / W and 1 - (2v + 1) / H). Centres of
    mass rather than body frame origins: origins sit at joints, so a cart and
    its pole, or a walker's two thighs, would share a point.

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
    a GPU driver's EGL may differ).
"""

import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import types

import numpy as np
import tqdm

from video_structure import files

DOMAINS = (
    "acrobot/swingup",
    "cartpole/balance",
    "cheetah/run",
    "reacher/easy",
    "walker/stand",
    "walker/walk",
)
SPLITS = ("train", "test")
MANIFEST_NAME = "manifest.json"
SPEC_NAME = "generation_spec.json"
# 2: actions held for several frames, frames every `action_repeat` control
# steps (per domain), mean rewards, motion statistics in the manifest.
FORMAT_VERSION = 2
# Control steps per recorded frame, chosen so that a window of the presets'
# T + Delta T = 16 frames moves the bodies by at least two heatmap pixels
# (docs/fidelity.md). cheetah's camera follows its torso, so only its limbs
# move in the image, and they need longer frames.
DEFAULT_ACTION_REPEAT = {
    "acrobot/swingup": 4,
    "cartpole/balance": 4,
    "cheetah/run": 8,
    "reacher/easy": 4,
    "walker/stand": 4,
    "walker/walk": 4,
}
DEFAULT_ACTION_HOLD = 2
# The dataset train.py generates on first use and generate_dmcs.py's defaults:
# CPU-sized (the paper's reward study uses 10,000 sequences per domain).
DEFAULT_TRAIN_EPISODES = 20
DEFAULT_TEST_EPISODES = 12
DEFAULT_EPISODE_LENGTH = 100
# Where the dataset lives by default: the checkout's datasets/data/dmcs (the
# package is installed in place), whatever the current directory.
DEFAULT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "datasets",
    "data",
    "dmcs",
)
# "extremes": each component at its lower or upper bound with probability 1/2
# (more motion: uniform actions average out in cheetah's limbs).
ACTION_DISTRIBUTIONS = ("extremes", "uniform")
# Windows of the motion statistics: the presets' T + Delta T.
STATISTICS_WINDOW = 16
# One heatmap pixel of the presets' 16x16 heatmaps, in coordinate units.
HEATMAP_PIXEL = 2.0 / 16
# A window's reward "varies" when its range exceeds this (rewards lie in [0, 1]).
REWARD_VARIATION = 0.01
CAMERA_ID = 0
GL_BACKENDS = ("egl", "osmesa")
_GL_PACKAGES = (
    "MUJOCO_GL=egl needs the Debian packages libegl1 libegl-mesa0 "
    "libgl1-mesa-dri; MUJOCO_GL=osmesa needs libosmesa6"
)
_PROBE_SCRIPT = """
from dm_control import suite
env = suite.load('cartpole', 'balance', task_kwargs={'random': 0})
env.reset()
assert env.physics.render(16, 16, camera_id=0).shape == (16, 16, 3)
"""


def _probe_gl(backend):
    """Returns the stderr tail of a failed render with `backend`, or None."""
    env = dict(os.environ, MUJOCO_GL=backend)
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    if result.returncode == 0:
        return None
    return result.stderr.strip()[-300:] or f"exit status {result.returncode}"


def select_gl_backend():
    """Chooses the MuJoCo GL backend for headless rendering.

    Respects MUJOCO_GL when it is set. Otherwise renders a tiny frame in a
    subprocess with each of `GL_BACKENDS` and returns the first that works.

    Returns:
        The value for MUJOCO_GL, e.g. 'egl'.

    Raises:
        RuntimeError: no backend can render; the message names the Debian
            packages each backend needs.
    """
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    failures = []
    for backend in GL_BACKENDS:
        error = _probe_gl(backend)
        if error is None:
            return backend
        failures.append(f"MUJOCO_GL={backend}: {error}")
    raise RuntimeError(
        f"MuJoCo cannot render headless with any of {GL_BACKENDS}. {_GL_PACKAGES}. Errors:\n"
        + "\n".join(failures)
    )


def episode_seed(seed, split, domain, episode):
    """Returns the SeedSequence of one episode.

    Args:
        seed: base seed of the dataset.
        split: one of `SPLITS`.
        domain: one of `DOMAINS`.
        episode: episode index within (split, domain).
    """
    return np.random.SeedSequence(
        seed, spawn_key=(SPLITS.index(split), DOMAINS.index(domain), episode)
    )


def record_dtype(episode_length, image_size, action_size, num_bodies):
    """Returns the structured dtype of one episode record in a shard."""
    return np.dtype(
        [
            ("frames", np.uint8, (episode_length, image_size, image_size, 3)),
            ("actions", np.float32, (episode_length, action_size)),
            ("rewards", np.float32, (episode_length,)),
            ("positions", np.float32, (episode_length, num_bodies, 2)),
            ("domain", np.int32),
        ]
    )


def pixels_to_keypoints(uv, width, height):
    """Converts pixel coordinates to the keypoint convention of video_structure.keypoint_ops.

    Args:
        uv: [..., 2] (column, row) in pixels; integers are pixel centres and
            row 0 is the top row.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        [..., 2] (x, y) with x right and y up, both in [-1, 1] inside the image.
    """
    uv = np.asarray(uv, dtype=np.float64)
    x = -1.0 + (2.0 * uv[..., 0] + 1.0) / width
    y = 1.0 - (2.0 * uv[..., 1] + 1.0) / height
    return np.stack([x, y], axis=-1)


def camera_matrix(physics, image_size, camera_id=CAMERA_ID):
    """Returns the 3x4 pinhole matrix of a fixed camera, mapping to pixels.

    The same matrix as `dm_control.mujoco.Camera(...).matrix`, computed from
    the physics data alone: building a Camera allocates a rendering scene,
    which would cost more per frame than the projection itself.

    Args:
        physics: a dm_control mujoco Physics.
        image_size: rendered image height and width in pixels.
        camera_id: a camera defined in the model (not the free camera).

    Returns:
        float64 [3, 4]; homogeneous world points times its transpose give
        (column * w, row * w, w) with row 0 the top row.

    Raises:
        ValueError: the model has no camera `camera_id`.
    """
    if not 0 <= camera_id < physics.model.ncam:
        raise ValueError(f"camera_id {camera_id} is not one of the model's {physics.model.ncam}")
    translation = np.eye(4)
    translation[:3, 3] = -physics.data.cam_xpos[camera_id]
    rotation = np.eye(4)
    rotation[:3, :3] = physics.data.cam_xmat[camera_id].reshape(3, 3).T
    focal_scaling = image_size / 2.0 / np.tan(np.deg2rad(physics.model.cam_fovy[camera_id]) / 2)
    focal = np.diag([-focal_scaling, focal_scaling, 1.0, 0.0])[:3]
    image = np.eye(3)
    image[:2, 2] = (image_size - 1) / 2.0
    return image @ focal @ rotation @ translation


def project_bodies(physics, image_size, camera_id=CAMERA_ID):
    """Projects the bodies' centres of mass (world body excluded) into the image.

    Args:
        physics: a dm_control mujoco Physics.
        image_size: rendered image height and width in pixels.
        camera_id: the rendering camera.

    Returns:
        float32 [num_bodies - 1, 2] positions in the keypoint convention.
    """
    xipos = physics.data.xipos[1:]  # [N, 3] centres of mass
    homogeneous = np.concatenate([xipos, np.ones((len(xipos), 1))], axis=1)  # [N, 4]
    projected = homogeneous @ camera_matrix(physics, image_size, camera_id).T  # [N, 3]
    uv = projected[:, :2] / projected[:, 2:]
    return pixels_to_keypoints(uv, image_size, image_size).astype(np.float32)


class _DropMujocoNotices(logging.Filter):
    """Drops MuJoCo compiler notices about dm-control's own model files.

    MuJoCo 3 warns, through dm-control's absl logger, that the cheetah model's
    `settotalmass` attribute is deprecated: a notice for dm-control's
    maintainers that a user of the suite cannot act on.
    """

    def filter(self, record):
        return "is deprecated and will be removed" not in record.getMessage()


def load_env(domain):
    """Loads a suite environment without a time limit (in a GL worker)."""
    from dm_control import suite

    absl_logger = logging.getLogger("absl")
    if not any(isinstance(f, _DropMujocoNotices) for f in absl_logger.filters):
        absl_logger.addFilter(_DropMujocoNotices())
    if domain not in DOMAINS:
        raise ValueError(f"Unknown domain {domain!r}; known: {DOMAINS}")
    domain_name, task_name = domain.split("/")
    return suite.load(
        domain_name,
        task_name,
        task_kwargs={"random": np.random.RandomState(0), "time_limit": float("inf")},
    )


def domain_info(domain):
    """Returns {'action_size': int, 'body_names': [str]} of a domain."""
    env = load_env(domain)
    model = env.physics.model
    return {
        "action_size": int(env.action_spec().shape[0]),
        "body_names": [model.id2name(i, "body") for i in range(1, model.nbody)],
    }


def reset_episode(env, seed_sequence):
    """Resets env for one episode.

    Args:
        env: a dm_control control.Environment from `load_env`.
        seed_sequence: the episode's SeedSequence (see `episode_seed`).

    Returns:
        The numpy Generator for the episode's random actions.
    """
    env_seed, action_seed = seed_sequence.generate_state(2)
    # Reseeding the task's RandomState in place makes reset() a function of the
    # episode seed alone, so one environment serves all episodes of a worker.
    env.task.random.seed(int(env_seed))
    env.reset()
    return np.random.default_rng(int(action_seed))


def random_action(rng, spec, distribution):
    """Draws one random action from an action spec.

    Args:
        rng: a numpy Generator.
        spec: the environment's bounded action spec.
        distribution: one of `ACTION_DISTRIBUTIONS`.

    Returns:
        float32 [action size]; float32 as stored, so that stored actions
        replay the episode exactly.
    """
    uniform = rng.uniform(spec.minimum, spec.maximum, size=spec.shape)
    if distribution == "extremes":
        # The same draws decide the sign, so both distributions use one stream.
        middle = (np.asarray(spec.minimum) + np.asarray(spec.maximum)) / 2
        return np.where(uniform >= middle, spec.maximum, spec.minimum).astype(np.float32)
    return uniform.astype(np.float32)


def generate_episode(
    env,
    seed_sequence,
    episode_length,
    image_size,
    action_repeat,
    action_hold,
    action_distribution,
    record,
    render=True,
):
    """Fills one record with a random-action episode.

    Args:
        env: a dm_control control.Environment from `load_env`.
        seed_sequence: the episode's SeedSequence (see `episode_seed`).
        episode_length: number of frames, including the one after reset.
        image_size: frame height and width in pixels.
        action_repeat: control steps per recorded frame.
        action_hold: recorded frames each random action is held for.
        action_distribution: one of `ACTION_DISTRIBUTIONS`.
        record: a numpy record of `record_dtype` to fill in place; its padding
            (action columns and bodies beyond this domain's) is set here too.
        render: whether to render frames; without, `frames` stay untouched
            (for statistics of the motion alone, see benchmarks/dmcs_motion.py).
    """
    rng = reset_episode(env, seed_sequence)
    spec = env.action_spec()
    num_actions = spec.shape[0]
    num_bodies = env.physics.model.nbody - 1
    record["actions"] = 0.0
    record["rewards"] = 0.0
    record["positions"] = np.nan
    for t in range(episode_length):
        if t > 0:
            if (t - 1) % action_hold == 0:
                action = random_action(rng, spec, action_distribution)
            reward = sum(env.step(action).reward or 0.0 for _ in range(action_repeat))
            record["actions"][t, :num_actions] = action
            record["rewards"][t] = reward / action_repeat
        if render:
            record["frames"][t] = env.physics.render(image_size, image_size, camera_id=CAMERA_ID)
        record["positions"][t, :num_bodies] = project_bodies(env.physics, image_size)


def motion_statistics(positions, rewards, window=STATISTICS_WINDOW):
    """Says whether windows of a model's length show motion and reward changes.

    Args:
        positions: [episodes, T, N, 2] body positions in coordinate units (NaN:
            padding for bodies a domain does not have).
        rewards: [episodes, T]; rewards[:, 0] is the reset frame's (none).
        window: frames per window; every window starting at frame 1 or later
            counts (frame 0 has no reward).

    Returns:
        {'windows': count, 'displacement_heatmap_pixels': the bodies' mean
        distance between a window's first and last frame, averaged over
        windows, in pixels of a 16x16 heatmap, 'reward_varies': fraction of
        windows whose reward range exceeds `REWARD_VARIATION`,
        'reward_mean', 'reward_std'}.
    """
    positions = np.asarray(positions, np.float64)
    rewards = np.asarray(rewards, np.float64)
    starts = np.arange(1, positions.shape[1] - window + 1)
    if len(starts) == 0 or len(positions) == 0:
        return {"windows": 0}
    moved = np.linalg.norm(positions[:, starts + window - 1] - positions[:, starts], axis=-1)
    windows = np.stack([rewards[:, s : s + window] for s in starts], axis=1)  # [E, S, window]
    return {
        "windows": int(windows.shape[0] * windows.shape[1]),
        "displacement_heatmap_pixels": float(np.nanmean(moved) / HEATMAP_PIXEL),
        "reward_varies": float(np.mean(np.ptp(windows, axis=-1) > REWARD_VARIATION)),
        "reward_mean": float(np.mean(rewards[:, 1:])),
        "reward_std": float(np.std(rewards[:, 1:])),
    }


def format_statistics(manifest, split="train"):
    """One line per domain of a manifest's `statistics`, for the console."""
    lines = [
        f"{split} windows of {STATISTICS_WINDOW} frames: mean body displacement (16x16 heatmap "
        "pixels), fraction whose reward varies, reward mean / std"
    ]
    for domain in manifest["domains"]:
        stats = manifest["statistics"][split][domain]
        if not stats["windows"]:
            lines.append(f"  {domain:18s} no window")
            continue
        lines.append(
            f"  {domain:18s} {stats['displacement_heatmap_pixels']:5.2f} px  "
            f"{stats['reward_varies']:4.2f}  {stats['reward_mean']:.3f} / "
            f"{stats['reward_std']:.3f}  (action_repeat "
            f"{manifest['action_repeat'][domain]})"
        )
    return "\n".join(lines)


def _init_worker(gl_backend):
    """Runs first in every rendering worker."""
    os.environ["MUJOCO_GL"] = gl_backend
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _exit_when_orphaned(parent_pid):
    """Ends this worker once its parent has died (e.g. of SIGKILL).

    An orphaned worker would otherwise wait for tasks forever, or keep
    rendering while a rerun rewrites the same shards.
    """
    while os.getppid() == parent_pid:
        time.sleep(0.2)
    os._exit(1)


def _check_worker_is_tf_free():
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "A DMCS rendering worker has imported TensorFlow, which crashes "
            "MuJoCo rendering; generate from a process whose startup does "
            "not import it (e.g. datasets/generate_dmcs.py)."
        )


@contextlib.contextmanager
def _workers_skip_main_module():
    """Keeps spawn workers started inside from re-importing the caller's __main__.

    A spawn worker normally re-imports the script that started it, so a
    training script that imports TensorFlow would load it into every rendering
    worker. Worker functions live in this module, so the workers do not need
    __main__; while workers start, a bare stand-in (no __file__, no __spec__)
    hides the real one from multiprocessing.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@contextlib.contextmanager
def _worker_pool(num_workers, gl_backend, output_dir):
    """A pool of spawn rendering workers; a dead worker raises a clear error.

    concurrent.futures notices a worker that dies (SIGKILL, out of memory) and
    fails every pending task with BrokenProcessPool, where multiprocessing.Pool
    would lose the task and wait forever. ProcessPoolExecutor starts spawn
    workers lazily in submit(), so callers submit under
    `_workers_skip_main_module`.

    Args:
        num_workers: maximum number of worker processes.
        gl_backend: MUJOCO_GL for the workers.
        output_dir: the dataset directory, named in the error.

    Yields:
        A concurrent.futures.ProcessPoolExecutor.

    Raises:
        RuntimeError: a worker died.
    """
    pool = concurrent.futures.ProcessPoolExecutor(
        num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(gl_backend,),
    )
    try:
        yield pool
    except concurrent.futures.process.BrokenProcessPool as e:
        raise RuntimeError(
            f"A DMCS rendering worker died unexpectedly (killed, or out of memory): {e}. "
            f"Finished shards in {output_dir} are kept; rerun with the same parameters to "
            "resume generation."
        ) from e
    finally:
        # Without cancelling, an error (or Ctrl-C) would wait for every queued shard.
        pool.shutdown(wait=True, cancel_futures=True)


_worker_envs = {}


def _generate_shard(task):
    """Renders one shard in a worker and writes it atomically."""
    _check_worker_is_tf_free()
    env = _worker_envs.get(task["domain"])
    if env is None:
        env = _worker_envs[task["domain"]] = load_env(task["domain"])
    records = np.zeros(task["num_episodes"], dtype=np.dtype(task["dtype"]))
    for i, record in enumerate(records):
        seed_sequence = episode_seed(
            task["seed"], task["split"], task["domain"], task["first_episode"] + i
        )
        generate_episode(
            env,
            seed_sequence,
            task["episode_length"],
            task["image_size"],
            task["action_repeat"],
            task["action_hold"],
            task["action_distribution"],
            record,
        )
        record["domain"] = task["domain_index"]
    files.atomic_write(task["path"], lambda f: np.save(f, records))
    return task["num_episodes"]


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


def _available_cpus():
    """CPUs this process may run on (fewer than os.cpu_count() under taskset or cpusets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        num_workers: spawn worker processes; defaults to the CPUs this process
            may use.
        progress: whether to show a tqdm progress bar (in episodes).

    Returns:
        The manifest, as returned by `load_manifest`.

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
    ] + ([] if action_repeat is None else [("action_repeat", action_repeat, 1)]):
        if not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if action_distribution not in ACTION_DISTRIBUTIONS:
        raise ValueError(
            f"action_distribution must be one of {ACTION_DISTRIBUTIONS}, got "
            f"{action_distribution!r}"
        )
    repeats = {
        d: int(DEFAULT_ACTION_REPEAT[d] if action_repeat is None else action_repeat)
        for d in domains
    }
    num_workers = num_workers or _available_cpus()
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
    for name in os.listdir(output_dir):
        if files.TMP_MARKER in name:
            os.remove(os.path.join(output_dir, name))

    with _worker_pool(num_workers, gl_backend, output_dir) as pool:
        with _workers_skip_main_module():
            infos = pool.map(domain_info, domains)
        infos = dict(zip(domains, infos))
        action_size = max(info["action_size"] for info in infos.values())
        num_bodies = max(len(info["body_names"]) for info in infos.values())
        dtype = record_dtype(episode_length, image_size, action_size, num_bodies)
        shards = plan_shards(domains, episodes, episodes_per_shard)
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
        with _workers_skip_main_module():
            futures = [pool.submit(_generate_shard, task) for task in tasks]
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
    manifest = dict(
        spec,
        action_sizes={d: infos[d]["action_size"] for d in domains},
        body_names={d: infos[d]["body_names"] for d in domains},
        record_dtype=_dtype_to_json(dtype),
        shards=shards,
        statistics=_dataset_statistics(output_dir, shards, domains),
    )
    files.write_json(os.path.join(output_dir, MANIFEST_NAME), manifest)
    return load_manifest(output_dir)


def _dataset_statistics(output_dir, shards, domains):
    """`motion_statistics` per split and domain, read back from the finished shards.

    Read from the files rather than gathered from the workers, so that a
    resumed run (whose earlier shards no worker of this run wrote) gets them too.
    """
    statistics = {}
    for split in SPLITS:
        statistics[split] = {}
        for domain in domains:
            parts = [
                np.load(os.path.join(output_dir, s["file"]), mmap_mode="r")
                for s in shards
                if s["split"] == split and s["domain"] == domain
            ]
            positions = [np.asarray(p["positions"]) for p in parts]
            rewards = [np.asarray(p["rewards"]) for p in parts]
            statistics[split][domain] = motion_statistics(
                np.concatenate(positions) if positions else np.zeros((0, 0, 0, 2)),
                np.concatenate(rewards) if rewards else np.zeros((0, 0)),
            )
    return statistics


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


def _dtype_to_json(dtype):
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
