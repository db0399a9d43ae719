"""What determines a run's result, as a flat `{key: text}` a rerun can compare.

A run folder (`CHECKPOINT.DIR`) belongs to one fingerprint:

- the resolved config, key by key, minus what cannot change the result (where the
  run writes, how often it logs or checkpoints, how many loader workers read: the
  data order and augmentations are seeded per sample, so they do not depend on it);
- the inputs the config names, by what they hold rather than by path: each data
  folder by a manifest of its files' names, sizes and modification times; each list,
  label or split file by its contents; the weights file by the target of its links,
  its size, modification time and a hash of its first megabyte.

Two fingerprints are compared key by key (:func:`differences`), so a refusal names
what changed.
"""

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

# Config sections and keys that say where or how a run works, not what it computes.
IGNORED_PREFIXES = (
    "CHECKPOINT.",  # where the run writes and how often; resume is exact
    "DISTRIBUTED.",  # the world size may change on resume (VISSL warns)
    "MACHINE.",  # a run moved from one host to another
    "SLURM.",  # how it was submitted
    "LOG_FREQUENCY",
    "VERBOSE",
    "HOOKS.TENSORBOARD_SETUP.",
    "HOOKS.PERF_STATS.",
    "HOOKS.MEMORY_SUMMARY.",
    "HOOKS.LOG_GPU_STATS",
    "DATA.TRAIN.NUM_DATALOADER_WORKERS",
    "DATA.TEST.NUM_DATALOADER_WORKERS",
    "DATA.NUM_DATALOADER_WORKERS",
    # How the model is spread over the ranks (sharded or not, its units, the
    # precision of its gradient sums): a run resumes sharded or not, resharded.
    "MODEL.SEER_FSDP.",
)
# Config keys naming inputs: compared by content (`input:` keys), not only by path.
DATA_KEYS = ("DATA_PATHS", "LABEL_PATHS")
FILE_KEYS = ("DATA.TRAIN.LOW_SHOT_SPLIT_FILE", "MODEL.WEIGHTS_INIT.PARAMS_FILE")
INPUT_PREFIX = "input:"
# List, label and split files hash whole up to this size; larger, by their head.
WHOLE_FILE_BYTES = 64 << 20
HEAD_BYTES = 1 << 20


def flatten(node, prefix: str = "") -> dict[str, str]:
    """`{"A.B": json text}` for every leaf of a nested config (lists are leaves)."""
    if isinstance(node, Mapping):
        flat = {}
        for key in sorted(node, key=str):
            flat.update(flatten(node[key], f"{prefix}{key}."))
        return flat
    # torch dtypes (after VISSL's convert_fsdp_dtypes) read as the names they were.
    return {
        prefix[:-1]: json.dumps(
            node, sort_keys=True, default=lambda v: str(v).removeprefix("torch.")
        )
    }


# VISSL copies CHECKPOINT.DIR into a loss's `output_dir` (where it may dump).
IGNORED_SUFFIXES = (".output_dir",)
# The world size may change on resume, and with it what is set per rank (a batch,
# a SwAV queue, which the resume redeals) and the learning rates VISSL scales to the
# global batch (`auto_lr_scaling`).
WORLD_SIZE_KEY = "world_size"
WORLD_SIZE_DERIVED = (
    "OPTIMIZER.param_schedulers.",
    "DATA.TRAIN.BATCHSIZE_PER_REPLICA",
    "DATA.TEST.BATCHSIZE_PER_REPLICA",
)
PER_RANK_SUFFIXES = (".queue_length", ".local_queue_length")


def _ignored(key: str) -> bool:
    return any(
        key == p.rstrip(".") or key.startswith(p) for p in IGNORED_PREFIXES
    ) or key.endswith(IGNORED_SUFFIXES)


def resumable_keys(before: Mapping[str, str], now: Mapping[str, str]) -> set[str]:
    """The keys a resume may change: the world size and what follows from it."""
    if before.get(WORLD_SIZE_KEY) == now.get(WORLD_SIZE_KEY):
        return set()
    keys = {WORLD_SIZE_KEY}
    keys |= {
        k
        for k in (*before, *now)
        if k.startswith(WORLD_SIZE_DERIVED) or k.endswith(PER_RANK_SUFFIXES)
    }
    return keys


def _digest(parts: Iterable[str]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode("utf-8", "surrogateescape"))
        sha.update(b"\0")
    return sha.hexdigest()[:16]


def _stamp(mtime_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime_ns / 1e9))


def _hash_file(path: Path, limit: int) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        sha.update(f.read(limit))
    return sha.hexdigest()[:16]


def file_identity(path: str | os.PathLike, whole: bool = False) -> str:
    """A file by what it is, not by the name it was given: the target of its links,
    size, modification time and a hash of its head (or of all of it, when `whole`
    and not larger than `WHOLE_FILE_BYTES`)."""
    target = Path(path).expanduser().resolve()
    try:
        stat = target.stat()
    except OSError:
        return f"{target} (missing)"
    if whole and stat.st_size <= WHOLE_FILE_BYTES:
        # Contents alone: a regenerated split with the same lines is the same split.
        return f"{target}: {stat.st_size} bytes, sha256 {_hash_file(target, -1)}"
    return (
        f"{target}: {stat.st_size} bytes, modified {_stamp(stat.st_mtime_ns)}, "
        f"head sha256 {_hash_file(target, HEAD_BYTES)}"
    )


_MANIFESTS: dict[str, str] | None = None


@contextlib.contextmanager
def manifests_cached():
    """Within the block, each folder is listed once (a sweep fingerprints many runs
    of one data folder); outside, every call lists it afresh."""
    global _MANIFESTS
    outer = _MANIFESTS
    _MANIFESTS = {} if outer is None else outer
    try:
        yield
    finally:
        _MANIFESTS = outer


def folder_manifest(folder: str | os.PathLike) -> str:
    """A folder by its files: how many, and a hash of every relative name, size and
    modification time (a stat per file, the cost of listing it; no file is read).
    Links are followed: a folder of links is the files they point to."""
    root = Path(folder).expanduser().resolve()
    if _MANIFESTS is not None and str(root) in _MANIFESTS:
        return _MANIFESTS[str(root)]
    entries, total, newest = [], 0, 0
    stack = [root]
    while stack:
        current = stack.pop()
        with os.scandir(current) as listing:
            for entry in listing:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.is_file():
                    stat = entry.stat()
                    name = os.path.relpath(entry.path, root)
                    entries.append(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}")
                    total += stat.st_size
                    newest = max(newest, stat.st_mtime_ns)
    entries.sort()
    # The counts, size and newest time say in words what changed, the hash all of it.
    manifest = (
        f"{root}: {len(entries)} files, {total:,} bytes, newest {_stamp(newest)}, "
        f"manifest {_digest(entries)}"
    )
    if _MANIFESTS is not None:
        _MANIFESTS[str(root)] = manifest
    return manifest


def input_identity(path: str) -> str:
    """A data path (folder: its manifest; file: its contents) or a weights file."""
    target = Path(str(path)).expanduser()
    if target.is_dir():
        return folder_manifest(target)
    return file_identity(target, whole=target.suffix in (".txt", ".csv", ".npy"))


def fingerprint(config: Mapping, engine_name: str = "train") -> dict[str, str]:
    """What determines the result of running `engine_name` on `config`."""
    flat = {"engine_name": json.dumps(engine_name)}
    flat.update({k: v for k, v in flatten(config).items() if not _ignored(k)})
    distributed = config.get("DISTRIBUTED", {})
    world_size = distributed.get("NUM_NODES", 1) * distributed.get(
        "NUM_PROC_PER_NODE", 1
    )
    flat[WORLD_SIZE_KEY] = json.dumps(world_size)
    for split in ("TRAIN", "TEST"):
        data = config.get("DATA", {}).get(split, {})
        for key in DATA_KEYS:
            paths = list(data.get(key) or [])
            if paths:
                # The same files, however spelled (relative, absolute, via links).
                flat[f"DATA.{split}.{key}"] = json.dumps([_resolved(p) for p in paths])
            for index, path in enumerate(paths):
                if path and Path(str(path)).expanduser().exists():
                    flat[f"{INPUT_PREFIX}DATA.{split}.{key}[{index}]"] = input_identity(
                        path
                    )
    for dotted in FILE_KEYS:
        node = config
        for part in dotted.split("."):
            node = node.get(part, None) if isinstance(node, Mapping) else None
        if node:
            flat[dotted] = json.dumps(_resolved(node))
            flat[f"{INPUT_PREFIX}{dotted}"] = file_identity(
                node, whole=dotted.endswith("SPLIT_FILE")
            )
    return flat


def _resolved(path) -> str:
    """A local path as the file it names (absolute, links followed); others as
    given (an object store's URL)."""
    text = str(path)
    if not text or "://" in text or text.startswith("pipe:"):
        return text
    return str(Path(text).expanduser().resolve())


# What differs between the seeds of one experiment: the seed, what VISSL derives
# from it, and the label split drawn with it (its path names the seed).
SEED_KEYS = (
    "SEED_VALUE",
    "MODEL._MODEL_INIT_SEED",
    "DATA.TRAIN.LOW_SHOT_SPLIT_FILE",
    f"{INPUT_PREFIX}DATA.TRAIN.LOW_SHOT_SPLIT_FILE",
)


def variant(flat: Mapping[str, str]) -> str:
    """A short name for a fingerprint without its seed: the runs a mean over seeds
    may average share it."""
    return _digest(
        f"{key}={value}" for key, value in sorted(flat.items()) if key not in SEED_KEYS
    )[:8]


def differences(
    before: Mapping[str, str], now: Mapping[str, str], allowed: Iterable[str] = ()
) -> list[tuple[str, str | None, str | None]]:
    """`[(key, before, now)]` for every key that differs, except `allowed` ones:
    the keys a user sets first, then the ones VISSL derives (`_MODEL_INIT_SEED`)."""
    allowed = set(allowed)

    def order(key):
        derived = any(part.startswith("_") for part in key.split("."))
        return (derived, key)

    return [
        (key, before.get(key), now.get(key))
        for key in sorted(set(before) | set(now), key=order)
        if key not in allowed and before.get(key) != now.get(key)
    ]


def describe(difference: tuple[str, str | None, str | None]) -> str:
    """One difference in words: `KEY: before -> now`; an input of one path as
    `KEY: path: before -> now` (long values shortened)."""
    key, before, now = difference

    def short(text):
        if text is None:
            return "(unset)"
        return text if len(text) <= 90 else text[:60] + "..." + text[-25:]

    if before and now:
        shared = os.path.commonprefix([before, now])
        if ": " in shared:
            path = shared[: shared.rindex(": ")]
            rest = len(path) + 2
            return f"{key}: {path}: {short(before[rest:])} -> {short(now[rest:])}"
    return f"{key}: {short(before)} -> {short(now)}"
