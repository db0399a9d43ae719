"""Which tar shards a `seer_shards` path names, and their index of sample counts.

A `DATA_PATHS` entry of the `seer_shards` source is one of:

- a brace pattern, `/data/laion/{00000..41455}.tar` (also inside a `pipe:` command
  or a URL: `pipe:aws s3 cp s3://bucket/{00000..00999}.tar -`);
- a folder of `.tar` files (sorted by name);
- a shard-list text file: one shard (path, `pipe:` command or URL) a line, blank
  lines and `#` comments skipped; relative paths are relative to the list's folder.

A shard is anything webdataset's `gopen` opens. The index is a JSON file holding
each shard's sample count (and the class names of a labelled set): the number of
samples an epoch has, and where each of them is, without reading the data. It sits
beside the shards as `shards_index.json` unless `DATA.<split>.SEER_SHARDS.INDEX`
names it (a `pipe:` command or a URL has no folder beside it); `seer shards` writes
it, and `seer shards index` builds it for shards written by another tool.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from braceexpand import braceexpand

from seer_plugins.config.defaults import plugin_section
from seer_plugins.config.shard_paths import SHARD_SUFFIX, is_pattern, is_remote
from seer_plugins.errors import ConfigError

INDEX_NAME = "shards_index.json"
INDEX_FORMAT = "seer_shards_index/1"
LAYOUTS = (
    "a brace pattern (/data/{00000..00099}.tar), a folder of .tar files or a "
    "shard-list text file (one shard a line)"
)


def _listed_shards(text: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def expand_shards(path: str, key: str = "DATA_PATHS") -> list[str]:
    """The shards `path` names, in order.

    Raises:
        ConfigError: `path` names no shard.
    """
    path = str(path)
    location = Path(path)
    if is_pattern(path) or is_remote(path):
        shards = list(braceexpand(path))
    elif location.is_dir():
        shards = sorted(
            str(location / entry.name)
            for entry in os.scandir(location)
            if entry.name.lower().endswith(SHARD_SUFFIX) and entry.is_file()
        )
    elif location.is_file() and not path.lower().endswith(SHARD_SUFFIX):
        base = location.parent
        shards = [
            s if is_remote(s) or os.path.isabs(s) else str(base / s)
            for s in _listed_shards(location.read_text(errors="replace"))
        ]
    else:
        shards = [path]
    if not shards:
        raise ConfigError(key, path, "names no tar shard", LAYOUTS)
    return shards


def default_index_path(path: str) -> str | None:
    """Where the index of `path`'s shards is unless a key names it: in the folder,
    beside the list, in the pattern's folder; None for a `pipe:` or a URL."""
    path = str(path)
    if is_remote(path):
        return None
    location = Path(path)
    if location.is_dir():
        return str(location / INDEX_NAME)
    return str(location.parent / INDEX_NAME)


@dataclass
class ShardIndex:
    """Sample counts of shards, as stored in an index file.

    `shards` are as given to the index (a path relative to the index's folder for a
    local shard under it); :meth:`counts_of` matches shards named any other way.
    """

    shards: list[str]
    counts: list[int]
    classes: list[str] = field(default_factory=list)
    path: str = ""

    def __post_init__(self):
        base = Path(self.path).parent if self.path else None
        self._count_of = {}
        for shard, count in zip(self.shards, self.counts, strict=True):
            self._count_of[shard] = count
            if base is not None and not is_remote(shard):
                self._count_of[os.path.normpath(str(base / shard))] = count

    def count_of(self, shard: str) -> int | None:
        found = self._count_of.get(shard)
        if found is None and not is_remote(shard):
            found = self._count_of.get(os.path.normpath(os.path.abspath(shard)))
        return found

    def counts_of(self, shards: list[str], key: str) -> list[int]:
        """Each shard's count. Raises ConfigError naming a shard the index lacks."""
        counts = []
        for shard in shards:
            count = self.count_of(shard)
            if count is None:
                raise ConfigError(
                    key,
                    shard,
                    f"is not in the shard index {self.path}",
                    "index these shards: seer shards index PATTERN|DIR",
                )
            counts.append(count)
        return counts

    def to_json(self) -> dict:
        return {
            "format": INDEX_FORMAT,
            "samples": sum(self.counts),
            "shards": [
                {"shard": s, "samples": c}
                for s, c in zip(self.shards, self.counts, strict=True)
            ],
            "classes": list(self.classes),
        }


def read_index(path: str, key: str) -> ShardIndex:
    """The index at `path`. Raises ConfigError naming `key` if it is missing or is
    not an index."""
    if not os.path.isfile(path):
        raise ConfigError(
            key,
            path,
            "no shard index there",
            "write one with: seer shards index PATTERN|DIR (or name it with "
            "DATA.<split>.SEER_SHARDS.INDEX)",
        )
    try:
        data = json.loads(Path(path).read_text())
        if data.get("format") != INDEX_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {INDEX_FORMAT!r}")
        entries = data["shards"]
        return ShardIndex(
            shards=[str(e["shard"]) for e in entries],
            counts=[int(e["samples"]) for e in entries],
            classes=[str(c) for c in data.get("classes", [])],
            path=str(path),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            key,
            path,
            f"is not a shard index ({type(error).__name__}: {error})",
            "rebuild it with: seer shards index PATTERN|DIR",
        ) from None


def write_index(index: ShardIndex, path: str) -> None:
    """Write `index` to `path` atomically (a reader never sees half an index)."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    data = index.to_json()
    # One shard a line: an index of 40,000 shards stays readable and diffable.
    shards = ",\n".join("  " + json.dumps(entry) for entry in data.pop("shards"))
    head = json.dumps(data)[:-1]
    partial.write_text(f'{head}, "shards": [\n{shards}\n]}}\n')
    os.replace(partial, target)


def index_entry_name(shard: str, index_path: str) -> str:
    """How the index at `index_path` names `shard`: relative to its folder when
    the shard is a local file under it, else as given."""
    if is_remote(shard):
        return shard
    base = os.path.dirname(os.path.abspath(index_path))
    full = os.path.abspath(shard)
    relative = os.path.relpath(full, base)
    return full if relative.startswith("..") else relative


def shard_settings(cfg, split: str) -> dict:
    """`DATA.<split>.SEER_SHARDS` over its defaults (configs/defaults/data.yaml)."""
    return plugin_section(cfg, f"DATA.{split}.SEER_SHARDS")


def index_path_of(cfg, split: str, path: str) -> str:
    """The index file of `path`'s shards. Raises ConfigError if nothing names one."""
    given = shard_settings(cfg, split)["INDEX"]
    found = str(given) if given else default_index_path(path)
    if not found:
        raise ConfigError(
            f"config.DATA.{split}.SEER_SHARDS.INDEX",
            "",
            f"is needed for the shards {path} (a pipe: command or a URL has no "
            "folder for the index beside it)",
            "set it to the file `seer shards index` wrote",
        )
    return found
