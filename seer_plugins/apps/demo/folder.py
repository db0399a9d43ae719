"""A user's image folder as the demo's data: its layout, a train/val split, its size.

`--data DIR` is either `DIR/<class>/<image>` (then a seeded, stratified split is
made: 20% of each class to val, as the digits export does, as symbolic links under
the demo's output folder) or `DIR/train/<class>/...` and `DIR/val/<class>/...`,
used as they are. Labels are numbered by train's classes, so val may lack some of
them; a val class that train lacks is refused (:mod:`seer_plugins.data.class_lists`,
the launcher's own check).
"""

import json
import os
import shutil
import statistics
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from seer_plugins.data.class_lists import TrainingClasses, check_known_classes
from seer_plugins.errors import ConfigError
from seer_plugins.runs.fingerprint import folder_manifest

MARKER = ".seer_split.json"
VAL_FRACTION = 0.2
# Image sides the demo trains at: RegNet's stride is 32, beyond 224 a CPU is too slow.
MIN_SIZE, MAX_SIZE, STRIDE = 32, 224, 32


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMG_EXTENSIONS and p.is_file()
    )


def class_images(root: Path) -> dict[str, list[Path]]:
    """`{class: images}` of a class-per-subfolder tree. Every subfolder is a class,
    hidden ones too, as for torchvision's `ImageFolder`."""
    return {c.name: _images(c) for c in sorted(p for p in root.iterdir() if p.is_dir())}


def _refuse(root, problem: str):
    return ConfigError(
        "--data",
        str(root),
        problem,
        "give a folder with one subfolder of images per class, or train/ and val/ "
        "holding such subfolders",
    )


def _check_classes(root: Path, images: dict[str, list[Path]]) -> None:
    if len(images) < 2:
        raise _refuse(root, f"has {len(images)} class subfolder(s), at least 2 needed")
    empty = [name for name, files in images.items() if not files]
    if empty:
        raise _refuse(root, f"class folders without images: {empty}")


def _split_counts(root: Path) -> dict:
    marker = root / MARKER
    return json.loads(marker.read_text()) if marker.is_file() else {}


def stratified_split(
    source: Path, out: Path, seed: int = 0, may_split_again: bool = True
) -> Path:
    """Link `VAL_FRACTION` of each class of `source` into `out/val`, the rest into
    `out/train`. A split of the same source, holding the same files (its
    manifest: names, sizes, times), and seed already there is kept; one of an
    earlier state of the source is made again (its links would dangle, and miss
    what was added)."""
    settings = {"source": str(source.resolve()), "val_fraction": VAL_FRACTION}
    settings["seed"] = seed
    settings["manifest"] = folder_manifest(source)
    recorded = _split_counts(out).get("settings")
    if recorded == settings:
        return out
    same_source = recorded is not None and recorded.get("source") == settings["source"]
    if same_source and not may_split_again:
        # Before anything is rewritten: runs were made from the split there.
        before = recorded.get("manifest", "").partition(": ")[2]
        now = settings["manifest"].partition(": ")[2]
        raise ConfigError(
            "--data",
            str(source),
            f"changed since {out} was split from it ({before} -> {now}), and the "
            f"runs in {out.parent} were made from that split",
            "add --rerun-changed to split it again and redo them, or use another --out",
        )
    if same_source:
        # Our own links and marker only: the images stay where they are.
        shutil.rmtree(out)
        print(f"{source} changed since {out} was split from it: split again")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            "--out",
            str(out.parent),
            f"{out} holds other data than a split of {source}",
            "pick another --out or delete that folder",
        )
    images = class_images(source)
    _check_classes(source, images)
    small = [name for name, files in images.items() if len(files) < 2]
    if small:
        raise _refuse(source, f"classes with fewer than 2 images: {small}")
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0}
    for name, files in images.items():
        n_val = min(max(1, round(VAL_FRACTION * len(files))), len(files) - 1)
        is_val = np.zeros(len(files), dtype=bool)
        is_val[rng.choice(len(files), size=n_val, replace=False)] = True
        for path, val in zip(files, is_val, strict=True):
            split = "val" if val else "train"
            # Names relative to the class folder, flattened: unique within a class.
            link = out / split / name / "__".join(path.relative_to(source / name).parts)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path.resolve(), link)
            counts[split] += 1
    # Written last: its presence means every link is in place.
    (out / MARKER).write_text(json.dumps({"settings": settings, "counts": counts}))
    return out


def check_out_apart(source: str | os.PathLike, out: Path) -> None:
    """Refuse an `--out` inside `--data` (or equal to it): the demo's links, runs and
    plots would become a class of the user's images."""
    data, out = Path(source).expanduser().resolve(), Path(out).expanduser().resolve()
    if out == data or data in out.parents:
        raise ConfigError(
            "--out",
            str(out),
            f"is inside --data {data}: the demo's outputs would become a class "
            f"({out.relative_to(data).parts[0] if out != data else '.'}) of your "
            "images",
            "pick an output folder outside --data",
        )


def prepare(
    source: str | os.PathLike, out: Path, seed: int = 0, may_split_again: bool = True
) -> tuple[Path, str]:
    """The demo's data folder (holding train/ and val/) for `--data source`, and a
    sentence saying what it is. `may_split_again`: a split of an earlier state of
    `source` is made again (else refused: runs were made from it)."""
    root = Path(source).expanduser()
    if not root.is_dir():
        raise _refuse(source, "is not a folder")
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = class_images(root / "train"), class_images(root / "val")
        _check_classes(root / "train", train)
        _check_classes(root / "val", val)
        # val may lack some of train's classes; a class train lacks is refused.
        training = TrainingClasses(
            sorted(train), str(root / "train"), "training folder"
        )
        check_known_classes("--data", str(root), val, training)
        sizes = (
            f"{sum(map(len, train.values()))} train / {sum(map(len, val.values()))} val"
        )
        return root, f"{root}: {len(train)} classes, {sizes} images"
    data = stratified_split(root, out, seed, may_split_again)
    counts = _split_counts(data)["counts"]
    classes = len(class_images(data / "train"))
    share = f"{VAL_FRACTION:.0%} of each class"
    true = counts["val"] / (counts["train"] + counts["val"])
    if f"{true:.0%}" != f"{VAL_FRACTION:.0%}":
        # Small classes: at least one image each side, so val is another share.
        share = f"{true:.0%} of the images: {share}, at least one"
    return data, (
        f"{root}: {classes} classes, split {counts['train']} train / {counts['val']} "
        f"val ({share}, seed {seed}) as links in {data}"
    )


def image_size(train: Path, sample: int = 64, seed: int = 0) -> int:
    """The side the demo trains at: the median shorter side of up to `sample`
    images of `train`, rounded down to a multiple of 32, within [32, 224]."""
    files = _images(train)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(files), size=min(sample, len(files)), replace=False)
    sides = []
    for index in picked:
        with Image.open(files[index]) as image:  # reads the header only
            sides.append(min(image.size))
    side = int(statistics.median(sides)) // STRIDE * STRIDE
    return min(max(side, MIN_SIZE), MAX_SIZE)


def train_images(train: Path) -> int:
    return len(_images(train))
