"""File lists (seer_plugins.data.file_lists): `.txt` (one path a line, or
path<TAB>label), `.csv` (path,label) and `.npy` lists work as `disk_filelist` data
and labels; any other file is refused at preflight, in one line."""

import numpy as np
import pytest
from launch_helpers import pretrain_tiny
from PIL import Image
from vissl.data import build_dataset

from seer_plugins import compose
from seer_plugins.checks.data_files import check_data
from seer_plugins.data.file_lists import read_entries
from seer_plugins.data.low_shot_split import read_file_list
from seer_plugins.errors import ConfigError


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """8 images, 4 per class, in class folders; returns their paths by class."""
    root = tmp_path_factory.mktemp("listed")
    rng = np.random.default_rng(0)
    paths = {}
    for name in ("cat", "dog"):
        (root / name).mkdir()
        paths[name] = []
        for i in range(4):
            path = root / name / f"{i}.png"
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                path
            )
            paths[name].append(str(path))
    return paths


def test_the_list_formats_read_alike(tmp_path, images):
    cat, dog = images["cat"][0], images["dog"][0]
    txt = tmp_path / "a.txt"
    txt.write_text(f"# my images\n{cat}\n\n{dog}\tdog\n")
    csv = tmp_path / "a.csv"
    csv.write_text(f"path,label\n{cat},cat\n{dog}\n")
    assert read_entries(txt) == [(cat, None), (dog, "dog")]
    assert read_entries(csv) == [(cat, "cat"), (dog, None)]
    # seer split's labels: the list's, else the image's folder.
    assert [i.label for i in read_file_list(csv)] == ["cat", "dog"]


def _listed(tmp_path, images, suffix: str, labels: bool):
    rows = [(p, name) for name, paths in images.items() for p in paths]
    path = tmp_path / f"images{suffix}"
    separator = "," if suffix == ".csv" else "\t"
    path.write_text(
        "".join(f"{p}{separator}{name}\n" if labels else f"{p}\n" for p, name in rows)
    )
    return path


@pytest.mark.parametrize("suffix", [".txt", ".csv"])
def test_a_text_list_is_data_and_labels_of_disk_filelist(tmp_path, images, suffix):
    listed = _listed(tmp_path, images, suffix, labels=True)
    config = compose(
        [
            "config=benchmark/linear/digits",
            *(
                f"config.DATA.{split}.{key}=[{value}]"
                for split in ("TRAIN", "TEST")
                for key, value in (
                    ("DATA_SOURCES", "disk_filelist"),
                    ("LABEL_SOURCES", "disk_filelist"),
                    ("DATA_PATHS", listed),
                    ("LABEL_PATHS", listed),
                )
            ),
            "config.DATA.NUM_CLASSES=2",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
        ]
    )
    check_data(config)
    dataset = build_dataset(config, "TRAIN")
    dataset.load_labels()
    assert list(np.asarray(dataset.label_objs[0]).ravel()) == [0] * 4 + [1] * 4
    sample = dataset[5]
    assert sample["data_valid"] == [1] and sample["label"] == [1]


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("DATA_PATHS=[{folder}/images.json]", "DATA_PATHS[0]="),
        ("LABEL_PATHS=[{folder}/labels.lst]", "LABEL_PATHS[0]="),
    ],
)
def test_other_files_are_refused_at_preflight(tmp_path, images, override, fragment):
    listed = _listed(tmp_path, images, ".txt", labels=False)
    (tmp_path / "images.json").write_text("[]")
    (tmp_path / "labels.lst").write_text("cat\n")
    overrides = [
        "config=pretrain/seer_tiny",
        "config.DATA.TRAIN.DATA_SOURCES=[disk_filelist]",
        f"config.DATA.TRAIN.DATA_PATHS=[{listed}]",
        "config.DATA.TRAIN.LABEL_SOURCES=[disk_filelist]",
        f"config.DATA.TRAIN.LABEL_PATHS=[{listed}]",
        "config.DATA.TRAIN.DATA_LIMIT=-1",
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
        f"config.DATA.TRAIN.{override.format(folder=tmp_path)}",
    ]
    with pytest.raises(ConfigError) as error:
        check_data(compose(overrides))
    message = str(error.value)
    assert fragment in message and "is not a file list this data source reads" in (
        message
    )


@pytest.mark.slow
def test_pretraining_reads_a_txt_list(tmp_path, images):
    """The issue's case: the preflight passed, then VISSL failed after building the
    model: `Reading from .txt is not supported yet`."""
    listed = _listed(tmp_path, images, ".txt", labels=False)
    rc, output = pretrain_tiny(
        tmp_path,
        [
            "config.DATA.TRAIN.DATA_SOURCES=[disk_filelist]",
            f"config.DATA.TRAIN.DATA_PATHS=[{listed}]",
            "config.DATA.TRAIN.DATA_LIMIT=-1",
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
            "config.OPTIMIZER.num_epochs=1",
        ],
    )
    assert rc == 0, output[-3000:]
    assert list((tmp_path / "run").glob("model_final_checkpoint_phase*.torch"))


def test_a_folder_label_source_follows_a_list_and_counts_are_checked(tmp_path, images):
    """demo_digits reads labels from a folder (LABEL_SOURCES [disk_folder]); given a
    list, VISSL asserted the two sources equal, after the model was built."""
    listed = _listed(tmp_path, images, ".txt", labels=False)  # labels: folder names
    pretraining = [
        "config=pretrain/demo_digits",
        "config.DATA.TRAIN.DATA_SOURCES=[disk_filelist]",
        f"config.DATA.TRAIN.DATA_PATHS=[{listed}]",
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
    ]
    # SwAV's labels are the samples' numbers (LABEL_TYPE sample_index): no label
    # list is read (it would be the image list again, ~500 bytes an image).
    config = compose(pretraining)
    assert config.DATA.TRAIN.LABEL_TYPE == "sample_index"
    assert config.DATA.TRAIN.LABEL_SOURCES == []
    check_data(config)
    overrides = [*pretraining, "config.DATA.TRAIN.LABEL_TYPE=standard"]
    config = compose(overrides)
    assert config.DATA.TRAIN.LABEL_SOURCES == ["disk_filelist"]
    assert config.DATA.TRAIN.LABEL_PATHS == [str(listed)]
    check_data(config)
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array(["cat"] * 3))
    with pytest.raises(ConfigError, match="has 3 labels for the 8 images of"):
        check_data(compose([*overrides, f"config.DATA.TRAIN.LABEL_PATHS=[{labels}]"]))


def _csv(path, rows, header="path,label"):
    path.write_text("".join(f"{line}\n" for line in [header, *rows]))
    return path


def test_a_benchmark_trains_on_a_list_and_tests_on_a_folder(tmp_path, images):
    """The training list numbers the classes (its names: cat, dog), its count sizes
    the classifier, and a val folder without 'cat' is numbered by it."""
    train = _csv(
        tmp_path / "train.csv",
        [f"{p},{name}" for name, paths in images.items() for p in paths],
        header="filename,class",  # a header of other names is one too
    )
    val = tmp_path / "val"
    (val / "dog").mkdir(parents=True)
    Image.open(images["dog"][0]).save(val / "dog" / "d.png")
    overrides = [
        "config=benchmark/knn/digits",
        "config.DATA.TRAIN.DATA_SOURCES=[disk_filelist]",
        f"config.DATA.TRAIN.DATA_PATHS=[{train}]",
        f"config.DATA.TEST.DATA_PATHS=[{val}]",
        "config.METERS.accuracy_list_meter.topk_values=[1]",
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=4",
    ]
    config = compose(overrides)
    # torchvision_dataset (seer_low_shot's labels) asked the list for get_labels().
    assert config.DATA.TRAIN.LABEL_SOURCES == ["disk_filelist"]
    assert config.DATA.NUM_CLASSES == 2  # the list's classes, not 10
    check_data(config)
    for split, expected in (("TRAIN", [0] * 4 + [1] * 4), ("TEST", [1])):
        dataset = build_dataset(config, split)
        dataset.load_labels()
        assert list(np.asarray(dataset.label_objs[0]).ravel()) == expected, split
    # A low-shot split file is read by seer_low_shot only: not silently ignored.
    split_file = tmp_path / "split.txt"
    split_file.write_text("0.png\n")
    with pytest.raises(ConfigError, match="reads no split file"):
        check_data(
            compose(
                [*overrides, f"++config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={split_file}"]
            )
        )
