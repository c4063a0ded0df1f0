"""Lookups into the runs that the report and its figures are made from.

A run is a dict as `report.table_rows` describes: "variant", "seed",
"evaluation" (evaluate.py's metrics.json), "tasks" (`tasks.run_tasks`' output)
and more, any level of which may be missing or None.
"""

from collections.abc import Mapping, Sequence


def get(tree, *keys):
    """tree[k0][k1]...; None where a level is missing or None."""
    for key in keys:
        if not isinstance(tree, Mapping) or tree.get(key) is None:
            return None
        tree = tree[key]
    return tree


def domains(runs, task) -> list[str]:
    """Domain ids (strings) with numbers of `task` in some run."""
    found = set()
    for run in runs:
        found.update((get(run, "tasks", task, "per_domain") or {}).keys())
    return sorted(found, key=int)


def domain_name(domain: str, domain_names: Sequence[str] | None) -> str:
    """The name of domain id `domain` (a string) where known, else the id."""
    index = int(domain)
    return domain_names[index] if domain_names and index < len(domain_names) else domain
