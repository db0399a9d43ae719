"""Low-shot splits of labelled tar shards, by sample key.

A low-shot split picks 1% or 10% of a labelled set's samples, spread evenly over the
classes (:func:`~seer_plugins.data.low_shot_split.select_low_shot`, the folders'
rule). On shards the split file names samples by their `__key__` (a key that
several shards repeat is written `<shard file>/<key>`), and the picked samples are
packed into shards of their own: reading 1% of the images must not mean reading
every shard of the set each epoch.

- :func:`list_shard_samples` reads every shard through, in parallel, decoding
  nothing but each image's header: each sample's key, its label (the same
  :func:`~seer_plugins.data.shard_samples.sample_label` training reads) and whether
  its image is one. The counts are checked against the index.
- :func:`samples_named` matches a split file written elsewhere (SimCLR's
  `1percent.txt` names ImageNet files): an entry names a sample by key, or by the
  file name `seer shards` recorded when it packed the image (the json's `source`).
- :func:`pack_subset` copies the picked samples, every member byte for byte and
  keys unchanged, into `OUT/00000.tar, ...` (one shard per source shard holding
  any) with an index that keeps the whole set's class names, so class numbers do
  not change.
"""

import io
import json
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import webdataset as wds
from tqdm import tqdm

from seer_plugins.data.low_shot_split import LabelledImage
from seer_plugins.data.shard_lists import (
    INDEX_NAME,
    ShardIndex,
    expand_shards,
    write_index,
)
from seer_plugins.data.shard_packing import MTIME, shard_name
from seer_plugins.data.shard_reader import open_samples
from seer_plugins.data.shard_samples import image_bytes, label_source, sample_label
from seer_plugins.errors import ConfigError


@dataclass(frozen=True)
class ShardSample:
    """One sample as a split sees it."""

    shard: int
    key: str
    label: int | None
    is_image: bool
    # The names of the file `seer shards` packed it from, if its json says:
    # as listed, bare, and `<class>/<file>`.
    names: tuple[str, ...] = ()


def _is_image(sample: dict, image_keys: list[str]) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image_bytes(sample, image_keys))):
            return True
    except (KeyError, OSError, UnidentifiedImageError, ValueError):
        return False


def _packed_names(sample: dict) -> tuple[str, ...]:
    try:
        record = json.loads(sample["json"])
        source = str(record.get("source") or "").replace("\\", "/")
        label = str(record.get("class") or "")
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError):
        return ()
    if not source:
        return ()
    name = source.rsplit("/", 1)[-1]
    return tuple(dict.fromkeys([source, name] + ([f"{label}/{name}"] if label else [])))


def _list_shard(job: tuple) -> tuple[list[tuple], str | None]:
    """One shard's samples as `(key, label, is_image, names)`, or the error that
    stopped its read (reported with the shard's name, not raised in a pool)."""
    shard, label_key, class_numbers, image_keys = job
    rows = []
    try:
        for sample in open_samples(shard):
            rows.append(
                (
                    str(sample.get("__key__")),
                    sample_label(sample, label_key, class_numbers),
                    _is_image(sample, image_keys),
                    _packed_names(sample),
                )
            )
    except Exception as error:
        return rows, f"{type(error).__name__}: {error}"
    return rows, None


def list_shard_samples(
    shards: list[str],
    index: ShardIndex,
    label_key: str,
    image_keys: Iterable[str],
    workers: int = os.cpu_count() or 1,
    progress: bool = True,
    key: str = "source",
) -> list[ShardSample]:
    """Every sample of `shards`, in the index's order.

    Raises:
        ConfigError: a shard that cannot be read through, one whose sample count
            differs from `index`, or a sample without a label.
    """
    counts = index.counts_of(shards, key)
    numbers = {name: i for i, name in enumerate(index.classes)}
    jobs = [
        (s, label_key, numbers, [str(k).lower() for k in image_keys]) for s in shards
    ]
    listing: list[ShardSample] = []
    bar = tqdm(
        total=sum(counts), desc="listing samples", unit="img", disable=not progress
    )
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    results = pool.map(_list_shard, jobs) if pool else map(_list_shard, jobs)
    try:
        for number, (rows, error) in enumerate(results):
            shard = shards[number]
            if error is not None:
                raise ConfigError(key, shard, f"could not be read through: {error}")
            if len(rows) != counts[number]:
                raise ConfigError(
                    key,
                    shard,
                    f"holds {len(rows)} samples and its index says {counts[number]}",
                    "rebuild the index with: seer shards index PATTERN|DIR",
                )
            for sample_key, label, is_image, names in rows:
                if label is None:
                    raise ConfigError(
                        "--label-key",
                        label_key,
                        f"gives no label for shard {shard}, key {sample_key}: no "
                        f"{label_source(label_key)}, or a class name the index does "
                        f"not list (its classes: {len(index.classes)})",
                        "name the json field holding the labels",
                    )
                listing.append(ShardSample(number, sample_key, label, is_image, names))
            bar.update(len(rows))
    finally:
        bar.close()
        if pool:
            pool.shutdown(cancel_futures=True)
    return listing


def split_entries(listing: list[ShardSample], shards: list[str]) -> list[str]:
    """Each sample's entry in a split file: its key, or `<shard file>/<key>` when
    keys repeat across shards.

    Raises:
        ConfigError: keys repeat within one shard (no entry can tell them apart).
    """
    keys = [sample.key for sample in listing]
    if len(set(keys)) == len(keys):
        return keys
    entries = [
        f"{os.path.basename(shards[sample.shard])}/{sample.key}" for sample in listing
    ]
    if len(set(entries)) != len(entries):
        seen, repeated = set(), ""
        for entry in entries:
            if entry in seen:
                repeated = entry
                break
            seen.add(entry)
        raise ConfigError(
            "source",
            repeated,
            "names two samples (a key repeated in one shard, or in two shard files "
            "of the same name)",
            "give every sample a key of its own",
        )
    return entries


def labelled_listing(
    listing: list[ShardSample], shards: list[str], classes: list[str]
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """`(readable, unreadable)` as `seer split` selects from: entry = the sample's
    split entry, label = its class name (its number when the index lists none),
    path = the file `seer shards` packed it from (what :func:`picking_order`
    sorts by), else its entry."""
    readable, unreadable = [], []
    for sample, entry in zip(listing, split_entries(listing, shards), strict=True):
        name = classes[sample.label] if 0 <= sample.label < len(classes) else None
        packed_from = sample.names[0] if sample.names else entry
        image = LabelledImage(entry, name or str(sample.label), packed_from)
        (readable if sample.is_image else unreadable).append(image)
    return readable, unreadable


def samples_named(
    listing: list[ShardSample], shards: list[str], entries: list[str], split_file: str
) -> list[int]:
    """The listing positions a split file's entries name: by split entry (the key)
    or by the file `seer shards` packed the sample from (its bare name, or
    `<class>/<file>` when bare names repeat).

    Raises:
        ConfigError: an entry names no sample, or several.
    """
    position_of: dict[str, int] = {}
    repeated: set[str] = set()

    def name(alias: str, position: int) -> None:
        if alias in position_of and position_of[alias] != position:
            repeated.add(alias)
        position_of.setdefault(alias, position)

    for position, entry in enumerate(split_entries(listing, shards)):
        name(entry, position)
    for position, sample in enumerate(listing):
        for alias in sample.names:
            name(alias, position)
    missing = [e for e in entries if e not in position_of]
    ambiguous = [e for e in entries if e in repeated]
    if missing or ambiguous:
        problem = (
            f"names {len(missing)} samples these shards do not hold (e.g. "
            f"{missing[:3]}): is it the split file of this set?"
            if missing
            else f"names {len(ambiguous)} files several samples came from (e.g. "
            f"{ambiguous[:3]}): write keys or `<class>/<file>`"
        )
        raise ConfigError("--from", split_file, problem)
    return sorted({position_of[e] for e in entries})


def _copy_samples(job: tuple) -> int:
    """Copy the samples of one source shard whose keys are picked; their count."""
    source, keys, target = job
    partial = target + ".partial"
    written = 0
    with open(partial, "wb") as stream:
        writer = wds.TarWriter(stream, mtime=MTIME, encoder=False)
        for sample in open_samples(source):
            if sample.get("__key__") in keys:
                writer.write(
                    {k: v for k, v in sample.items() if not k.startswith("__")}
                    | {"__key__": sample["__key__"]}
                )
                written += 1
        writer.close()
    os.replace(partial, target)
    return written


def pack_subset(
    listing: list[ShardSample],
    picked: list[int],
    shards: list[str],
    out: str,
    classes: list[str],
    workers: int = os.cpu_count() or 1,
    progress: bool = True,
) -> ShardIndex:
    """Copy the samples at listing positions `picked` into shards in the folder
    `out`, one per source shard holding any, and write their index."""
    by_shard: dict[int, set[str]] = {}
    for position in picked:
        sample = listing[position]
        by_shard.setdefault(sample.shard, set()).add(sample.key)
    os.makedirs(out, exist_ok=True)
    jobs = [
        (shards[shard], keys, os.path.join(out, shard_name(number)))
        for number, (shard, keys) in enumerate(sorted(by_shard.items()))
    ]
    counts = []
    bar = tqdm(
        total=len(jobs), desc="packing the split", unit="shard", disable=not progress
    )
    pool = (
        ProcessPoolExecutor(max_workers=workers)
        if workers > 1 and len(jobs) > 1
        else None
    )
    with bar:
        for count in (
            pool.map(_copy_samples, jobs) if pool else map(_copy_samples, jobs)
        ):
            counts.append(count)
            bar.update()
    if pool:
        pool.shutdown()
    expected = [len(keys) for _, keys in sorted(by_shard.items())]
    if counts != expected:  # a shard changed since it was listed
        raise ConfigError(
            "source", out, f"packed {sum(counts)} of {sum(expected)} picked samples"
        )
    index_path = str(Path(out) / INDEX_NAME)
    index = ShardIndex(
        shards=[shard_name(i) for i in range(len(jobs))],
        counts=counts,
        classes=list(classes),
        path=index_path,
    )
    write_index(index, index_path)
    return index


def packed_keys(folder: str) -> set[str]:
    """The keys of the samples in the shards of `folder` (a packed split's)."""
    return {
        str(sample["__key__"])
        for shard in expand_shards(folder)
        for sample in open_samples(shard)
    }


def picking_order(image: LabelledImage) -> str:
    """What a class's samples are sorted by before picking: the file `seer shards`
    packed each from (the folder split's entry), so that the split of the shards
    picks what the split of the folder picks; a sample's key otherwise."""
    return image.path
