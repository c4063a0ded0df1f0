"""Synthetic basketball plays: five players and a ball, for tests and demos without real data.

Simple, plausible dynamics at Zhan et al.'s 6.25 Hz, in court feet
(`basketball`'s frame): the ball carrier drives towards a spot of the
attacking zone that changes now and then; the other four drift towards their
places around the carrier (a spread formation of their own in each play),
with momentum, a speed limit and a little noise, inside the court's bounds;
the ball is dribbled beside the carrier and passed, at random moments, to a
teammate, flying towards him at pass speed until he catches it. So the
players' motion depends on one another's, through the carrier, as Figure 6's
counterfactual needs, and each player's best sample can differ (Figure 4,
footnote 3). Deterministic for a seed; train and test use disjoint seed
streams.
"""

import numpy as np

from video_structure.data import basketball

# Feet per step (6.25 steps per second).
MAX_SPEED = 2.4
PASS_SPEED = 6.0
# Where players stay: inside the sidelines and baseline, short of the half-court line.
BOUNDS = np.array([[1.0, 1.0], [46.0, 49.0]])
# The carrier's goals: the attacking zone around the key.
GOAL_ZONE = np.array([[5.0, 5.0], [32.0, 45.0]])
MOMENTUM = 0.75
PASS_PROBABILITY = 0.08  # per step, once the carrier has held the ball MIN_HOLD steps
MIN_HOLD = 5
GOAL_CHANGE_PROBABILITY = 0.08
# The plays train.py writes on first use: CPU-sized (35 training windows of
# 16 steps per play; 3 test windows).
DEFAULT_TRAIN_PLAYS = 1000
DEFAULT_TEST_PLAYS = 100


def _limit(vectors, length):
    """Vectors [..., 2] shortened to at most `length`."""
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors * np.minimum(1.0, length / np.maximum(norm, 1e-9))


def generate(
    num_plays: int, length: int = basketball.PLAY_LENGTH, seed: int = 0, split: str = "train"
) -> np.ndarray:
    """Synthetic plays in `basketball`'s [plays, T, 6, 2] layout (ball, then 5 players; feet).

    Args:
        num_plays: plays to generate.
        length: steps per play.
        seed: random seed.
        split: "train" or "test"; the splits draw from disjoint seed streams.

    Returns:
        float64 [num_plays, length, 6, 2]: the ball, then the 5 players, in feet.

    Raises:
        ValueError: for an unknown split or non-positive sizes.
    """
    if split not in basketball.SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {basketball.SPLITS}.")
    if num_plays < 1 or length < 1:
        raise ValueError(f"num_plays={num_plays} and length={length} must be >= 1.")
    rng = np.random.default_rng([seed, basketball.SPLITS.index(split), 1])
    n, players = num_plays, basketball.NUM_PLAYERS
    plays = np.arange(n)
    position = rng.uniform([4.0, 4.0], [40.0, 46.0], size=(n, players, 2))
    velocity = np.zeros((n, players, 2))
    # Each play's formation: a place per player around the carrier, the five
    # angles spread over a circle from a random start, at 9-15 ft.
    angles = rng.uniform(0, 2 * np.pi, (n, 1)) + 2 * np.pi * np.arange(players) / players
    radius = rng.uniform(9.0, 15.0, (n, players, 1))
    offsets = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # [n, 5, 2]
    goal = rng.uniform(GOAL_ZONE[0], GOAL_ZONE[1], size=(n, 2))
    carrier = rng.integers(0, players, n)
    receiver = carrier.copy()
    held = np.zeros(n, np.int64)
    flying = np.zeros(n, bool)
    ball = position[plays, carrier].copy()
    out = np.empty((n, length, 1 + players, 2))
    for step in range(length):
        carrier_position = position[plays, carrier]  # [n, 2]
        targets = np.clip(carrier_position[:, None] + offsets, BOUNDS[0] + 2, BOUNDS[1] - 2)
        change = rng.uniform(size=n) < GOAL_CHANGE_PROBABILITY
        goal[change] = rng.uniform(GOAL_ZONE[0], GOAL_ZONE[1], size=(int(change.sum()), 2))
        targets[plays, carrier] = goal
        pull = _limit(0.3 * (targets - position), MAX_SPEED)
        velocity = MOMENTUM * velocity + (1 - MOMENTUM) * pull + rng.normal(0, 0.15, velocity.shape)
        velocity = _limit(velocity, MAX_SPEED)
        position = position + velocity
        # Bounce off the bounds: mirror the position, reverse the velocity.
        low, high = position < BOUNDS[0], position > BOUNDS[1]
        position = np.where(low, 2 * BOUNDS[0] - position, position)
        position = np.where(high, 2 * BOUNDS[1] - position, position)
        velocity = np.where(low | high, -velocity, velocity)

        # A pass starts: a random teammate becomes the receiver.
        start = ~flying & (held >= MIN_HOLD) & (rng.uniform(size=n) < PASS_PROBABILITY)
        others = (carrier + rng.integers(1, players, n)) % players
        receiver = np.where(start, others, receiver)
        flying |= start
        # The ball flies towards the receiver and is caught once within reach.
        to_receiver = position[plays, receiver] - ball
        caught = flying & (np.linalg.norm(to_receiver, axis=-1) <= PASS_SPEED)
        carrier = np.where(caught, receiver, carrier)
        held = np.where(caught, 0, held + 1)
        flight = flying & ~caught
        flying = flight
        # Dribbled: a foot beside the carrier, bouncing between his sides.
        side = np.where(step % 2, 1.0, -1.0)
        dribble = position[plays, carrier] + np.array([0.0, 1.0]) * side
        ball = np.where(flight[:, None], ball + _limit(to_receiver, PASS_SPEED), dribble)
        out[:, step, 0] = ball
        out[:, step, 1:] = position
    return out


def generate_splits(train_plays: int, test_plays: int, seed: int = 0) -> dict[str, np.ndarray]:
    """{"train": plays, "test": plays} of `generate`, for `basketball.write_dataset`."""
    return {
        "train": generate(train_plays, seed=seed, split="train"),
        "test": generate(test_plays, seed=seed, split="test"),
    }


def source(seed: int) -> str:
    """What `basketball.write_dataset` records as the plays' source."""
    return f"synthetic plays (video_structure.data.basketball_plays), seed {seed}"


def prepare(data_dir: str, image_size: int, seed: int = 0) -> None:
    """Writes synthetic plays to data_dir unless it holds a complete dataset (train.py's first use).

    Args:
        data_dir: the dataset directory.
        image_size: frame height and width.
        seed: seed of the plays.
    """
    if basketball.is_complete(data_dir):
        return
    print(
        f"Writing synthetic basketball plays to {data_dir} (datasets/render_basketball.py "
        "renders real trajectories).",
        flush=True,
    )
    basketball.write_dataset(
        data_dir,
        generate_splits(DEFAULT_TRAIN_PLAYS, DEFAULT_TEST_PLAYS, seed),
        image_size,
        source(seed),
    )
