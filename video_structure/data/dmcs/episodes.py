"""One random-action episode of a DeepMind Control Suite domain.

Loads a domain's environment (dm-control is imported inside `load_env`, in a
rendering worker whose MUJOCO_GL is already set) and fills one episode record:
frames, actions, rewards and the bodies' projected positions. Neither this
module nor its imports load TensorFlow (see video_structure/data/dmcs/__init__.py).

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
"""

import logging

import numpy as np

DOMAINS = (
    "acrobot/swingup",
    "cartpole/balance",
    "cheetah/run",
    "reacher/easy",
    "walker/stand",
    "walker/walk",
)
SPLITS = ("train", "test")
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
# "extremes": each component at its lower or upper bound with probability 1/2
# (more motion: uniform actions average out in cheetah's limbs).
ACTION_DISTRIBUTIONS = ("extremes", "uniform")
CAMERA_ID = 0


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
