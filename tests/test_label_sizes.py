"""Fractions that are what they say (seer_plugins.apps.sweep.label_sizes): the
tables give how many images a label subset covers; rows that label the same images,
or a part that labels every image, are refused by the sweep and merged by the demo;
the demo's val split says its true share."""

import numpy as np
import pytest
from PIL import Image

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins import cli
from seer_plugins.apps.demo import folder
from seer_plugins.apps.sweep import runs as runs_lib
from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint
from seer_plugins.apps.sweep.sweep import Sweep


def _images(root, classes: int, per_class: int):
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"c{c}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    folder = tmp_path_factory.mktemp("init")
    return write_init_checkpoint(["config=pretrain/demo_digits"], folder / "i.torch")


def _sweep(tmp_path, init, train, labels, merge=False) -> Sweep:
    _images(tmp_path / "val", 2, 2)
    return Sweep(
        config="benchmark/linear/digits",
        runs=runs_lib.plan_runs(
            tmp_path / "out",
            [("random", str(init))],
            [runs_lib.parse_labels(spec) for spec in labels],
            [0],
        ),
        out_dir=tmp_path / "out",
        overrides=[
            f"config.DATA.TRAIN.DATA_PATHS=[{train}]",
            f"config.DATA.TEST.DATA_PATHS=[{tmp_path / 'val'}]",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
            "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=2",
        ],
        merge_labels=merge,
    )


def test_the_tables_say_what_1_and_10_percent_of_48_images_are(tmp_path, init):
    train = _images(tmp_path / "train", 3, 16)
    sweep = _sweep(tmp_path, init, train, ["1%", "10%", "all"])
    sweep.check_inputs()
    sweep.write_tables()
    text = (tmp_path / "out" / "results.md").read_text()
    for name, labelled in (
        ("1percent", "3 of 48 (6.25%)"),  # one per class
        ("10percent", "4 of 48 (8.33%)"),
        ("all", "48 of 48 (100%)"),
    ):
        assert f"| random | {name} | {labelled} | 0 | new |" in text, text


@pytest.mark.parametrize(
    "labels, fragment",
    [
        (["1%", "10%"], "--labels='10percent': labels the same 3 of 3 images"),
        (["1%"], "--labels='1percent': labels every image of"),
    ],
)
def test_rows_that_are_not_what_they_say_are_refused(
    tmp_path, init, capsys, labels, fragment
):
    train = _images(tmp_path / "train", 3, 1)  # one training image per class
    argv = ["sweep", "--config=benchmark/linear/digits", f"--checkpoint=r={init}"]
    argv += [f"--labels={spec}" for spec in labels]
    argv += [
        f"--out={tmp_path / 'out'}",
        "--",
        f"config.DATA.TRAIN.DATA_PATHS=[{train}]",
        f"config.DATA.TEST.DATA_PATHS=[{_images(tmp_path / 'val', 2, 1)}]",
        "config.METERS.accuracy_list_meter.topk_values=[1]",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {fragment}") and len(err.splitlines()) == 1, err
    assert not any((tmp_path / "out").glob("r/*/seed0/*.torch"))  # nothing ran


def test_the_demo_merges_them_saying_so(tmp_path, init, capsys):
    train = _images(tmp_path / "train", 3, 1)
    sweep = _sweep(tmp_path, init, train, ["1%", "10%"], merge=True)
    sweep.check_inputs()
    # 3 of 3 is nearer 10% than 1%: the row keeps the nearer name.
    assert [spec.labels.name for spec in sweep.runs] == ["10percent"]
    out = capsys.readouterr().out
    assert "labels 1percent: the same 3 of 3 (100%) images as 10percent" in out
    assert "labels 10percent: every image of" in out


def test_the_demo_says_its_val_splits_true_share(tmp_path):
    source = _images(tmp_path / "src", 4, 2)  # 20% of 2 is one image: half
    _, text = folder.prepare(source, tmp_path / "out" / "data")
    assert "split 4 train / 4 val (50% of the images: 20% of each class" in text
