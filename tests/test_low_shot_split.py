"""Low-shot split files: class balance, seeding, SimCLR's sizes, both input kinds."""

import random
from collections import Counter

import numpy as np
import pytest

from seer_plugins.apps.commands import main
from seer_plugins.data.low_shot_split import (
    LabelledImage,
    list_image_folder,
    list_images,
    per_class_counts,
    read_split_file,
    select_low_shot,
    split_name,
    write_split_file,
)


def _listing(sizes: dict[str, int]) -> list[LabelledImage]:
    return [
        LabelledImage(f"{label}_{i}.JPEG", label)
        for label, n in sizes.items()
        for i in range(n)
    ]


# 40 classes of uneven size, as ImageNet's (732..1300 images per class).
UNEVEN = {f"n{c:03d}": 30 + 7 * c for c in range(40)}


def _imagenet_class_sizes() -> list[int]:
    """1000 class sizes between 732 and 1300 summing to ImageNet's 1,281,167."""
    sizes = [1300] * 1000
    deficit = 1300 * 1000 - 1_281_167
    for c in range(len(sizes)):
        take = min(deficit, 1300 - 732)
        sizes[c] -= take
        deficit -= take
        if not deficit:
            break
    assert sum(sizes) == 1_281_167 and min(sizes) >= 732
    return sizes


@pytest.mark.parametrize(
    "fraction, total, per_class",
    [(0.01, 12_811, {12, 13}), (0.1, 128_116, {128, 129})],
    ids=["1percent", "10percent"],
)
def test_imagenet_sizes_match_simclr(fraction, total, per_class):
    """SimCLR's 1percent.txt / 10percent.txt: 12,811 / 128,116 images."""
    sizes = _imagenet_class_sizes()
    n = int(np.floor(round(fraction * sum(sizes), 6)))
    counts = per_class_counts(sizes, n, np.random.default_rng(0))
    assert counts.sum() == total
    assert set(counts.tolist()) == per_class


def test_counts_respect_small_classes():
    counts = per_class_counts([2, 50, 50], 60, np.random.default_rng(0))
    assert counts.tolist() == [2, 29, 29]
    assert per_class_counts([3, 3], 100, np.random.default_rng(0)).tolist() == [3, 3]


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25])
def test_fraction_is_balanced_and_sized(fraction):
    images = _listing(UNEVEN)
    kept = select_low_shot(images, fraction=fraction, seed=3)
    expected = max(int(np.floor(fraction * len(images))), len(UNEVEN))
    assert len(kept) == expected
    per_class = Counter(image.label for image in kept)
    assert set(per_class) == set(UNEVEN)  # at least one per class
    # Even up to one image, except classes too small for the level (all kept).
    level = max(per_class.values())
    assert all(n >= level - 1 or n == UNEVEN[c] for c, n in per_class.items())
    assert len(set(kept)) == len(kept)
    assert set(kept) <= set(images)


def test_per_class_and_at_least_one():
    images = _listing({"a": 10, "b": 2, "c": 5})
    kept = select_low_shot(images, per_class=4, seed=0)
    assert Counter(im.label for im in kept) == {"a": 4, "b": 2, "c": 4}
    tiny = select_low_shot(images, fraction=0.001, seed=0)
    assert Counter(im.label for im in tiny) == {"a": 1, "b": 1, "c": 1}


def test_seed_determines_the_subset_not_listing_order():
    images = _listing(UNEVEN)
    shuffled = images[:]
    random.Random(0).shuffle(shuffled)
    first = select_low_shot(images, fraction=0.1, seed=7)
    assert select_low_shot(shuffled, fraction=0.1, seed=7) == first
    other = select_low_shot(images, fraction=0.1, seed=8)
    assert other != first and len(other) == len(first)


def test_bad_requests_are_refused():
    images = _listing({"a": 3})
    with pytest.raises(ValueError, match="exactly one"):
        select_low_shot(images, fraction=0.1, per_class=1)
    with pytest.raises(ValueError, match="fraction"):
        select_low_shot(images, fraction=1.5)


def _touch_folder(root, layout: dict[str, list[str]]):
    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            (root / label / name).write_bytes(b"")


def test_folder_listing_uses_bare_names_when_unique(tmp_path):
    _touch_folder(tmp_path, {"cat": ["1.png", "2.jpg", "notes.txt"], "dog": ["3.png"]})
    images = list_image_folder(tmp_path)
    assert [(im.entry, im.label) for im in images] == [
        ("1.png", "cat"),
        ("2.jpg", "cat"),
        ("3.png", "dog"),
    ]


def test_folder_listing_falls_back_to_relative_paths(tmp_path):
    _touch_folder(tmp_path, {"cat": ["1.png"], "dog": ["1.png"]})
    assert [im.entry for im in list_image_folder(tmp_path)] == [
        "cat/1.png",
        "dog/1.png",
    ]


def test_file_list_labels_from_tab_or_parent_folder(tmp_path):
    listing = tmp_path / "files.txt"
    listing.write_text("/data/x/cat/1.png\n# comment\n/data/y/2.png\tdog\n\n")
    images = list_images(listing)
    assert [(im.entry, im.label) for im in images] == [
        ("/data/x/cat/1.png", "cat"),
        ("/data/y/2.png", "dog"),
    ]


def test_missing_source_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_images(tmp_path / "nowhere")


def _image_folder(root, layout: dict[str, list[str]]):
    from PIL import Image

    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            Image.new("RGB", (4, 4)).save(root / label / name)


def test_split_file_round_trip_and_cli(tmp_path, capsys):
    _image_folder(
        tmp_path / "train", {c: [f"{c}_{i}.png" for i in range(20)] for c in "abc"}
    )
    out = tmp_path / "splits" / "s.txt"
    kept = main(
        [str(tmp_path / "train"), "--fraction", "0.1", "--seed", "1", "--out", str(out)]
    )
    assert read_split_file(out) == [im.entry for im in kept]
    assert len(kept) == 6 and "6 images of 3 classes" in capsys.readouterr().out
    write_split_file(kept[:2], out)
    assert len(read_split_file(out)) == 2
    assert split_name(fraction=0.01) == "1percent"
    assert split_name(fraction=0.1) == "10percent"
    assert split_name(per_class=13) == "13perclass"


def test_the_tool_says_what_it_wrote_and_why(tmp_path, capsys):
    train = tmp_path / "train"
    _image_folder(
        train, {f"c{k}": [f"c{k}_{i}.png" for i in range(20)] for k in range(10)}
    )
    (train / "c0" / "notes.jpg").write_text("a text file named like an image")
    (train / "c1" / "empty.jpg").write_bytes(b"")
    kept = main([str(train), "--fraction", "0.01", "--out", str(tmp_path / "a.txt")])
    out = capsys.readouterr().out
    # 1% of 200 is 2 images; one per class is the floor: 10 images, 5%.
    assert len(kept) == 10 and "(5.00% of its 200 images)" in out
    assert "every one of the 10 classes keeps at least one image" in out
    assert "2 files named like images are not images" in out
    assert all(not im.entry.endswith(".jpg") for im in kept)
    kept = main([str(train), "--per-class", "25", "--out", str(tmp_path / "b.txt")])
    out = capsys.readouterr().out
    assert len(kept) == 200 and "--per-class 25: 10 classes have fewer images" in out


@pytest.mark.parametrize(
    "argv, line",
    [
        (["--fraction", "5"], "error: --fraction=5.0: is not in (0, 1]"),
        (["--per-class", "0"], "error: --per-class=0: is not >= 1"),
        (["--fraction", "x"], "error: --fraction='x': invalid float value"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, line):
    from seer_plugins import cli

    _image_folder(tmp_path / "train", {"a": ["a.png"]})
    assert cli.run("split", [str(tmp_path / "train"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err
