"""One DMCS dataset generated as several parts, by several machines or jobs.

`generate(..., num_parts=N, part_index=i)` renders part i: the planned shard
files k with k % N == i. Dealing the plan out round robin gives every part a
share of every split and domain, whose rendering costs differ. An episode's
content is a function of its seed alone (see `episode_seed`), so a part writes
the same bytes as a one-machine run would for its shards; the parts need no
communication but a directory in common (a shared file system, or the part
directories copied into one).

A part writes its shards, then `generation_part-IIIII-of-NNNNN.json`, its
record: every manifest field but the statistics (the spec with GL backend and
package versions, the domains' sizes, the record dtype), and its own shards
with their sizes and SHA-256. Rerunning a part skips its finished shards and
rewrites the record. `merge` checks that the records of parts 0 to N - 1 are
all there and agree, and that every planned shard is present with the
checksum its part recorded, then writes manifest.json, byte-identical to a
one-machine run's. The records stay, so merging again verifies again.
"""

import json
import os
import re

from video_structure import files
from video_structure.data.dmcs.manifest import plan_shards, write_manifest

_RECORD_PATTERN = re.compile(r"generation_part-(\d{5})-of-(\d{5})\.json")


def part_record_name(part_index, num_parts):
    """The file name of a part's record, e.g. 'generation_part-00001-of-00004.json'."""
    return f"generation_part-{part_index:05d}-of-{num_parts:05d}.json"


def part_shards(shards, num_parts, part_index):
    """The shards of one part: every num_parts-th of the plan, from part_index on.

    Args:
        shards: the dataset's planned shards, from `plan_shards`.
        num_parts: how many parts share the shards.
        part_index: which part, in [0, num_parts).

    Returns:
        The part's entries of `shards`, in plan order.
    """
    return shards[part_index::num_parts]


def _part_command(part_index, num_parts):
    return (
        f"run datasets/generate_dmcs.py with the parts' flags and --num_shards={num_parts} "
        f"--shard_index={part_index}"
    )


def _read_records(output_dir):
    """Reads the records of parts 0 to N - 1.

    Returns:
        [(path, record)] in part order.

    Raises:
        FileNotFoundError: output_dir or a part's record is missing.
        ValueError: records of several part counts, or a malformed record.
    """
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(f"DMCS data directory {output_dir} does not exist")
    found = {}
    for name in os.listdir(output_dir):
        match = _RECORD_PATTERN.fullmatch(name)
        if match:
            found.setdefault(int(match[2]), set()).add(int(match[1]))
    if not found:
        raise FileNotFoundError(
            f"{output_dir} holds no part record ({part_record_name(0, 2)} and so on): generate "
            "the parts first with datasets/generate_dmcs.py --num_shards=N --shard_index=i"
        )
    if len(found) > 1:
        raise ValueError(
            f"{output_dir} holds part records of several --num_shards ({sorted(found)}): "
            "delete the records (generation_part-*-of-*.json) of the --num_shards you abandoned"
        )
    [(num_parts, indices)] = found.items()
    missing = sorted(set(range(num_parts)) - indices)
    if missing:
        raise FileNotFoundError(
            f"{os.path.join(output_dir, part_record_name(missing[0], num_parts))} is missing: "
            f"part(s) {', '.join(map(str, missing))} of {num_parts} did not finish; "
            f"{_part_command(missing[0], num_parts)}"
        )
    records = []
    for index in range(num_parts):
        path = os.path.join(output_dir, part_record_name(index, num_parts))
        with open(path) as f:
            try:
                records.append((path, json.load(f)))
            except json.JSONDecodeError as e:
                raise ValueError(f"Malformed part record {path}: {e}") from e
    return records


def _check_same_header(reference_path, reference_header, path, header):
    """Raises ValueError naming what a part's record has other than part 0's."""
    changed = sorted(
        k for k in set(reference_header) | set(header) if reference_header.get(k) != header.get(k)
    )
    if changed:
        details = "; ".join(
            f"{k}: {reference_header.get(k)!r} in part 0, {header.get(k)!r} here" for k in changed
        )
        raise ValueError(
            f"{path} was generated with other parameters than {reference_path}: {details}. "
            "Generate every part with the same flags, GL backend and package versions."
        )


def merge(output_dir):
    """Checks the parts of a dataset and writes its manifest.

    Args:
        output_dir: the directory holding every part's shards and record.

    Returns:
        The manifest, as returned by `load_manifest`; identical to the
        manifest of a one-machine run with the parts' parameters.

    Raises:
        FileNotFoundError: output_dir, a part's record or a shard is missing.
        ValueError: the parts disagree on the dataset's parameters, a record
            is malformed, or a shard differs from its part's record.
    """
    records = _read_records(output_dir)
    num_parts = len(records)
    headers = [{k: v for k, v in record.items() if k != "shards"} for _, record in records]
    for (path, _), header in zip(records[1:], headers[1:]):
        _check_same_header(records[0][0], headers[0], path, header)
    header = headers[0]
    try:
        planned = plan_shards(header["domains"], header["episodes"], header["episodes_per_shard"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"Malformed part record {records[0][0]}: {e!r}") from e
    checked = {}
    for index, (path, record) in enumerate(records):
        expected = part_shards(planned, num_parts, index)
        listed = record.get("shards", [])
        if len(listed) != len(expected) or any(
            {k: shard.get(k) for k in plan} != plan for shard, plan in zip(listed, expected)
        ):
            raise ValueError(
                f"{path} does not list the shards its parameters plan for part {index} of "
                f"{num_parts} ({len(listed)} listed, {len(expected)} planned)"
            )
        for shard, plan in zip(listed, expected):
            shard_path = os.path.join(output_dir, plan["file"])
            if not os.path.exists(shard_path):
                raise FileNotFoundError(
                    f"Shard {shard_path} of part {index} is missing; "
                    f"{_part_command(index, num_parts)} to render it again"
                )
            digest = files.sha256_of_file(shard_path)
            if digest != shard.get("sha256"):
                raise ValueError(
                    f"Shard {shard_path} is corrupt: its SHA-256 differs from the one {path} "
                    f"records; delete it and {_part_command(index, num_parts)}"
                )
            checked[plan["file"]] = dict(plan, bytes=os.path.getsize(shard_path), sha256=digest)
    return write_manifest(output_dir, header, [checked[s["file"]] for s in planned])
