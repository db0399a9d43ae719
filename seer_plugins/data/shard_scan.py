"""The index of shards another tool wrote: each shard's sample count.

img2dataset writes `{shard}_stats.json` beside each shard, whose `successes` is the
number of samples in it: those are read, nothing else. Any other shard is read
through (in parallel over the cores, nothing decoded) and its samples counted as
webdataset groups them (members sharing a key), the grouping training reads.
"""

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from seer_plugins.config.shard_paths import is_remote
from seer_plugins.data.shard_lists import ShardIndex, index_entry_name
from seer_plugins.data.shard_reader import count_samples


def stats_count(shard: str) -> int | None:
    """img2dataset's sample count of `shard` (`successes` of `{name}_stats.json`
    beside it), or None."""
    if is_remote(shard) or not shard.lower().endswith(".tar"):
        return None
    stats = Path(shard[: -len(".tar")] + "_stats.json")
    try:
        return int(json.loads(stats.read_text())["successes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _count(shard: str) -> tuple[int, str | None]:
    try:
        return count_samples(shard), None
    except Exception as error:  # reported with the shard's name, not raised in a pool
        return 0, f"{type(error).__name__}: {error}"


def scan_counts(
    shards: list[str], workers: int, progress: bool = True
) -> tuple[list[int], int]:
    """Each shard's sample count; and how many came from img2dataset's stats.

    Raises:
        OSError: a shard could not be read through (its name and the error).
    """
    counts: list[int | None] = [stats_count(s) for s in shards]
    from_stats = sum(c is not None for c in counts)
    todo = [i for i, c in enumerate(counts) if c is None]
    bar = tqdm(
        total=len(todo),
        desc="counting samples",
        unit="shard",
        disable=not progress or not todo,
    )
    with bar:
        if workers <= 1 or len(todo) <= 1:
            results = map(_count, (shards[i] for i in todo))
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(_count, (shards[i] for i in todo), chunksize=1)
        for i, (count, error) in zip(todo, results, strict=True):
            if error is not None:
                raise OSError(f"shard {shards[i]} could not be read through: {error}")
            counts[i] = count
            bar.update()
        if workers > 1 and len(todo) > 1:
            pool.shutdown()
    return [int(c) for c in counts], from_stats


def build_index(
    shards: list[str],
    index_path: str,
    workers: int = os.cpu_count() or 1,
    classes: list[str] | None = None,
    progress: bool = True,
) -> tuple[ShardIndex, int]:
    """The index of `shards`, named as an index at `index_path` names them; and how
    many counts came from img2dataset's stats."""
    counts, from_stats = scan_counts(shards, workers, progress)
    index = ShardIndex(
        shards=[index_entry_name(s, index_path) for s in shards],
        counts=counts,
        classes=list(classes or []),
        path=index_path,
    )
    return index, from_stats
