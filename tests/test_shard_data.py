"""`seer_shards` as a data source, and `seer shards`: shards named three ways and
through `pipe:`, images and labels read, bad samples replaced, a truncated tar, an
index that disagrees, refusals before training, packing and indexing."""

import io
import json
import tarfile

import numpy as np
import pytest
import webdataset as wds
from PIL import Image
from shard_data import jpeg, run_seer, write_img2dataset_stats, write_shards
from vissl.data import DATASET_SOURCE_MAP

from seer_plugins import compose
from seer_plugins.checks.shard_files import check_shards
from seer_plugins.data.shard_dataset import SeerShardDataset
from seer_plugins.data.shard_lists import (
    INDEX_NAME,
    expand_shards,
    read_index,
    write_index,
)
from seer_plugins.data.shard_reader import ShardCountError, ShardReader
from seer_plugins.data.shard_scan import build_index
from seer_plugins.errors import ConfigError
from seer_plugins.patches.shard_sources import ShardLabels

SIZES = [6, 4, 5]


def _index(folder, shards=None, out=None):
    shards = shards or expand_shards(str(folder))
    out = out or str(folder / INDEX_NAME)
    index, _ = build_index(shards, out, workers=1, progress=False)
    write_index(index, out)
    return out


@pytest.fixture()
def labelled(tmp_path):
    folder = tmp_path / "labelled"
    write_shards(folder, SIZES, classes=3)
    _index(folder)
    return folder


def _config(path, *overrides, split="TRAIN"):
    return compose(
        [
            "config=pretrain/seer_tiny",
            f'config.DATA.{split}.DATA_PATHS=["{path}"]',
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=2",
            *overrides,
        ]
    )


def _dataset(config, path, split="TRAIN"):
    return SeerShardDataset(config, str(path), split, "shards", "seer_shards")


def test_a_path_of_shards_selects_the_source_and_reads_every_sample(labelled):
    assert DATASET_SOURCE_MAP["seer_shards"] is SeerShardDataset
    for path in (
        labelled,  # a folder
        f"{labelled}/{{00000..00002}}.tar",  # a brace pattern
    ):
        config = _config(path)
        assert list(config.DATA.TRAIN.DATA_SOURCES) == ["seer_shards"]
        dataset = _dataset(config, path)
        assert len(dataset) == sum(SIZES)
        images = [dataset[i] for i in range(len(dataset))]
        assert all(ok and image.mode == "RGB" for image, ok in images)
    listed = labelled / "train.txt"  # a shard list, relative to its folder
    listed.write_text("# shards\n00000.tar\n00001.tar\n\n00002.tar\n")
    assert len(_dataset(_config(listed), listed)) == sum(SIZES)


def test_pipe_shards_read_with_an_index_named_by_the_key(labelled, tmp_path):
    pattern = f"pipe:cat {labelled}/{{00000..00002}}.tar"
    index = _index(tmp_path, expand_shards(pattern), str(tmp_path / "pipe.json"))
    config = _config(pattern, f"config.DATA.TRAIN.SEER_SHARDS.INDEX={index}")
    check_shards(config)
    dataset = _dataset(config, pattern)
    assert [dataset[i][1] for i in range(len(dataset))] == [True] * sum(SIZES)


@pytest.mark.parametrize(
    "label_key, expected",
    [("", "cls"), ("label", "json"), ("class", "name")],
)
def test_labels_come_from_cls_or_a_json_field(labelled, label_key, expected):
    index = read_index(str(labelled / INDEX_NAME), "index")
    if expected == "name":  # class names, numbered by the index's classes
        index.classes = ["class0", "class1", "class2"]
        write_index(index, str(labelled / INDEX_NAME))
    config = _config(labelled, f"config.DATA.TRAIN.SEER_SHARDS.LABEL_KEY={label_key}")
    dataset = _dataset(config, labelled)
    labels = ShardLabels(dataset)  # as a seer_shards label source reads them
    read = []
    for i in range(len(dataset)):
        dataset[i]
        read.append(labels[i])
    assert read == [i % 3 for i in range(sum(SIZES))]


def test_a_sample_without_a_label_is_refused_naming_it(labelled):
    config = _config(labelled, "config.DATA.TRAIN.SEER_SHARDS.LABEL_KEY=caption")
    dataset = _dataset(config, labelled)
    ShardLabels(dataset)
    with pytest.raises(
        ConfigError,
        match=r"LABEL_KEY='caption': gives no label.*"
        r"00000\.tar, sample 0, key 000000000",
    ):
        dataset[0]
    # pretraining reads no labels: the same samples are read without a word
    unlabelled = _dataset(config, labelled)
    assert unlabelled[0][1] is True


def _shard_with(folder, samples):
    folder.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(folder / "00000.tar")) as writer:
        for sample in samples:
            writer.write(sample)
    return _index(folder)


def test_a_corrupt_image_and_a_sample_without_one_are_replaced(tmp_path, caplog):
    rng = np.random.default_rng(0)
    folder = tmp_path / "bad"
    _shard_with(
        folder,
        [
            {"__key__": "000000000", "jpg": jpeg(rng)},
            {"__key__": "000000001", "jpg": b"not a jpeg at all"},
            {"__key__": "000000002", "txt": "a caption, no image"},
            {"__key__": "000000003", "jpg": jpeg(rng)[:200]},  # cut short
            {"__key__": "000000004", "png": _png()},
        ],
    )
    dataset = _dataset(_config(folder), folder)
    results = [dataset[i] for i in range(5)]
    assert [ok for _, ok in results] == [True, False, False, False, True]
    assert all(image.mode == "RGB" for image, _ in results)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for key in ("000000001", "000000002", "000000003"):
        assert f"key {key}" in logged and "00000.tar" in logged


def _png():
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_truncated_tar_replaces_the_samples_it_lost(labelled, caplog):
    shard = labelled / "00000.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # mid-member
    dataset = _dataset(_config(labelled), labelled)
    oks = [dataset[i][1] for i in range(sum(SIZES))]
    lost = oks[: SIZES[0]].count(False)
    assert 0 < lost < SIZES[0] and oks[: SIZES[0] - lost] == [True] * (SIZES[0] - lost)
    assert all(oks[SIZES[0] :])  # the other shards are whole
    assert any("unreadable after" in r.getMessage() for r in caplog.records)
    # A labelled split has no label for them: refused, naming the shard.
    labelled_split = _dataset(_config(labelled), labelled)
    labelled_split.wants_labels = True
    with pytest.raises(ConfigError, match=r"00000\.tar'?: cannot be read from sample"):
        for i in range(SIZES[0]):
            labelled_split[i]


@pytest.mark.parametrize("change", [-1, +1])
def test_an_index_that_disagrees_with_a_shard_is_refused_naming_it(labelled, change):
    shards = expand_shards(str(labelled))
    counts = list(SIZES)
    counts[1] += change
    reader = ShardReader(shards, counts, keep=10)
    for position in range(min(SIZES[0], counts[0])):
        reader.sample(0, position)
    with pytest.raises(ShardCountError, match=r"00001\.tar.*its index says"):
        for position in range(counts[1]):
            reader.sample(1, position)


def test_preflight_refuses_missing_shards_and_failing_pipes(labelled, tmp_path):
    (labelled / "00001.tar").unlink()
    with pytest.raises(ConfigError, match=r"00001\.tar'?: no such shard"):
        check_shards(_config(labelled / "{00000..00002}.tar"))
    pattern = f"pipe:cat {tmp_path}/nowhere/{{00000..00001}}.tar"
    index = tmp_path / "pipe.json"
    write_index(
        read_index(str(labelled / INDEX_NAME), "i").__class__(
            shards=expand_shards(pattern), counts=[6, 4], path=str(index)
        ),
        str(index),
    )
    with pytest.raises(ConfigError, match=r"cannot be read \(its command exited"):
        check_shards(_config(pattern, f"config.DATA.TRAIN.SEER_SHARDS.INDEX={index}"))
    with pytest.raises(ConfigError, match=r"SEER_SHARDS.INDEX='': is needed"):
        check_shards(_config(pattern))
    with pytest.raises(ConfigError, match="is not in the shard index"):
        check_shards(_config(labelled / "{00000..00003}.tar"))


def test_seer_shards_packs_a_folder_then_indexes_img2dataset_shards(
    tmp_path, capsys, monkeypatch
):
    """`seer shards SRC OUT` writes shards, their index and class names, the same
    bytes twice; `seer shards index` counts shards written by webdataset's
    ShardWriter (img2dataset's keys, .jpg + .json + .txt), from img2dataset's
    stats where present."""
    rng = np.random.default_rng(1)
    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(5):
            (tmp_path / "images" / name / f"{i}.jpg").write_bytes(jpeg(rng))
    run = {"cwd": tmp_path, "capsys": capsys, "monkeypatch": monkeypatch}
    for out in ("a", "b"):
        status, said, _ = run_seer("shards", "images", out, "--per-shard", 3, **run)
        assert status == 0
    assert "10 images, 2 classes, 4 shards" in said
    for name in ("00000.tar", "00003.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (
            tmp_path / "b" / name
        ).read_bytes()
    index = read_index(str(tmp_path / "a" / INDEX_NAME), "index")
    assert index.counts == [3, 3, 3, 1] and index.classes == ["cat", "dog"]
    with tarfile.open(tmp_path / "a" / "00001.tar") as tar:
        names = tar.getnames()
    assert names[:3] == ["000000003.cls", "000000003.jpg", "000000003.json"]
    # Shuffled across shards (a folder lists one class after the other): both
    # classes among the first three samples, for this seed.
    with tarfile.open(tmp_path / "a" / "00000.tar") as tar:
        first = {
            json.loads(tar.extractfile(m).read())["class"]
            for m in tar
            if m.name.endswith(".json")
        }
    assert first == {"cat", "dog"}

    folder = tmp_path / "img2dataset"
    folder.mkdir()
    with wds.ShardWriter(str(folder / "%05d.tar"), maxcount=4, verbose=0) as sink:
        for key in range(10):
            sink.write(
                {
                    "__key__": f"{key:09d}",
                    "jpg": jpeg(rng),
                    "json": {"key": f"{key:09d}"},
                    "txt": "a caption",
                }
            )
    write_img2dataset_stats(str(folder / "00000.tar"), 4)
    status, said, _ = run_seer("shards", "index", folder / "{00000..00002}.tar", **run)
    assert status == 0
    assert "10 samples in 3 shards (1 counted by img2dataset's stats" in said
    written = json.loads((folder / INDEX_NAME).read_text())
    assert [s["samples"] for s in written["shards"]] == [4, 4, 2]
    status, _, said = run_seer("shards", "index", "pipe:cat x{0..1}.tar", **run)
    assert status == 2 and said.startswith("error: --out=")
    status, _, said = run_seer("shards", "images", "images/packed", **run)
    assert status == 2 and said.startswith("error: out='images/packed': is inside")


def test_a_refusal_from_a_data_loader_worker_is_one_line(monkeypatch, capsys):
    """A shard that disagrees with its index is found while training, in a data
    loader worker; torch re-raises it as a RuntimeError carrying the worker's
    traceback, and the launcher prints its one line, exit status 2."""
    from seer_plugins.apps import launcher

    line = (
        "config.DATA.TRAIN.DATA_PATHS='/d/00001.tar': holds 7 samples and its "
        "index says 8; rebuild the index with: seer shards index PATTERN|DIR"
    )
    worker = (
        "Caught ShardCountError in DataLoader worker process 0.\n"
        "Original Traceback (most recent call last):\n"
        '  File "shard_reader.py", line 1, in _next\n'
        f"seer_plugins.data.shard_reader.ShardCountError: {line}\n"
    )

    def fails(argv, restart=False):
        raise RuntimeError(worker)

    monkeypatch.setattr(launcher, "main", fails)
    assert launcher.cli(["config=pretrain/seer_tiny"]) == 2
    assert capsys.readouterr().err == f"error: {line}\n"
