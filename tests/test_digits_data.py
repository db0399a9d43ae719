"""Digits as an image folder, and the `seer_low_shot` data source reading it."""

from collections import Counter

import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

import seer_plugins  # noqa: F401  first: compat shims before VISSL; registers sources

# isort: split
from vissl import data as vissl_data
from vissl.config import AttrDict

from seer_plugins.data.digits import MARKER, export_digits
from seer_plugins.data.low_shot_dataset import NAME, SeerLowShotDataset
from seer_plugins.data.low_shot_split import make_low_shot_split


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "digits"
    export_digits(root)
    return root


def test_export_layout_split_and_images(digits):
    counts = {
        s: Counter(p.parent.name for p in (digits / s).rglob("*.png"))
        for s in ("train", "val")
    }
    assert sum(counts["train"].values()) + sum(counts["val"].values()) == 1797
    assert set(counts["train"]) == set(counts["val"]) == {str(d) for d in range(10)}
    for digit in counts["val"]:  # stratified: ~20% of each class in val
        share = counts["val"][digit] / (counts["val"][digit] + counts["train"][digit])
        assert 0.18 < share < 0.22
    names = [p.name for p in digits.rglob("*.png")]
    assert len(set(names)) == len(names)  # bare names are unique across classes
    with Image.open(next((digits / "val" / "3").iterdir())) as image:
        assert image.size == (32, 32) and image.mode == "RGB"


def test_export_is_idempotent_and_guards_other_settings(digits):
    marker_time = (digits / MARKER).stat().st_mtime_ns
    png = next((digits / "train" / "0").iterdir())
    png_time = png.stat().st_mtime_ns
    assert export_digits(digits) == {"train": 1438, "val": 359}
    assert (digits / MARKER).stat().st_mtime_ns == marker_time
    assert png.stat().st_mtime_ns == png_time
    with pytest.raises(FileExistsError, match="size"):
        export_digits(digits, size=16)


def _cfg(split_file="", split="TRAIN"):
    return AttrDict({"DATA": {split: {"LOW_SHOT_SPLIT_FILE": split_file}}})


def test_source_is_registered_with_data_limit_support():
    assert vissl_data.DATASET_SOURCE_MAP[NAME] is SeerLowShotDataset
    assert NAME in vissl_data.DATA_SOURCES_WITH_SUBSET_SUPPORT


def test_source_reads_the_split_with_folder_class_indices(digits, tmp_path):
    split = tmp_path / "10percent.txt"
    kept = make_low_shot_split(digits / "train", split, fraction=0.1, seed=0)
    source = SeerLowShotDataset(
        _cfg(str(split)), NAME, str(digits / "train"), "TRAIN", "d"
    )
    assert source.num_samples() == len(kept) == 143
    val = ImageFolder(str(digits / "val"))
    assert source.classes == val.classes  # same label indices as the val folder
    labels = source.get_labels()
    assert Counter(labels) == Counter(val.class_to_idx[im.label] for im in kept)
    image, valid = source[0]
    assert valid and image.mode == "RGB" and image.size == (32, 32)
    full = SeerLowShotDataset(_cfg(), NAME, str(digits / "train"), "TRAIN", "d")
    assert len(full) == 1438


def test_source_accepts_relative_paths(digits, tmp_path):
    split = tmp_path / "rel.txt"
    first = sorted((digits / "train" / "7").iterdir())[0]
    split.write_text(f"7/{first.name}\n")
    source = SeerLowShotDataset(
        _cfg(str(split)), NAME, str(digits / "train"), "TRAIN", "d"
    )
    assert source.get_image_paths() == [str(first)] and source.get_labels() == [7]


def test_missing_paths_fail_with_the_path(digits, tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder.*DATA_PATHS"):
        SeerLowShotDataset(_cfg(), NAME, str(tmp_path / "no_such_folder"), "TRAIN", "d")
    with pytest.raises(FileNotFoundError, match="missing.txt.*LOW_SHOT_SPLIT_FILE"):
        SeerLowShotDataset(
            _cfg(str(tmp_path / "missing.txt")),
            NAME,
            str(digits / "train"),
            "TRAIN",
            "d",
        )
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("n01440764_10026.JPEG\n")
    with pytest.raises(FileNotFoundError, match="n01440764_10026.JPEG"):
        SeerLowShotDataset(_cfg(str(wrong)), NAME, str(digits / "train"), "TRAIN", "d")
