"""Tests for video_structure.data.dmcs.sharding (no TensorFlow in this file)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from video_structure import files
from video_structure.data import dmcs

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SCRIPT = os.path.join(_REPO_ROOT, "datasets", "generate_dmcs.py")


def _script_flags(kwargs):
    """generate_dmcs.py's flags for `dmcs.generate` keyword arguments."""
    return [
        f"--{name}={','.join(value) if name == 'domains' else value}"
        for name, value in kwargs.items()
        if name != "progress"
    ]


def _run_script(arguments):
    """Runs generate_dmcs.py for what renders nothing: merge, or a flag error."""
    return subprocess.run(
        [sys.executable, _SCRIPT, *arguments],
        env=dict(os.environ, PYTHONPATH=_REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_dmcs):
    """A tiny dataset's two parts, generated at once into one directory, not merged."""
    path = str(tmp_path_factory.mktemp("parts"))
    # One backend for every process, as the one-machine run's.
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT, MUJOCO_GL=dmcs.select_gl_backend())
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                _SCRIPT,
                f"--output_dir={path}",
                "--workers=1",
                "--num_shards=2",
                f"--shard_index={index}",
                *_script_flags(tiny_dmcs),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    for index, process in enumerate(processes):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        assert f"Wrote part {index} of 2 (4 shards)" in stdout
    return path


def _copy(parts, tmp_path):
    copy = str(tmp_path / "parts")
    shutil.copytree(parts, copy)
    return copy


def test_parts_deal_the_plan_round_robin():
    plan = dmcs.plan_shards(["cartpole/balance", "walker/walk"], {"train": 3, "test": 1}, 1)
    dealt = [dmcs.part_shards(plan, 3, i) for i in range(3)]
    assert [s["file"] for s in dealt[1]] == [
        "train-cartpole_balance-00001-of-00003.npy",
        "train-walker_walk-00001-of-00003.npy",
        "test-walker_walk-00000-of-00001.npy",
    ]
    assert sorted(s["file"] for part in dealt for s in part) == sorted(s["file"] for s in plan)
    assert sum(len(part) for part in dealt) == len(plan)
    assert dmcs.part_shards(plan, 1, 0) == plan
    assert dmcs.part_record_name(1, 3) == "generation_part-00001-of-00003.json"


@pytest.mark.slow
def test_two_parts_merge_into_the_one_machine_dataset(parts, tmp_path, tiny_dmcs):
    one_machine = str(tmp_path / "one")
    manifest = dmcs.generate(one_machine, num_workers=2, **tiny_dmcs)
    merged = _copy(parts, tmp_path)
    result = _run_script(["merge", f"--output_dir={merged}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Wrote 8 shards to {merged}" in result.stdout
    assert len(manifest["shards"]) == 8
    for shard in manifest["shards"]:
        digest = files.sha256_of_file(os.path.join(merged, shard["file"]))
        assert (
            digest
            == shard["sha256"]
            == files.sha256_of_file(os.path.join(one_machine, shard["file"]))
        ), shard["file"]
    for name in (dmcs.MANIFEST_NAME, dmcs.SPEC_NAME):
        assert files.sha256_of_file(os.path.join(merged, name)) == files.sha256_of_file(
            os.path.join(one_machine, name)
        ), name
    records = [dmcs.part_record_name(i, 2) for i in range(2)]
    assert sorted(os.listdir(merged)) == sorted(os.listdir(one_machine) + records)
    # The records stay, so merging again verifies again.
    assert dmcs.merge(merged) == dmcs.load_manifest(one_machine)


def test_rerunning_a_part_renders_only_its_missing_shards(parts, tmp_path, tiny_dmcs):
    path = _copy(parts, tmp_path)
    record_name = dmcs.part_record_name(0, 2)
    with open(os.path.join(path, record_name)) as f:
        record = json.load(f)
    mine = [s["file"] for s in record["shards"]]
    others = sorted(set(os.listdir(path)) - set(mine) - {record_name})
    os.remove(os.path.join(path, mine[0]))
    mtimes = {n: os.stat(os.path.join(path, n)).st_mtime_ns for n in mine[1:] + others}
    # A killed writer's leftover is removed, another part's file in progress is not.
    stale = mine[1] + files.TMP_MARKER + "stale"
    in_progress = dmcs.part_record_name(1, 2) + files.TMP_MARKER + "running"
    for name in (stale, in_progress):
        open(os.path.join(path, name), "w").close()

    assert dmcs.generate(path, num_workers=1, num_parts=2, part_index=0, **tiny_dmcs) == record
    assert files.sha256_of_file(os.path.join(path, mine[0])) == record["shards"][0]["sha256"]
    assert mtimes == {n: os.stat(os.path.join(path, n)).st_mtime_ns for n in mtimes}
    assert not os.path.exists(os.path.join(path, stale))
    assert os.path.exists(os.path.join(path, in_progress))


def test_merge_names_a_missing_part_in_one_line(parts, tmp_path):
    path = _copy(parts, tmp_path)
    os.remove(os.path.join(path, dmcs.part_record_name(1, 2)))
    result = _run_script(["merge", f"--output_dir={path}"])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("generate_dmcs.py: error: ") and "Traceback" not in result.stderr
    assert f"{os.path.join(path, dmcs.part_record_name(1, 2))} is missing: part(s) 1 of 2" in last
    assert "--num_shards=2 --shard_index=1" in last
    assert not os.path.exists(os.path.join(path, dmcs.MANIFEST_NAME))


def test_merge_names_a_corrupt_or_missing_shard(parts, tmp_path):
    path = _copy(parts, tmp_path)
    with open(os.path.join(path, dmcs.part_record_name(1, 2))) as f:
        shard = os.path.join(path, json.load(f)["shards"][2]["file"])
    with open(shard, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last_byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last_byte[0] ^ 1]))
    with pytest.raises(
        ValueError, match=f"Shard {shard} is corrupt.*delete it.*--num_shards=2 --shard_index=1"
    ):
        dmcs.merge(path)
    os.remove(shard)
    with pytest.raises(
        FileNotFoundError, match=f"Shard {shard} of part 1 is missing.*--shard_index=1"
    ):
        dmcs.merge(path)
    assert not os.path.exists(os.path.join(path, dmcs.MANIFEST_NAME))


def test_merge_refuses_parts_of_other_parameters(parts, tmp_path):
    path = _copy(parts, tmp_path)
    record_path = os.path.join(path, dmcs.part_record_name(1, 2))
    with open(record_path) as f:
        record = json.load(f)
    record["seed"] = 4
    record["versions"]["mujoco"] = "0.0.1"
    files.write_json(record_path, record)
    with pytest.raises(ValueError) as error:
        dmcs.merge(path)
    assert str(error.value).startswith(
        f"{record_path} was generated with other parameters than "
        f"{os.path.join(path, dmcs.part_record_name(0, 2))}: seed: 3 in part 0, 4 here; "
        "versions: {"
    )
    assert "'mujoco': '0.0.1'" in str(error.value)


def test_merge_refuses_records_of_two_part_counts(parts, tmp_path):
    path = _copy(parts, tmp_path)
    shutil.copy(
        os.path.join(path, dmcs.part_record_name(0, 2)),
        os.path.join(path, dmcs.part_record_name(0, 3)),
    )
    with pytest.raises(ValueError, match=r"several --num_shards \(\[2, 3\]\)"):
        dmcs.merge(path)


def test_merge_refuses_a_directory_without_parts(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no part record"):
        dmcs.merge(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dmcs.merge(str(tmp_path / "missing"))


def test_a_part_index_out_of_range_fails_in_one_line(tmp_path, tiny_dmcs):
    with pytest.raises(ValueError, match=r"part_index must be below num_parts \(2\).*got 2"):
        dmcs.generate(str(tmp_path / "out"), num_parts=2, part_index=2, **tiny_dmcs)
    assert not os.path.exists(tmp_path / "out")
    result = _run_script([f"--output_dir={tmp_path / 'out'}", "--num_shards=2", "--shard_index=2"])
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "generate_dmcs.py: error: flags num_shards=2, shard_index=2: --shard_index must be "
        "below --num_shards: parts are numbered 0 to N - 1"
    )
    assert not os.path.exists(tmp_path / "out")
