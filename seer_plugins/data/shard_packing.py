"""Pack an image folder or a file list into WebDataset tar shards, with their index.

The images are shuffled (a permutation seeded by `seed`, 0 by default) before they
are laid into shards: a folder lists its classes one after the other, and shards
in that order would give each stream (and so each batch) a few classes only, as
reading shuffles within `SHUFFLE_BUFFER` samples, not across the set. The same
source and seed write the same shards. Sample `n` is key `{n:09d}` (img2dataset's
keys) in shard `n // per_shard`, with its image bytes as they are on disk (`jpg`,
`png`, ... by the file's extension, nothing re-encoded), its class number (`cls`)
and a `json` with its class name and source path. The shards are written in
parallel, one process per shard at a time, each to a `.partial` file renamed when
complete; the index (`shards_index.json`, with the class names) is written last.
"""

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import webdataset as wds
from tqdm import tqdm

from seer_plugins.data.low_shot_split import LabelledImage, list_images
from seer_plugins.data.shard_lists import INDEX_NAME, ShardIndex, write_index

# Tar members' modification time: the shards' bytes depend on the images alone. An
# integer: a float mtime makes tarfile write an extended header before every member
# (~3 KB a sample, and twice the headers to parse when reading).
MTIME = 0
_EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp"}


def shard_name(number: int) -> str:
    return f"{number:05d}.tar"


def _member(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    return _EXTENSIONS.get(suffix, suffix or "img")


def _write_shard(job: tuple) -> int:
    """Write one shard; returns its sample count."""
    target, first, samples, classes = job
    partial = target + ".partial"
    numbers = {name: i for i, name in enumerate(classes)}
    with open(partial, "wb") as stream:
        writer = wds.TarWriter(stream, mtime=MTIME, encoder=False)
        for offset, (path, label, entry) in enumerate(samples):
            writer.write(
                {
                    "__key__": f"{first + offset:09d}",
                    _member(path): Path(path).read_bytes(),
                    "cls": str(numbers[label]).encode(),
                    "json": json.dumps({"class": label, "source": entry}).encode(),
                }
            )
        writer.close()
    os.replace(partial, target)
    return len(samples)


def pack(
    images: list[LabelledImage],
    out: str,
    per_shard: int,
    workers: int = os.cpu_count() or 1,
    progress: bool = True,
    seed: int = 0,
) -> ShardIndex:
    """Write `images`, shuffled by `seed`, as shards of `per_shard` samples into the
    folder `out`, and their index; returns the index."""
    classes = sorted({image.label for image in images})
    order = np.random.default_rng(seed).permutation(len(images))
    images = [images[i] for i in order]
    os.makedirs(out, exist_ok=True)
    jobs = []
    for number, first in enumerate(range(0, len(images), per_shard)):
        chunk = images[first : first + per_shard]
        samples = [(image.path, image.label, image.entry) for image in chunk]
        jobs.append((os.path.join(out, shard_name(number)), first, samples, classes))
    bar = tqdm(total=len(images), desc="packing", unit="img", disable=not progress)
    with bar:
        if workers <= 1 or len(jobs) <= 1:
            counts = []
            for job in jobs:
                counts.append(_write_shard(job))
                bar.update(counts[-1])
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                counts = []
                for count in pool.map(_write_shard, jobs):
                    counts.append(count)
                    bar.update(count)
    index_path = os.path.join(out, INDEX_NAME)
    index = ShardIndex(
        shards=[shard_name(i) for i in range(len(jobs))],
        counts=counts,
        classes=classes,
        path=index_path,
    )
    write_index(index, index_path)
    return index


def pack_source(source: str, out: str, per_shard: int, **kwargs) -> ShardIndex:
    """:func:`pack` of an image folder (class per subfolder) or a file list."""
    return pack(list_images(source), out, per_shard, **kwargs)
