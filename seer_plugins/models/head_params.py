"""`MODEL.HEAD.PARAMS`, read in one place.

VISSL's heads are a list of `[name, {kwargs}]` entries applied in order; a composite
entry is itself a list of such pairs (several heads on one input, e.g. linear
evaluation on several features).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HeadEntry:
    """One head module of `MODEL.HEAD.PARAMS`.

    `where` indexes the entry (`[i]`, or `[i][j]` inside a composite entry), so
    `MODEL.HEAD.PARAMS{where}[0]` is its name and `...{where}[1]` its kwargs.
    """

    where: str
    name: str
    kwargs: dict = field(default_factory=dict)


def _entry(where: str, pair) -> HeadEntry:
    return HeadEntry(where, pair[0], dict(pair[1]) if len(pair) > 1 else {})


def head_entries(head_params) -> list[HeadEntry]:
    """Every head module, composite entries flattened, in order."""
    entries = []
    for i, entry in enumerate(head_params or []):
        if not entry:
            continue
        if isinstance(entry[0], (list, tuple)):
            entries += [_entry(f"[{i}][{j}]", sub) for j, sub in enumerate(entry)]
        else:
            entries.append(_entry(f"[{i}]", entry))
    return entries
