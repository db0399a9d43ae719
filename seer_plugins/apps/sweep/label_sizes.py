"""What a label subset really labels: "1%" of 48 images is 3 images (6.25%).

A fraction of a small folder rounds to whole images per class (at least one each),
so a row named "1%" may label 6% of the images, and "1%" and "10%" of a folder with
one training image per class are the same runs. The tables say how many images each
row labelled, of how many; two rows that label the same images, or a fraction that
labels every image, are refused by the sweep (the demo merges them instead, saying
so).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from seer_plugins.apps.sweep.runs import RunSpec
from seer_plugins.data.low_shot_split import list_images, read_split_file
from seer_plugins.errors import ConfigError


@dataclass(frozen=True)
class LabelSize:
    """`images` labelled of the training folder's `of`."""

    images: int
    of: int

    @property
    def fraction(self) -> float:
        return self.images / self.of if self.of else 0.0

    def text(self) -> str:
        return f"{self.images:,} of {self.of:,} ({100 * self.fraction:.3g}%)"

    def as_record(self) -> dict:
        return {"images": self.images, "of": self.of}

    @classmethod
    def from_record(cls, record: dict | None) -> "LabelSize | None":
        return cls(record["images"], record["of"]) if record else None


def training_image_count(folder: str) -> int:
    """Images of the training folder, listed as a split file lists them."""
    return len(list_images(folder))


def split_entries(path: str | None) -> frozenset[str] | None:
    """The images a split file names (None: every image, no split file)."""
    return frozenset(read_split_file(path)) if path else None


@dataclass(frozen=True)
class Subset:
    """One run's label subset: its spec, the split file's entries (None: all)."""

    spec: RunSpec
    entries: frozenset[str] | None

    def size(self, total: int) -> LabelSize:
        return LabelSize(total if self.entries is None else len(self.entries), total)

    @property
    def asks_for_part(self) -> bool:
        """A fraction below 1 or a per-class count: meant to label part of the data."""
        labels = self.spec.labels
        return labels.per_class is not None or (
            labels.fraction is not None and labels.fraction < 1
        )


def duplicates(subsets: Iterable[Subset], total: int) -> list[tuple[Subset, Subset]]:
    """(kept, duplicate) pairs: label subsets of one checkpoint and seed that label
    the same images, the later one a duplicate of the first."""
    seen: dict[tuple, Subset] = {}
    pairs = []
    for subset in subsets:
        spec = subset.spec
        entries = subset.entries
        if entries is not None and len(entries) == total:
            entries = None  # every image: the same as no split file
        key = (spec.checkpoint, spec.seed, entries)
        if key in seen and seen[key].spec.labels.name != spec.labels.name:
            pairs.append((seen[key], subset))
        else:
            seen.setdefault(key, subset)
    return pairs


def nearer_named(first: Subset, second: Subset, total: int) -> tuple[Subset, Subset]:
    """(kept, dropped) of two subsets that label the same images: the one whose
    asked-for fraction is nearer the true one is kept (the first, if neither asked)."""
    true = first.size(total).fraction

    def distance(subset: Subset) -> float:
        asked = subset.spec.labels.fraction
        return abs(asked - true) if asked is not None else float("inf")

    return (second, first) if distance(second) < distance(first) else (first, second)


def refuse_duplicate(kept: Subset, duplicate: Subset, folder: str, total: int):
    """The sweep's one line for two rows that label the same images."""
    size = duplicate.size(total)
    return ConfigError(
        "--labels",
        duplicate.spec.labels.name,
        f"labels the same {size.images:,} of {total:,} images of {folder} as "
        f"{kept.spec.labels.name!r} (seed {duplicate.spec.seed}): each class's share "
        "rounds to the same count",
        "keep one of them, or use a larger training folder",
    )


def refuse_full(subset: Subset, folder: str, total: int):
    """The sweep's one line for a part that labels every image."""
    return ConfigError(
        "--labels",
        subset.spec.labels.name,
        f"labels every image of {folder} ({total:,} of {total:,}; at least one per "
        "class), not a part of them",
        "drop it (it is the 'all' row), or use a larger training folder",
    )
