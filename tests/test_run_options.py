import json

import pytest

from video_structure import run_options

CLUSTER = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize(
    "name, devices, tf_config, message",
    [
        ("nope", None, None, "--strategy=nope is not one of default, mirrored, multi_worker"),
        ("default", ["CPU:0"], None, "--devices applies to --strategy=mirrored only"),
        ("multi_worker", ["CPU:0"], None, "not --strategy=multi_worker"),
        ("multi_worker", None, None, "TF_CONFIG environment variable, which is not set"),
        ("multi_worker", None, '{"cluster": {}}', "does not name a cluster and this worker"),
        ("multi_worker", None, "not json", "does not name a cluster and this worker"),
        (
            "multi_worker",
            None,
            json.dumps({**CLUSTER, "task": {"type": "worker", "index": 2}}),
            "IndexError",
        ),
    ],
)
def test_bad_strategies_are_named(monkeypatch, name, devices, tf_config, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(run_options.StrategyError, match=message):
        run_options.check_strategy(name, devices)


@pytest.mark.parametrize(
    "name, devices", [("default", None), ("mirrored", None), ("mirrored", ["CPU:0", "CPU:1"])]
)
def test_good_strategies_pass(monkeypatch, name, devices):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    run_options.check_strategy(name, devices)


def test_multi_worker_passes_with_a_cluster_that_names_this_worker(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(CLUSTER))
    run_options.check_strategy("multi_worker")


@pytest.mark.parametrize(
    "policy,dtype",
    [("float32", "float32"), ("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")],
)
def test_compute_dtype_is_the_policys(policy, dtype):
    assert run_options.compute_dtype(policy) == dtype
