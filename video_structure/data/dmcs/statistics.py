"""Motion and reward statistics of a DMCS dataset's model windows.

Does a window of the presets' length show the bodies moving and the reward
changing? `generate` stores the answer per split and domain in the manifest,
and `format_statistics` prints it.
"""

import os

import numpy as np

from video_structure.data.dmcs.episodes import SPLITS

# Windows of the motion statistics: the presets' T + Delta T.
STATISTICS_WINDOW = 16
# One heatmap pixel of the presets' 16x16 heatmaps, in coordinate units.
HEATMAP_PIXEL = 2.0 / 16
# A window's reward "varies" when its range exceeds this (rewards lie in [0, 1]).
REWARD_VARIATION = 0.01


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


def dataset_statistics(output_dir, shards, domains):
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
