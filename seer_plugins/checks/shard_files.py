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

import io
import itertools
import os
import shlex

from seer_plugins.config.derived import used_splits
from seer_plugins.config.shard_paths import is_remote
from seer_plugins.data.image_modes import reading_of
from seer_plugins.data.low_shot_dataset import split_file_of
from seer_plugins.data.robust_images import load_image
from seer_plugins.data.shard_dataset import NAME
from seer_plugins.data.shard_lists import (
    expand_shards,
    index_path_of,
    read_index,
    shard_settings,
)
from seer_plugins.data.shard_reader import (
    READ_ERRORS,
    describe_read_error,
    open_samples,
)
from seer_plugins.errors import ConfigError

# Samples of the first shard decoded before training: a set whose images do not
# decode at all is refused, not trained on grey replacements.
DECODE_SAMPLE = 8


def _check_first_samples(key: str, shard: str, image_keys: list[str], reading):
    samples = open_samples(shard)
    try:
        first = list(itertools.islice(samples, DECODE_SAMPLE))
    except READ_ERRORS as error:
        raise ConfigError(
            key,
            shard,
            f"cannot be read ({describe_read_error(error)})",
            "check the path, or run the pipe: command by hand",
        ) from None
    finally:
        samples.close()
    if not first:
        raise ConfigError(key, shard, "holds no sample", "rebuild the shard")
    failures = []
    for sample in first:
        data = next((sample[k] for k in image_keys if k in sample), None)
        if data is None:
            members = sorted(k for k in sample if not k.startswith("__"))
            failures.append(f"{sample.get('__key__')} has no image member ({members})")
            continue
        try:
            load_image(io.BytesIO(data), reading)
        except Exception as error:  # any undecodable image counts
            failures.append(f"{sample.get('__key__')}: {type(error).__name__}: {error}")
    if len(failures) == len(first):
        raise ConfigError(
            key,
            shard,
            f"none of its first {len(first)} samples has an image that decodes "
            f"(e.g. {failures[0]})",
            f"images are read from the members {image_keys} "
            "(DATA.<split>.SEER_SHARDS.IMAGE_KEYS); check that they are images",
        )


def _check_folder_has_indexed(key: str, folder: str, index, shards) -> None:
    """A folder lists the shards it holds: one the index counts but the folder
    lacks was deleted or not copied."""
    base = os.path.dirname(os.path.abspath(index.path))
    present = {os.path.normpath(os.path.abspath(s)) for s in shards}
    for name in index.shards:
        full = os.path.normpath(
            name if os.path.isabs(name) else os.path.join(base, name)
        )
        if os.path.dirname(full) == os.path.normpath(os.path.abspath(folder)) and (
            full not in present
        ):
            raise ConfigError(
                key,
                full,
                f"no such shard (the index {index.path} counts it)",
                "restore it, or rebuild the index: seer shards index "
                + shlex.quote(folder),
            )


def _check_settings(split: str, settings: dict) -> None:
    for name in ("STREAMS_PER_RANK", "SHUFFLE_BUFFER"):
        value = settings[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(
                f"config.DATA.{split}.SEER_SHARDS.{name}", value, "must be at least 1"
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
    split_file = split_file_of(config, split)
    if split_file:
        raise ConfigError(
            f"config.DATA.{split}.LOW_SHOT_SPLIT_FILE",
            split_file,
            f"is not read by {NAME}: a low-shot split of shards is shards of its own",
            "pack the split's samples with: seer split SHARDS --from "
            f"{split_file} --shards DIR, and train on DIR",
        )
    settings = shard_settings(config, split)
    _check_settings(split, settings)
    shards = expand_shards(paths[0], key)
    index = read_index(
        index_path_of(config, split, paths[0]), f"config.DATA.{split}.SEER_SHARDS.INDEX"
    )
    counts = index.counts_of(shards, key)
    for shard in shards:
        if not is_remote(shard) and not os.path.isfile(shard):
            raise ConfigError(key, shard, "no such shard", "check the path")
    if os.path.isdir(paths[0]):
        _check_folder_has_indexed(key, paths[0], index, shards)
    image_keys = [str(k).lower() for k in settings["IMAGE_KEYS"]]
    _check_first_samples(key, shards[0], image_keys, reading_of(config, split))
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
