"""The tar shards a config trains on, checked before any process starts.

For each `seer_shards` split: its path names shards; their index exists, is an
index, and counts every one of them; every local shard exists (a `stat` each); the
first shard opens and its first sample reads (a `pipe:` command that fails, a URL
that does not answer) and has an image; each process gets a whole batch; the split
reads shards alone (GenericSSLDataset pairs sources sample by sample); and
neither `DATA_LIMIT`, which would pick samples all over the shards, nor a low-shot
split file is set. Each
failure is one line naming the shard.
"""

import os

from seer_plugins.config.derived import used_splits
from seer_plugins.config.shard_paths import is_remote
from seer_plugins.data.shard_dataset import (
    NAME,
    index_path_of,
    shard_settings,
)
from seer_plugins.data.shard_lists import expand_shards, read_index
from seer_plugins.data.shard_reader import (
    READ_ERRORS,
    describe_read_error,
    open_samples,
)
from seer_plugins.errors import ConfigError


def _check_first_sample(key: str, shard: str, image_keys: list[str]) -> None:
    samples = open_samples(shard)
    try:
        first = next(samples, None)
    except READ_ERRORS as error:
        raise ConfigError(
            key,
            shard,
            f"cannot be read ({describe_read_error(error)})",
            "check the path, or run the pipe: command by hand",
        ) from None
    finally:
        samples.close()
    if first is None:
        raise ConfigError(key, shard, "holds no sample", "rebuild the shard")
    members = sorted(k for k in first if not k.startswith("__"))
    if not any(k in first for k in image_keys):
        raise ConfigError(
            key,
            shard,
            f"its first sample ({first.get('__key__')}) has no image member among "
            f"{image_keys} (it has {members})",
            "set DATA.<split>.SEER_SHARDS.IMAGE_KEYS to the member holding images",
        )


def check_split_shards(config, split: str) -> None:
    data = config.DATA[split]
    sources = list(data.get("DATA_SOURCES", None) or [])
    paths = [str(p) for p in data.get("DATA_PATHS", None) or []]
    key = f"config.DATA.{split}.DATA_PATHS"
    if sources != [NAME]:
        raise ConfigError(
            f"config.DATA.{split}.DATA_SOURCES",
            sources,
            f"mixes {NAME} with other sources",
            f"a split reads shards alone: DATA_SOURCES=[{NAME}] and one DATA_PATHS "
            "entry",
        )
    if len(paths) != 1:
        raise ConfigError(
            key, paths, f"needs one entry for {NAME}", "a pattern, folder or list"
        )
    if data.get("DATA_LIMIT", -1) not in (-1, None):
        raise ConfigError(
            f"config.DATA.{split}.DATA_LIMIT",
            data.DATA_LIMIT,
            f"is not supported by {NAME} (it would read samples all over the shards)",
            "set it to -1 and name fewer shards",
        )
    split_file = data.get("LOW_SHOT_SPLIT_FILE", "") or ""
    if split_file:
        raise ConfigError(
            f"config.DATA.{split}.LOW_SHOT_SPLIT_FILE",
            split_file,
            f"is not read by {NAME} (split files of shards are not supported yet)",
            'pack the labelled subset into shards of its own, or set it to ""',
        )
    shards = expand_shards(paths[0], key)
    index = read_index(
        index_path_of(config, split, paths[0]), f"config.DATA.{split}.SEER_SHARDS.INDEX"
    )
    counts = index.counts_of(shards, key)
    for shard in shards:
        if not is_remote(shard) and not os.path.isfile(shard):
            raise ConfigError(key, shard, "no such shard", "check the path")
    _check_first_sample(key, shards[0], shard_settings(config, split)["IMAGE_KEYS"])
    processes = int(config.DISTRIBUTED.NUM_NODES) * int(
        config.DISTRIBUTED.NUM_PROC_PER_NODE
    )
    batch = int(data.BATCHSIZE_PER_REPLICA)
    share = sum(counts) // max(1, processes)
    if share == 0 or (share < batch and data.get("DROP_LAST", False)):
        raise ConfigError(
            f"config.DATA.{split}.BATCHSIZE_PER_REPLICA",
            batch,
            f"is more than the {share} samples each of {processes} processes gets "
            f"from the {sum(counts)} samples of {paths[0]}",
            f"use at most {share}, fewer processes or more shards",
        )


def check_shards(config) -> None:
    """Every `seer_shards` split of the run, checked."""
    for split in used_splits(config):
        if NAME in list(config.DATA[split].get("DATA_SOURCES", None) or []):
            check_split_shards(config, split)
