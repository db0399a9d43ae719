"""Tar shards for the `seer_shards` tests, written by webdataset's own `ShardWriter`
as img2dataset lays them out: key `000000017`, members `.jpg`, `.json` and `.txt`,
and a `.cls` when labelled."""

import io
import json

import numpy as np
import webdataset as wds
from PIL import Image


def jpeg(rng, side=40) -> bytes:
    buffer = io.BytesIO()
    pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def write_shards(folder, sizes, classes=0, seed=0, key_start=0) -> list[str]:
    """Shards of `sizes` samples into `folder` (00000.tar, ...); with `classes`,
    sample n is labelled n % classes (`.cls`, and `label` / `class` in its json)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    key = key_start
    for number, size in enumerate(sizes):
        path = folder / f"{number:05d}.tar"
        with wds.TarWriter(str(path)) as writer:
            for _ in range(size):
                sample = {
                    "__key__": f"{key:09d}",
                    "jpg": jpeg(rng),
                    "txt": f"a caption of {key}",
                    "json": {"key": f"{key:09d}", "width": 40},
                }
                if classes:
                    sample["cls"] = key % classes
                    sample["json"] = {
                        **sample["json"],
                        "label": key % classes,
                        "class": f"class{key % classes}",
                    }
                writer.write(sample)
                key += 1
        written.append(str(path))
    return written


def write_img2dataset_stats(shard: str, successes: int) -> None:
    """img2dataset's `{shard}_stats.json` beside `shard`."""
    stats = {"count": successes, "successes": successes, "failed_to_download": 0}
    with open(shard[: -len(".tar")] + "_stats.json", "w") as f:
        json.dump(stats, f)


def run_seer(*args, cwd, capsys, monkeypatch):
    """`seer ARGS` in this process, in `cwd`: (exit status, stdout, stderr)."""
    from seer_plugins import cli

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err
