"""What scripts/run_experiments.py decides about a run before doing it.

`scaled_schedules`: the step schedules of a run shorter than its preset's;
`load_if_current`: whether a stored evaluation or task output can be reused.
"""

import json
import os
from collections.abc import Mapping
from typing import Any

from video_structure import config as config_lib


def scaled_schedules(preset: config_lib.Config, steps: int, longer: bool = False) -> dict[str, int]:
    """The step schedules of `preset` stretched to a run of `steps` steps.

    A shorter run keeps S1.2's fractions of its length
    (`config.stretched_schedules`); unscaled, a 300-step run would end with
    beta at 1% of its value and the learning rate never decayed. The
    scheduled-sampling ramp already spans the whole run.

    Args:
        preset: the hyperparameters the run starts from.
        steps: training steps of the run.
        longer: stretch the schedules of a run longer than preset.num_steps
            too; without it a longer run keeps the preset's schedules.

    Returns:
        {"kl_annealing_steps": ..., "lr_decay_steps": ...} for a run shorter
        than preset.num_steps (or longer, with `longer`); {} otherwise (the
        preset's values stand).
    """
    if steps == preset.num_steps or (steps > preset.num_steps and not longer):
        return {}
    return config_lib.stretched_schedules(preset, steps)


def load_if_current(
    path: str, settings: Mapping[str, Any], trained_step: int
) -> dict[str, Any] | None:
    """The runner's JSON output at `path` if it is up to date, else None.

    Up to date means written from a model at `trained_step` with equal
    `settings`, both stored under its "runner" key.

    Args:
        path: metrics.json or tasks.json of a run.
        settings: the settings that the output depends on (JSON values).
        trained_step: the training step of the model now exported.

    Returns:
        The parsed JSON, or None if `path` is missing or out of date.
    """
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    stored = data.get("runner") or {}
    # A JSON round trip makes the comparison exact (tuples become lists).
    current = json.loads(json.dumps({"settings": settings, "trained_step": trained_step}))
    if {key: stored.get(key) for key in current} != current:
        return None
    return data
