"""`seer split` of labelled tar shards: the same class-balanced picks as the split
of the same images in a folder, named by sample key; the picks packed, byte for
byte, into shards of their own that keep the set's classes; a split file written
elsewhere (SimCLR's, by file name) packed the same way; one-line refusals."""

import json
import tarfile

import numpy as np
import pytest
from shard_data import jpeg, run_seer, write_shards

from seer_plugins import compose
from seer_plugins.checks.shard_files import check_shards
from seer_plugins.data.low_shot_split import read_split_file
from seer_plugins.data.shard_dataset import SeerShardDataset
from seer_plugins.data.shard_lists import (
    INDEX_NAME,
    expand_shards,
    read_index,
    write_index,
)
from seer_plugins.data.shard_scan import build_index
from seer_plugins.errors import ConfigError

CLASSES = {"cat": 9, "dog": 6, "owl": 5}  # uneven, as ImageNet's


@pytest.fixture()
def packed(tmp_path, capsys, monkeypatch):
    """An image folder and the same images packed by `seer shards` (3 a shard)."""
    rng = np.random.default_rng(0)
    for name, count in CLASSES.items():
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "images" / name / f"{name}_{i:02d}.JPEG").write_bytes(jpeg(rng))
    run = {"cwd": tmp_path, "capsys": capsys, "monkeypatch": monkeypatch}
    status, _, err = run_seer("shards", "images", "shards", "--per-shard", 3, **run)
    assert status == 0, err
    return tmp_path, run


def _members(folder) -> dict[str, bytes]:
    found = {}
    for shard in expand_shards(str(folder)):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                found[member.name] = tar.extractfile(member).read()
    return found


def test_a_split_of_shards_picks_what_the_folder_split_picks_and_packs_it(packed):
    """The same seed picks the same images from the folder and from its shards
    (keys name them); --shards copies every member of exactly those samples, keys
    unchanged, with an index keeping all three classes; seer_shards reads them with
    their labels; the same split again changes nothing."""
    root, run = packed
    status, said, err = run_seer(
        "split", "images", "--fraction", "0.25", "--seed", "3", "--out", "f.txt", **run
    )
    assert status == 0, err
    status, said, err = run_seer(
        "split", "shards", "--fraction", "0.25", "--seed", "3", "--out", "s.txt",
        "--shards", "split", **run,
    )  # fmt: skip
    assert status == 0, err
    assert (
        "s.txt: 5 samples of 3 classes from shards (25.00% of its 20 samples)" in said
    )
    assert "split: 5 samples in" in said and "DATA_PATHS=[split]" in said
    by_file = read_split_file(root / "f.txt")
    keys = read_split_file(root / "s.txt")
    everything = _members(root / "shards")
    source_of = {
        name[: -len(".json")]: json.loads(data)["source"]
        for name, data in everything.items()
        if name.endswith(".json")
    }
    assert sorted(source_of[k] for k in keys) == sorted(by_file)

    copied = _members(root / "split")
    assert sorted({name.split(".")[0] for name in copied}) == sorted(keys)
    assert all(everything[name] == data for name, data in copied.items())
    assert len(copied) == 3 * len(keys)  # .cls, .JPEG's .jpg, .json
    index = read_index(str(root / "split" / INDEX_NAME), "index")
    assert index.classes == ["cat", "dog", "owl"] and sum(index.counts) == 5

    config = compose(
        [
            "config=benchmark/low_shot/digits",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
            f"config.DATA.TRAIN.DATA_PATHS=[{root}/split]",
        ]
    )
    assert list(config.DATA.TRAIN.DATA_SOURCES) == ["seer_shards"]
    dataset = SeerShardDataset(config, str(root / "split"), "TRAIN", "s", "seer_shards")
    dataset.wants_labels = True
    labels = [dataset.label_of(i) for i in range(len(dataset)) if dataset[i][1]]
    expected = [int(everything[f"{k}.cls"]) for k in sorted(keys)]
    assert labels == expected

    status, said, _ = run_seer(
        "split", "shards", "--fraction", "0.25", "--seed", "3", "--out", "s.txt", **run
    )
    assert status == 0 and "s.txt: unchanged (the same split)" in said
    assert "--shards DIR" in said  # how to train on it
    # The whole command again: its shards are found as they were.
    again = ("--fraction", "0.25", "--seed", "3", "--out", "s.txt", "--shards", "split")
    status, said, err = run_seer("split", "shards", *again, **run)
    assert status == 0 and "split: unchanged (the split's 5 samples)" in said, err
    status, _, err = run_seer(
        "split", "shards", "--fraction", "0.5", "--out", "h.txt", "--shards", "split",
        **run,
    )  # fmt: skip
    assert status == 2 and "holds another split's shards (5 samples)" in err


def test_a_split_file_from_elsewhere_packs_the_samples_it_names(packed):
    """SimCLR-style file names (what seer shards packed), keys, or both: the same
    samples."""
    root, run = packed
    (root / "by_name.txt").write_text("cat_03.JPEG\ndog/dog_01.JPEG\n# a comment\n")
    status, said, err = run_seer(
        "split", "shards", "--from", "by_name.txt", "--shards", "a", **run
    )
    assert status == 0, err
    assert "by_name.txt: 2 of the 20 samples of shards" in said
    everything = _members(root / "shards")
    key_of = {
        json.loads(data)["source"]: name[: -len(".json")]
        for name, data in everything.items()
        if name.endswith(".json")
    }
    (root / "by_key.txt").write_text(
        f"{key_of['cat_03.JPEG']}\n{key_of['dog_01.JPEG']}\n"
    )
    status, _, err = run_seer(
        "split", "shards", "--from", "by_key.txt", "--shards", "b", **run
    )
    assert status == 0, err
    assert _members(root / "a") == _members(root / "b")


def test_keys_repeated_across_shards_are_named_with_their_shard(
    tmp_path, capsys, monkeypatch
):
    """Two shard sets written with the same keys, in one folder: the entries are
    `<shard file>/<key>`, and the picks are packed from the right shard."""
    folder = tmp_path / "shards"
    write_shards(folder, [4, 4], classes=2)
    write_shards(tmp_path / "again", [4], classes=2, seed=5)
    (tmp_path / "again" / "00000.tar").rename(folder / "00002.tar")
    index, _ = build_index(
        expand_shards(str(folder)), str(folder / INDEX_NAME), workers=1, progress=False
    )
    write_index(index, str(folder / INDEX_NAME))
    run = {"cwd": tmp_path, "capsys": capsys, "monkeypatch": monkeypatch}
    status, said, err = run_seer(
        "split", "shards", "--per-class", "6", "--out", "all.txt", "--shards", "all",
        "--workers", 1, **run,
    )  # fmt: skip
    assert status == 0, err
    entries = read_split_file(tmp_path / "all.txt")
    assert len(entries) == 12 and "00002.tar/000000000" in entries
    assert read_index(str(tmp_path / "all" / INDEX_NAME), "i").counts == [4, 4, 4]


def test_a_sample_whose_image_does_not_read_is_left_out(tmp_path, capsys, monkeypatch):
    import webdataset as wds

    folder = tmp_path / "shards"
    folder.mkdir()
    rng = np.random.default_rng(0)
    with wds.TarWriter(str(folder / "00000.tar")) as writer:
        for key in range(6):
            image = b"not a jpeg" if key == 2 else jpeg(rng)
            writer.write({"__key__": f"k{key}", "jpg": image, "cls": key % 2})
    index, _ = build_index(
        expand_shards(str(folder)), str(folder / INDEX_NAME), workers=1, progress=False
    )
    write_index(index, str(folder / INDEX_NAME))
    run = {"cwd": tmp_path, "capsys": capsys, "monkeypatch": monkeypatch}
    status, said, err = run_seer("split", "shards", "--per-class", "9", **run)
    assert status == 0, err
    assert "1 samples have no image that reads and were left out (e.g. ['k2'])" in said
    assert read_split_file(tmp_path / "9perclass_seed0.txt") == [
        "k0",
        "k4",
        "k1",
        "k3",
        "k5",
    ]


@pytest.mark.parametrize(
    "argv, line",
    [
        (
            ["shards", "--from", "by_name.txt"],
            "error: --shards='': is needed with --from",
        ),
        (
            ["shards", "--from", "missing.txt", "--shards", "x"],
            "error: --from='missing.txt': does not exist",
        ),
        (
            ["shards", "--from", "wrong.txt", "--shards", "x"],
            "error: --from='wrong.txt': names 1 samples these shards do not hold "
            "(e.g. ['bird_00.JPEG'])",
        ),
        (
            ["images", "--fraction", "0.5", "--shards", "x"],
            "error: --shards='x': is for tar shards, and the source is not shards",
        ),
        (
            ["shards", "--fraction", "0.5", "--label-key", "nothing"],
            "error: --label-key='nothing': gives no label for shard",
        ),
        (
            ["shards", "--fraction", "0.5", "--shards", "images"],
            "error: --shards='images': is a folder that is not empty",
        ),
        (
            ["shards", "--fraction", "0.5", "--shards", "shards/split"],
            "error: --shards='shards/split': is inside the source shards",
        ),
    ],
)
def test_bad_input_is_one_line(packed, argv, line):
    root, run = packed
    (root / "by_name.txt").write_text("cat_03.JPEG\n")
    (root / "wrong.txt").write_text("bird_00.JPEG\n")
    status, _, err = run_seer("split", *argv, **run)
    # After the listing's progress bar (when it got that far): the one line.
    assert status == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith(line), err


def test_a_split_file_on_shards_is_refused_with_the_command_that_packs_it(packed):
    root, _ = packed
    config = compose(
        [
            "config=benchmark/low_shot/digits",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
            f"config.DATA.TRAIN.DATA_PATHS=[{root}/shards]",
            f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={root}/f.txt",
        ]
    )
    with pytest.raises(
        ConfigError, match=r"seer split SHARDS --from .*f.txt --shards DIR"
    ):
        check_shards(config)


def test_a_val_folder_is_numbered_by_the_training_shards_classes(packed):
    """Training on shards, testing on a folder: the folder's classes are numbered
    by the shards' index (cat, dog, owl), not by its own subfolders."""
    from vissl.data import build_dataset

    root, _ = packed
    val = root / "val"
    (val / "owl").mkdir(parents=True)
    for name in ("owl_00.JPEG", "owl_01.JPEG"):
        (val / "owl" / name).write_bytes((root / "images" / "owl" / name).read_bytes())
    config = compose(
        [
            "config=benchmark/low_shot/digits",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
            f"config.DATA.TRAIN.DATA_PATHS=[{root}/shards]",
            f"config.DATA.TEST.DATA_PATHS=[{val}]",
        ]
    )
    dataset = build_dataset(config, "TEST")
    dataset.load_labels()
    assert list(np.asarray(dataset.label_objs[0]).ravel()) == [2, 2]
