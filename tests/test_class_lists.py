"""One class list per benchmark (seer_plugins.data.class_lists): a val folder is
numbered by the training folder's classes, so a val missing a class scores right;
a val class that train lacks is refused before anything runs."""

import numpy as np
import pytest
from launch_helpers import LAUNCHER, knn_results, knn_top1, run_script
from PIL import Image
from vissl.data import build_dataset

from seer_plugins import compose
from seer_plugins.checks.data_files import check_data
from seer_plugins.errors import ConfigError

COLOURS = {
    "apple": (220, 30, 30),
    "banana": (230, 220, 40),
    "cherry": (60, 20, 160),
    "durian": (40, 160, 60),
}


def _fruit(root, split: str, names, count: int) -> None:
    rng = np.random.default_rng(len(names))
    for name in names:
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(count):
            noise = rng.integers(-20, 20, (32, 32, 3))
            pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}{i}.png")


@pytest.fixture(scope="module")
def fruit(tmp_path_factory):
    """train: apple, banana, cherry; val: banana, cherry (no apple)."""
    root = tmp_path_factory.mktemp("fruit")
    _fruit(root, "train", ["apple", "banana", "cherry"], 8)
    _fruit(root, "val", ["banana", "cherry"], 4)
    return root


def _overrides(root, val=None, source="disk_folder"):
    """The linear benchmark reads seer_low_shot (torchvision_dataset labels) for
    training and disk_folder for testing; `source` for both here."""
    labels = "disk_folder" if source == "disk_folder" else "torchvision_dataset"
    return [
        "config=benchmark/linear/digits",
        f"config.DATA.TRAIN.DATA_PATHS=[{root}/train]",
        f"config.DATA.TEST.DATA_PATHS=[{val or root / 'val'}]",
        "config.METERS.accuracy_list_meter.topk_values=[1]",
        *(
            f"config.DATA.{split}.{key}=[{value}]"
            for split in ("TRAIN", "TEST")
            for key, value in (("DATA_SOURCES", source), ("LABEL_SOURCES", labels))
        ),
    ]


def _labels(config, split: str) -> dict[str, int]:
    dataset = build_dataset(config, split)
    dataset.load_labels()
    paths = dataset.get_image_paths()[0]
    labels = np.asarray(dataset.label_objs[0]).ravel()
    return {str(p).split("/")[-2]: int(y) for p, y in zip(paths, labels, strict=True)}


@pytest.mark.parametrize("source", ["disk_folder", "seer_low_shot"])
def test_a_val_without_a_class_is_numbered_by_trains_classes(fruit, source):
    config = compose(_overrides(fruit, source=source))
    assert _labels(config, "TRAIN") == {"apple": 0, "banana": 1, "cherry": 2}
    # VISSL's own numbering of val alone would give banana 0, cherry 1.
    assert _labels(config, "TEST") == {"banana": 1, "cherry": 2}


def test_a_val_class_train_lacks_is_refused_naming_both_folders(fruit, tmp_path):
    _fruit(tmp_path, "val", ["banana", "cherry"], 2)
    (tmp_path / "val" / "durian").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "val" / "durian" / "d.png")
    with pytest.raises(ConfigError) as error:
        check_data(compose(_overrides(fruit, val=str(tmp_path / "val"))))
    message = str(error.value)
    assert message.startswith(f"config.DATA.TEST.DATA_PATHS[0]='{tmp_path}/val'")
    assert f"has class 'durian' that the training folder {fruit}/train lacks" in (
        message
    )


@pytest.mark.slow
def test_knn_scores_a_val_without_a_class_right(fruit, tmp_path):
    """The issue's case: the linear benchmark, k-NN and the sweep scored 0.00."""
    top1 = knn_top1(fruit / "train", fruit / "val", tmp_path, k=3)
    assert top1 == 100.0  # VISSL's own numbering of val: 0.00


@pytest.mark.slow
def test_knn_with_k_above_the_labelled_images_says_so(fruit, tmp_path):
    results, output = knn_results(fruit / "train", fruit / "val", tmp_path, k=30)
    assert (results["k_asked"], results["k"]) == (30, 24)  # 3 classes x 8 images
    assert "k=24 used, every training image votes" in output


@pytest.mark.slow
def test_the_launcher_refuses_a_val_class_train_lacks(fruit, tmp_path):
    _fruit(tmp_path, "val", ["banana", "cherry"], 2)
    (tmp_path / "val" / "durian").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "val" / "durian" / "d.png")
    rc, output = run_script(
        LAUNCHER,
        [
            *_overrides(fruit, val=str(tmp_path / "val")),
            f"config.CHECKPOINT.DIR={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    assert rc == 2, output[-2000:]
    assert (
        output.strip()
        .splitlines()[-1]
        .startswith("error: config.DATA.TEST.DATA_PATHS[0]=")
    )
    assert "'durian'" in output and not (tmp_path / "run").exists()


def test_a_file_lists_string_labels_are_numbered_by_trains(fruit, tmp_path):
    lists = {}
    for split in ("train", "val"):
        images = sorted((fruit / split).rglob("*.png"))
        np.save(tmp_path / f"{split}.npy", np.array([str(p) for p in images]))
        np.save(
            tmp_path / f"{split}_labels.npy", np.array([p.parent.name for p in images])
        )
        lists[split] = (tmp_path / f"{split}.npy", tmp_path / f"{split}_labels.npy")
    config = compose(
        [
            *_overrides(fruit),
            *(
                f"config.DATA.{split}.{key}=[{path}]"
                for split, (images, labels) in zip(
                    ("TRAIN", "TEST"), lists.values(), strict=True
                )
                for key, path in (
                    ("DATA_SOURCES", "disk_filelist"),
                    ("LABEL_SOURCES", "disk_filelist"),
                    ("DATA_PATHS", images),
                    ("LABEL_PATHS", labels),
                )
            ),
        ]
    )
    assert _labels(config, "TRAIN") == {"apple": 0, "banana": 1, "cherry": 2}
    assert _labels(config, "TEST") == {"banana": 1, "cherry": 2}
    np.save(lists["val"][1], np.array(["durian"] * 8))
    for reader in (check_data, lambda c: _labels(c, "TEST")):  # preflight, loader
        with pytest.raises(ConfigError, match="class 'durian' that the training label"):
            reader(config)


def test_a_val_label_list_is_numbered_by_the_training_folders_classes(fruit, tmp_path):
    val = sorted((fruit / "val").rglob("*.png"))
    listed = tmp_path / "val.csv"
    listed.write_text("".join(f"{p},{p.parent.name}\n" for p in val))
    config = compose(
        [
            *_overrides(fruit),
            "config.DATA.TEST.DATA_SOURCES=[disk_filelist]",
            "config.DATA.TEST.LABEL_SOURCES=[disk_filelist]",
            f"config.DATA.TEST.DATA_PATHS=[{listed}]",
            f"config.DATA.TEST.LABEL_PATHS=[{listed}]",
        ]
    )
    check_data(config)
    assert _labels(config, "TEST") == {"banana": 1, "cherry": 2}


def test_a_sweep_refuses_a_val_class_train_lacks(fruit, tmp_path, capsys):
    from seer_plugins import cli
    from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint

    _fruit(tmp_path, "val", ["banana", "durian"], 2)
    init = write_init_checkpoint(["config=pretrain/demo_digits"], tmp_path / "i.torch")
    overrides = _overrides(fruit, val=tmp_path / "val")
    argv = ["sweep", "--config=benchmark/linear/digits", f"--checkpoint=r={init}"]
    argv += [f"--out={tmp_path / 'out'}", "--", *overrides[1:]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: config.DATA.TEST.DATA_PATHS[0]=") and "'durian'" in err
    )
