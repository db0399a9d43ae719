"""`seer shards`: tar shards for the `seer_shards` data source.

- `seer shards SRC OUT [--per-shard N]` packs an image folder (a class per
  subfolder) or a file list into `OUT/00000.tar, ...` with their index
  (:mod:`seer_plugins.data.shard_packing`).
- `seer shards index PATTERN|DIR|LIST [--out FILE]` writes the index of shards
  another tool wrote (img2dataset's, webdataset's `ShardWriter`'s):
  :mod:`seer_plugins.data.shard_scan`.
"""

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.data.shard_lists import (
    default_index_path,
    expand_shards,
    read_index,
    write_index,
)
from seer_plugins.data.shard_packing import pack_source
from seer_plugins.data.shard_scan import build_index
from seer_plugins.errors import ConfigError, command_parser

_CORES = os.cpu_count() or 1


def _pack_parser():
    parser = command_parser(
        "shards",
        "Pack an image folder (one subfolder per class) or a file list (.txt, "
        ".csv) into WebDataset tar shards for the seer_shards data source, with "
        "their index (shards_index.json). `seer shards index` indexes shards "
        "written by another tool.",
        "~/data/train ~/shards/train --per-shard 10000",
    )
    parser.add_argument("source", help="image folder (class per subfolder) or list")
    parser.add_argument("out", help="folder to write the shards and index into")
    parser.add_argument(
        "--per-shard", type=int, default=10000, help="samples a shard (10000)"
    )
    parser.add_argument("--workers", type=int, default=_CORES, help="processes")
    parser.add_argument(
        "--seed", type=int, default=0, help="shuffles the images across shards (0)"
    )
    return parser


def _index_parser():
    parser = command_parser(
        "shards index",
        "Write the index (each shard's sample count) of existing tar shards: from "
        "img2dataset's *_stats.json beside them, else by reading them through, "
        "in parallel.",
        "'/data/laion/{00000..41455}.tar'",
    )
    parser.add_argument(
        "shards", help="brace pattern (quoted), folder of .tar files or shard list"
    )
    parser.add_argument(
        "--out",
        help="index file to write (default: shards_index.json beside the shards; "
        "needed for a pipe: command or a URL)",
    )
    parser.add_argument("--workers", type=int, default=_CORES, help="processes")
    return parser


def _many(count: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{count} {noun if count == 1 else plural}"


def _positive(option: str, value: int) -> None:
    if value < 1:
        raise ConfigError(option, value, "must be at least 1")


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if argv[:1] == ["index"]:
        return index(argv[1:])
    args = _pack_parser().parse_args(argv)
    _positive("--per-shard", args.per_shard)
    _positive("--workers", args.workers)
    if not os.path.exists(args.source):
        raise ConfigError(
            "source", args.source, "does not exist", "give an image folder or a list"
        )
    source, out = Path(args.source).resolve(), Path(args.out).resolve()
    if out == source or source in out.parents:
        raise ConfigError(
            "out",
            args.out,
            f"is inside the source {args.source}: the shards would be read as images",
            "give a folder outside it",
        )
    if os.path.isdir(args.out) and os.listdir(args.out):
        raise ConfigError(
            "out", args.out, "is a folder that is not empty", "give a new folder"
        )
    started = time.monotonic()
    try:
        shard_index = pack_source(
            args.source, args.out, args.per_shard, workers=args.workers, seed=args.seed
        )
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError("source", args.source, str(error)) from None
    print(
        f"{_many(sum(shard_index.counts), 'image')}, "
        f"{_many(len(shard_index.classes), 'class')}, "
        f"{_many(len(shard_index.shards), 'shard')} in {args.out} "
        f"({time.monotonic() - started:.1f} s); index {shard_index.path}"
    )
    return 0


def index(argv: Sequence[str]) -> int:
    args = _index_parser().parse_args(list(argv))
    _positive("--workers", args.workers)
    shards = expand_shards(args.shards, "shards")
    out = args.out or default_index_path(args.shards)
    if not out:
        raise ConfigError(
            "--out",
            "",
            "is needed for shards behind a pipe: command or a URL",
            "name the index file to write: --out shards_index.json",
        )
    classes = []
    if os.path.isfile(out):  # re-indexing keeps the class names `seer shards` wrote
        with contextlib.suppress(ConfigError):
            classes = read_index(out, "--out").classes
    started = time.monotonic()
    try:
        shard_index, from_stats = build_index(
            shards, out, workers=args.workers, classes=classes
        )
    except OSError as error:
        raise ConfigError("shards", args.shards, str(error)) from None
    write_index(shard_index, out)
    print(
        f"{_many(sum(shard_index.counts), 'sample')} in {_many(len(shards), 'shard')} "
        f"({from_stats} counted by img2dataset's stats, {len(shards) - from_stats} "
        f"read through; {time.monotonic() - started:.1f} s); index {out}"
    )
    return 0
