"""Class-balanced, seeded low-shot label subsets in SimCLR's split-file format.

A split file names one labelled image per line, as SimCLR's `1percent.txt` and
`10percent.txt` do for ImageNet (`n01440764_10026.JPEG`). Lines are bare file names
when those are unique in the listing (ImageNet, exported digits), otherwise paths
relative to the image folder (`<class>/<file>`); :func:`read_split_file` and the
`seer_low_shot` data source accept both.

Sizes follow SimCLR's subsets: a fraction `f` of `N` images keeps `floor(f * N)`
images spread as evenly as the classes allow (ImageNet 1%: 12,811 images, 12 or 13
per class), never fewer than one per class.
"""

import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torchvision.datasets.folder import IMG_EXTENSIONS
from tqdm import tqdm

from seer_plugins.checkpoints.atomic import write_text_atomically
from seer_plugins.data.file_lists import read_entries, read_labels
from seer_plugins.errors import ConfigError


@dataclass(frozen=True)
class LabelledImage:
    """One image of a listing. `entry` is what a split file writes for it; `path`,
    where the file is (not part of its identity)."""

    entry: str
    label: str
    path: str = field(default="", compare=False)


def list_image_folder(root: str | os.PathLike) -> list[LabelledImage]:
    """Every image of a class-per-subfolder tree (`root/<class>/**/<image>`).

    Entries are bare file names if those are unique across the tree, else paths
    relative to `root`, so a split file names each image unambiguously.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    rel_paths = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for dirpath, _, files in sorted(os.walk(class_dir, followlinks=True)):
            rel_paths += [
                (Path(dirpath) / f).relative_to(root).as_posix()
                for f in sorted(files)
                if f.lower().endswith(IMG_EXTENSIONS)
            ]
    if not rel_paths:
        raise ValueError(
            f"no images under {root}: expected class subfolders "
            f"(root/<class>/<image>) holding files ending in {IMG_EXTENSIONS}"
        )
    names = [p.rsplit("/", 1)[-1] for p in rel_paths]
    entries = names if len(set(names)) == len(names) else rel_paths
    return [
        LabelledImage(entry, rel.split("/", 1)[0], str(root / rel))
        for entry, rel in zip(entries, rel_paths, strict=True)
    ]


def read_file_list(path: str | os.PathLike) -> list[LabelledImage]:
    """A `.txt` or `.csv` file list (:mod:`seer_plugins.data.file_lists`); an image
    listed without a label takes the name of its parent folder (`.../<class>/<image>`)."""
    entries = [entry for entry, _ in read_entries(path)]
    if not entries:
        raise ValueError(f"file list {path} names no images")
    labels = read_labels(path)
    return [
        LabelledImage(entry, str(label), entry)
        for entry, label in zip(entries, labels, strict=True)
    ]


def list_images(source: str | os.PathLike) -> list[LabelledImage]:
    """An image folder (class per subfolder) or a text file list, by what `source` is."""
    if Path(source).is_dir():
        return list_image_folder(source)
    if Path(source).is_file():
        return read_file_list(source)
    raise FileNotFoundError(f"{source} is neither an image folder nor a file list")


def per_class_counts(
    class_sizes: Sequence[int], total: int, rng: np.random.Generator
) -> np.ndarray:
    """Spread `total` picks over classes as evenly as their sizes allow.

    Every class gets `min(size, L)` for the largest level `L` that fits in `total`;
    the remainder goes one each to randomly chosen classes that still have images.

    Returns:
        int array, `counts[c] <= class_sizes[c]`, summing to `min(total, sum(sizes))`.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    total = min(int(total), int(sizes.sum()))
    low, high = 0, int(sizes.max())
    while low < high:  # largest level whose capped sum fits in `total`
        mid = (low + high + 1) // 2
        if np.minimum(sizes, mid).sum() <= total:
            low = mid
        else:
            high = mid - 1
    counts = np.minimum(sizes, low)
    remainder = total - int(counts.sum())
    if remainder:
        room = np.flatnonzero(sizes > low)
        counts[rng.choice(room, size=remainder, replace=False)] += 1
    return counts


def select_low_shot(
    images: Iterable[LabelledImage],
    *,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
    order: Callable[[LabelledImage], str] = lambda image: image.entry,
) -> list[LabelledImage]:
    """A class-balanced random subset, the same for the same `seed`.

    Args:
        images: the full labelled listing (order does not matter).
        fraction: keep `floor(fraction * len(images))` images (SimCLR's 1% / 10%).
        per_class: keep this many per class (all of a smaller class).
        seed: picks the subset; listing order does not.
        order: sorts each class's images before picking (their entry; tar shards
            packed from a folder sort by the file each came from, and so pick what
            the folder's split picks).

    Returns:
        the kept images sorted by label then entry. Every class keeps at least one.
    """
    if (fraction is None) == (per_class is None):
        raise ValueError("give exactly one of fraction or per_class")
    by_class: dict[str, list[LabelledImage]] = defaultdict(list)
    for image in images:
        by_class[image.label].append(image)
    labels = sorted(by_class)
    members = [sorted(by_class[label], key=order) for label in labels]
    sizes = [len(m) for m in members]
    rng = np.random.default_rng(seed)
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        # SimCLR's sizes floor: 1% of ImageNet's 1,281,167 is 12,811 images.
        total = max(math.floor(round(fraction * sum(sizes), 6)), len(labels))
        counts = per_class_counts(sizes, total, rng)
    else:
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1, got {per_class}")
        counts = np.minimum(sizes, per_class)
    kept = []
    for group, count in zip(members, counts, strict=True):
        picks = np.sort(rng.choice(len(group), size=int(count), replace=False))
        kept += [group[i] for i in picks]
    return kept


def write_split_file(images: Iterable[LabelledImage], path: str | os.PathLike) -> Path:
    """One entry per line, SimCLR's format. Written atomically: a split file that
    exists is whole (a sweep reuses it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, split_text(images))


def split_text(images: Iterable[LabelledImage]) -> str:
    """A split file's contents: one entry per line."""
    return "".join(f"{image.entry}\n" for image in images)


def read_split_file(path: str | os.PathLike) -> list[str]:
    """The entries of a split file (blank lines and `#` comments skipped)."""
    lines = (line.strip() for line in Path(path).read_text().splitlines())
    entries = [line for line in lines if line and not line.startswith("#")]
    if not entries:
        raise ValueError(f"split file {path} names no images")
    return entries


def split_name(fraction: float | None = None, per_class: int | None = None) -> str:
    """`1percent`, `10percent` (SimCLR's names), `0.5percent`, `13perclass`."""
    if per_class is not None:
        return f"{per_class}perclass"
    percent = round(fraction * 100, 6)
    return f"{percent:g}percent"


def decodable(images: list[LabelledImage]) -> tuple[list, list]:
    """`(readable, unreadable)`: the images whose file PIL identifies as an image.

    Only the header is read (no decode): cheap enough for ImageNet's 1.28M files,
    and enough to drop text files, empty files and other non-images named `.jpg`.
    """
    from PIL import Image, UnidentifiedImageError

    readable, unreadable = [], []
    quiet = len(images) < 10_000
    for image in tqdm(images, desc="checking images", unit="img", disable=quiet):
        try:
            with Image.open(image.path or image.entry):
                readable.append(image)
        except (OSError, UnidentifiedImageError, ValueError):
            unreadable.append(image)
    return readable, unreadable


@dataclass(frozen=True)
class SplitReport:
    """What a split file holds, and why it is not exactly what was asked."""

    kept: list[LabelledImage]
    total: int
    classes: int
    unreadable: list[LabelledImage]
    notes: list[str]


def explain_selection(
    listing: list[LabelledImage],
    kept: list[LabelledImage],
    fraction: float | None,
    per_class: int | None,
) -> list[str]:
    """Why `kept` differs from the request: rounding, one per class, short classes."""
    sizes: dict[str, int] = defaultdict(int)
    for image in listing:
        sizes[image.label] += 1
    notes = []
    if fraction is not None:
        asked = math.floor(round(fraction * len(listing), 6))
        if len(kept) > asked:
            notes.append(
                f"{fraction:.2%} of {len(listing)} images is {asked}; every one of the "
                f"{len(sizes)} classes keeps at least one image, so {len(kept)} "
                f"({len(kept) / len(listing):.2%})"
            )
    if per_class is not None:
        short = sorted(label for label, n in sizes.items() if n < per_class)
        if short:
            notes.append(
                f"--per-class {per_class}: {len(short)} "
                + (
                    "class has fewer images and keeps all of its"
                    if len(short) == 1
                    else "classes have fewer images and keep all of theirs"
                )
                + f" (e.g. {short[:3]})"
            )
    return notes


def make_low_shot_split(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
    check_images: bool = True,
) -> list[LabelledImage]:
    """List `source` (image folder or file list), select, write the split file `out`.

    With `check_images`, files that are not images are left out of the listing
    (and counted in the report :func:`make_split_report` gives).
    """
    return make_split_report(
        source,
        out,
        fraction=fraction,
        per_class=per_class,
        seed=seed,
        check_images=check_images,
    ).kept


def make_split_report(
    source, out, *, fraction=None, per_class=None, seed=0, check_images=True
) -> SplitReport:
    """:func:`make_low_shot_split`, returning what it wrote (`out=None`: what it
    would write) and why."""
    listing = list_images(source)
    unreadable = []
    if check_images:
        listing, unreadable = decodable(listing)
        if not listing:
            raise ConfigError(
                "source",
                str(source),
                f"none of its {len(unreadable)} image files can be read",
                "check that they are images (JPEG, PNG, ...)",
            )
    kept = select_low_shot(listing, fraction=fraction, per_class=per_class, seed=seed)
    if out is not None:
        write_split_file(kept, out)
    notes = explain_selection(listing, kept, fraction, per_class)
    classes = len({image.label for image in listing})
    return SplitReport(kept, len(listing), classes, unreadable, notes)
