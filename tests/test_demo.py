"""The demo end to end in quick mode (1 seed, 1 epoch per run), as `make demo` runs
it (a fresh process of tools/run_demo.py), on digits and on a generated folder of
12 classes; what `--data` accepts and refuses."""

import json

import pytest
from launch_helpers import REPO, run_script

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins import cli
from seer_plugins.apps.demo import folder


@pytest.mark.slow
def test_quick_demo(tmp_path):
    out = tmp_path / "demo"
    rc, output = run_script(
        REPO / "tools" / "run_demo.py", ["--quick", "--out", str(out)], cwd=tmp_path
    )
    assert rc == 0, output[-4000:]
    records = json.loads((out / "results.json").read_text())
    assert {tuple(sorted(r)) for r in records} == {
        ("init", "label_fraction", "protocol", "seed", "top1")
    }
    got = {(r["protocol"], r["label_fraction"], r["init"], r["seed"]) for r in records}
    assert got == {
        (protocol, fraction, init, 0)
        for protocol in ("linear", "finetune")
        for fraction in (0.01, 0.1)
        for init in ("seer", "random")
    }
    assert all(0.0 <= r["top1"] <= 100.0 for r in records)
    for name in ("pretrain_loss.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "timing.json").read_text())["total_seconds"] > 0


def _class_folder(root, classes=12, per_class=15, size=(64, 72)):
    """`root/<class>/<i>.png`: noise images tinted per class, 64x72 pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (*size, 3), dtype=np.uint8)
            pixels[:, :, c % 3] += np.uint8(15 * c)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_quick_demo_on_a_class_folder(tmp_path):
    """`--data DIR` with only class subfolders: a seeded stratified split, 12
    classes from the folder, 64x64 crops from the images, the same pipeline."""
    data = _class_folder(tmp_path / "my_images")
    out = tmp_path / "mine"
    rc, output = run_script(
        REPO / "tools" / "run_demo.py",
        ["--data", str(data), "--quick", "--out", str(out)],
        cwd=tmp_path,
    )
    assert rc == 0, output[-4000:]
    assert "12 classes, split 144 train / 36 val (20% of each class, seed 0)" in output
    assert "images: 64x64 crops" in output
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 8 and all(0.0 <= r["top1"] <= 100.0 for r in records)
    run = out / "finetune" / "seer" / "10percent" / "seed0"
    config = (run / "train_config.yaml").read_text()
    assert "NUM_CLASSES: 12" in config
    overrides = json.loads((run / "sweep_run.json").read_text())["overrides"]
    assert "config.DATA.TRAIN.TRANSFORMS.0.size=64" in overrides
    assert "config.DATA.TEST.TRANSFORMS.0.size=73" in overrides  # 64 * 256 / 224
    for name in ("pretrain_loss.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0, name
    # The pretraining run plots from its own logs.
    assert cli.main(["plot", str(out / "pretrain")]) == 0
    assert (out / "pretrain" / "training.png").stat().st_size > 0


def test_folder_with_train_and_val_is_used_as_it_is(tmp_path):
    root = tmp_path / "data"
    _class_folder(root / "train", classes=3, per_class=4)
    _class_folder(root / "val", classes=3, per_class=2)
    data, text = folder.prepare(root, tmp_path / "out" / "data")
    assert data == root and text.endswith("3 classes, 12 train / 6 val images")
    assert folder.image_size(root / "train") == 64


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path):
    source = _class_folder(tmp_path / "src", classes=3, per_class=6)
    first = folder.stratified_split(source, tmp_path / "a", seed=0)
    second = folder.stratified_split(source, tmp_path / "b", seed=0)
    listing = [
        sorted(p.name for p in (f / "val").rglob("*.png")) for f in (first, second)
    ]
    assert listing[0] == listing[1] and len(listing[0]) == 3  # round(0.2 * 6) each
    assert sorted(folder.class_images(first / "train")) == [
        "class_00",
        "class_01",
        "class_02",
    ]
    # The same call again keeps what is there.
    assert folder.stratified_split(source, tmp_path / "a", seed=0) == first


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("missing", "is not a folder"),
        ("one_class", "has 1 class subfolder(s), at least 2 needed"),
        ("val_differs", "train/ and val/ name different classes"),
    ],
)
def test_unusable_folders_are_one_error_line(problem, expected, tmp_path, capsys):
    data = tmp_path / "data"
    if problem == "one_class":
        _class_folder(data, classes=1, per_class=3)
    elif problem == "val_differs":
        _class_folder(data / "train", classes=3, per_class=2)
        _class_folder(data / "val", classes=2, per_class=2)
    status = cli.main(["demo", "--data", str(data), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: --data='{data}': {expected}")
    assert len(err.splitlines()) == 1


def test_a_folder_of_fewer_than_5_classes_is_benchmarked_on_top_1(tmp_path):
    """The benchmarks' top-5 meter needs 5 classes: the demo's benchmark runs on a
    4-class folder ask for top-1 only, and compose (the checks included)."""
    from seer_plugins.apps.demo import pipeline

    root = tmp_path / "data"
    _class_folder(root / "train", classes=4, per_class=4)
    _class_folder(root / "val", classes=4, per_class=2)
    assert pipeline.topk_overrides(root) == [
        "config.METERS.accuracy_list_meter.topk_values=[1]"
    ]
    sweeps = pipeline.plan_sweeps(tmp_path / "out", root, [], [0], None, 64)
    assert all(
        "config.METERS.accuracy_list_meter.topk_values=[1]" in s.overrides
        for s in sweeps.values()
    )
    five = tmp_path / "five"
    _class_folder(five / "train", classes=5, per_class=1)
    assert pipeline.topk_overrides(five) == []


def test_a_bad_image_size_is_refused_before_anything_is_written(tmp_path, capsys):
    data = _class_folder(tmp_path / "data", classes=3, per_class=5)
    out = tmp_path / "out"
    status = cli.main(
        ["demo", "--data", str(data), "--out", str(out), "--image-size", "33"]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: --image-size=33: is not a multiple")
    assert not out.exists()
