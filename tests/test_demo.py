"""The demo end to end in quick mode (1 seed, 1 epoch per run), as `make demo` runs
it (a fresh process of tools/run_demo.py), on digits and on a generated folder of
12 classes; what `--data` accepts and refuses; `--pretrain-seed`; the held-out
evaluation (benchmarks/demo_heldout.py) that chooses the demo's recipe."""

import json

import pytest
from launch_helpers import REPO, run_script

import seer_plugins  # noqa: F401

# isort: split
from seer_plugins import cli
from seer_plugins.apps.demo import folder, heldout, pipeline
from seer_plugins.data.low_shot_split import make_low_shot_split, read_split_file
from seer_plugins.errors import ConfigError


@pytest.mark.slow
def test_quick_demo(tmp_path):
    out = tmp_path / "demo"
    rc, output = run_script(
        REPO / "tools" / "run_demo.py",
        ["--quick", "--pretrain-seed", "1", "--out", str(out)],
        cwd=tmp_path,
    )
    assert rc == 0, output[-4000:]
    assert "config.SEED_VALUE=1" in output  # the pretraining's overrides
    out = out / "quick"  # a smoke test's own folder: the full run never reuses it
    records = json.loads((out / "results.json").read_text())
    assert {tuple(sorted(r)) for r in records} == {
        (
            "init",
            "label_fraction",
            "labelled_fraction",
            "labelled_images",
            "pretrain_seed",
            "protocol",
            "seed",
            "top1",
            "train_images",
        )
    }
    # What "1%" and "10%" of the 1,438 training digits came to.
    sizes = {
        r["label_fraction"]: (r["labelled_images"], r["train_images"]) for r in records
    }
    assert sizes == {0.01: (14, 1438), 0.1: (143, 1438)}
    assert {r["pretrain_seed"] for r in records} == {1}
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
    timing = json.loads((out / "timing.json").read_text())
    assert timing["total_seconds"] > 0
    assert set(timing["stage_seconds"]) == {"pretrain", "benchmarks"}
    assert timing["settings"]["pretrain_seed"] == 1


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
    command = ["--data", str(data), "--quick", "--out", str(out)]
    out = out / "quick"
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

    # The same command again: nothing to do, the same table.
    rc, again = run_script(REPO / "tools" / "run_demo.py", command, cwd=tmp_path)
    assert rc == 0, again[-4000:]
    assert "pretraining: skipped" in again and "0 of 8 runs to do" in again
    assert json.loads((out / "results.json").read_text()) == records
    # Images deleted: split again; the runs made from the old images are refused,
    # naming the data, then redone with --rerun-changed, the old ones kept aside.
    for i in range(3):
        (data / "class_00" / f"{i}.png").unlink()
    links = sorted(p.name for p in (out / "data").rglob("*.png"))
    rc, refused = run_script(REPO / "tools" / "run_demo.py", command, cwd=tmp_path)
    assert rc == 2, refused[-4000:]
    (line,) = [x for x in refused.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: --data='{data}': changed since")
    assert "180 files" in line and "177 files" in line and "--rerun-changed" in line
    # Refused before anything was rewritten: the split the runs were made from.
    assert sorted(p.name for p in (out / "data").rglob("*.png")) == links
    rc, redone = run_script(
        REPO / "tools" / "run_demo.py", [*command, "--rerun-changed"], cwd=tmp_path
    )
    assert rc == 0, redone[-4000:]
    assert "split 142 train / 35 val" in redone  # class_00: 10 train, 2 val
    assert "8 of 8 runs to do" in redone
    assert len(list((out / "superseded").glob("*/pretrain"))) == 1
    assert len(list((out / "superseded").rglob("seed0"))) == 8
    assert len(json.loads((out / "results.json").read_text())) == 8


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
        ("val_has_more", "has class 'class_03' that the training folder"),
    ],
)
def test_unusable_folders_are_one_error_line(problem, expected, tmp_path, capsys):
    data = tmp_path / "data"
    if problem == "one_class":
        _class_folder(data, classes=1, per_class=3)
    elif problem == "val_has_more":
        _class_folder(data / "train", classes=3, per_class=2)
        _class_folder(data / "val", classes=4, per_class=2)
    status = cli.main(["demo", "--data", str(data), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: --data='{data}': {expected}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("inside", ["demo_out", "."])
def test_an_out_inside_the_data_is_refused(tmp_path, capsys, inside):
    data = _class_folder(tmp_path / "mine", classes=2, per_class=3)
    out = data / inside
    status = cli.main(["demo", "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: --out='{out.resolve()}': is inside")
    assert sorted(p.name for p in data.iterdir()) == ["class_00", "class_01"]


def test_pretrain_seed_is_the_pretrainings_seed_value(tmp_path):
    data = tmp_path / "data"
    _class_folder(data / "train", classes=3, per_class=4)
    overrides, seed = pipeline.pretrain_overrides(data, 64, None, seed=1)
    assert "config.SEED_VALUE=1" in overrides and seed == 1
    overrides, seed = pipeline.pretrain_overrides(data, 64, None)
    assert not any("SEED_VALUE" in o for o in overrides) and seed == 0  # the config's


def test_a_finished_pretraining_of_other_config_or_data_is_not_reused(tmp_path):
    """Reused when its fingerprint is this one's; refused, naming what changed,
    for another seed or other images."""
    from seer_plugins.config.compose import compose
    from seer_plugins.runs import run_folder
    from seer_plugins.runs.fingerprint import fingerprint

    data, out = tmp_path / "data", tmp_path / "out"
    _class_folder(data / "train", classes=3, per_class=4)
    seed0, _ = pipeline.pretrain_overrides(data, 64, None, seed=0)
    ckpt_dir = out / "pretrain"
    ckpt_dir.mkdir(parents=True)
    config = compose(pipeline.pretrain_run_overrides(out, data, None, seed0))
    run_folder.record_identity(ckpt_dir, "train", fingerprint(config, "train"))
    (ckpt_dir / "model_final_checkpoint_phase0.torch").touch()
    got = pipeline.pretrain(out, data, None, seed0)
    assert got == ckpt_dir / "model_final_checkpoint_phase0.torch"
    seed1, _ = pipeline.pretrain_overrides(data, 64, None, seed=1)
    with pytest.raises(ConfigError, match="SEED_VALUE: 0 -> 1.*--rerun-changed"):
        pipeline.pretrain(out, data, None, seed1)
    (data / "train" / "class_00" / "0.png").unlink()
    with pytest.raises(
        ConfigError, match="DATA_PATHS.0.: .*train: 12 files, .* -> 11 files"
    ):
        pipeline.pretrain(out, data, None, seed0)


def test_heldout_folder_holds_the_training_images_outside_the_split(tmp_path):
    train = _class_folder(tmp_path / "train", classes=3, per_class=10)
    split = tmp_path / "10percent.txt"
    make_low_shot_split(train, split, fraction=0.1, seed=0)
    in_split = set(read_split_file(split))
    count = heldout.heldout_folder(train, split, tmp_path / "heldout")
    links = sorted((tmp_path / "heldout").rglob("*.png"))
    assert count == len(links) == 30 - len(in_split) == 27
    assert not in_split & {p.name for p in links}
    assert all(p.resolve() == train / p.parent.name / p.name for p in links)
    # Rerun: the same folder, nothing added.
    assert heldout.heldout_folder(train, split, tmp_path / "heldout") == 27


def test_heldout_summary_is_mean_std_and_margin():
    records = [
        {"init": "seer", "top1": 96.0},
        {"init": "seer", "top1": 94.0},
        {"init": "random", "top1": 90.0},
        {"init": "random", "top1": 90.0},
    ]
    summary = heldout.summarize(records)
    assert summary["seer"] == {"mean": 95.0, "std": pytest.approx(2**0.5), "n": 2}
    assert summary["margin"] == 5.0
    assert "margin   +5.00" in heldout.format_summary(summary)


@pytest.mark.slow
def test_quick_heldout_evaluation(tmp_path):
    """1 pretraining epoch, 1 fine-tuning epoch, split seed 0: the runs test on
    the 1,295 training digits outside the 10% split, never on val."""
    out = tmp_path / "h"
    rc, output = run_script(
        REPO / "benchmarks" / "demo_heldout.py",
        ["--out", str(out), "--pretrain-epochs", "1", "--benchmark-epochs", "1"]
        + ["--seeds", "0", "--pretrain-seed", "2"],
        cwd=tmp_path,
    )
    assert rc == 0, output[-4000:]
    assert "split seed 0: 1295 held-out training images" in output
    results = json.loads((out / "heldout" / "results.json").read_text())
    assert {r["init"] for r in results["records"]} == {"seer", "random"}
    assert {r["pretrain_seed"] for r in results["records"]} == {2}
    assert set(results["summary"]) == {"seer", "random", "margin"}
    run = out / "heldout" / "finetune" / "seer" / "10percent" / "seed0"
    config = (run / "train_config.yaml").read_text()
    test_dir = out / "heldout" / "images_seed0"
    assert f"DATA_PATHS:\n    - {test_dir}\n" in config.split("TEST:")[1]


def test_a_folder_of_fewer_than_5_classes_is_benchmarked_on_top_1(tmp_path):
    """The benchmarks' top-5 meter needs 5 classes: the demo's benchmark runs on a
    4-class folder ask for top-1 only, and compose (the checks included)."""
    from seer_plugins.apps.demo.overrides import topk_overrides

    root = tmp_path / "data"
    _class_folder(root / "train", classes=4, per_class=4)
    _class_folder(root / "val", classes=4, per_class=2)
    assert topk_overrides(root) == ["config.METERS.accuracy_list_meter.topk_values=[1]"]
    sweeps = pipeline.plan_sweeps(tmp_path / "out", root, [], [0], None, 64)
    assert all(
        "config.METERS.accuracy_list_meter.topk_values=[1]" in s.overrides
        for s in sweeps.values()
    )
    five = tmp_path / "five"
    _class_folder(five / "train", classes=5, per_class=1)
    assert topk_overrides(five) == []


def test_a_bad_image_size_is_refused_before_anything_is_written(tmp_path, capsys):
    data = _class_folder(tmp_path / "data", classes=3, per_class=5)
    out = tmp_path / "out"
    status = cli.main(
        ["demo", "--data", str(data), "--out", str(out), "--image-size", "33"]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: --image-size=33: is not a multiple")
    assert not out.exists()


def test_intensity_reaches_pretraining_and_every_benchmark(tmp_path, capsys):
    from seer_plugins.apps.demo.overrides import reading_overrides

    root = tmp_path / "data"
    _class_folder(root / "train", classes=3, per_class=4)
    _class_folder(root / "val", classes=3, per_class=2)
    reading = reading_overrides("window:-1000:400")
    assert reading[0] == (
        "config.DATA.TRAIN.SEER_INTENSITY={mode: window, low: -1000, high: 400}"
    )
    overrides, _ = pipeline.pretrain_overrides(root, 64, None, extra=reading)
    sweeps = pipeline.plan_sweeps(
        tmp_path / "out", root, [], [0], None, 64, extra=reading
    )
    assert set(reading) <= set(overrides)
    assert all(set(reading) <= set(s.overrides) for s in sweeps.values())
    status = cli.main(["demo", "--intensity", "gamma", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: --intensity='gamma'")
    assert not (tmp_path / "o").exists()


def test_paths_the_demo_writes_into_overrides_read_back_as_given(tmp_path):
    """An --out with a comma, a space, a quote and non-ASCII: Hydra reads each
    path the demo and its sweeps place into overrides back unchanged."""
    from seer_plugins.apps.sweep import runs as runs_lib
    from seer_plugins.config.compose import compose

    out = tmp_path / "out_a,b it's ü"
    data = out / "data"
    _class_folder(data / "train", classes=3, per_class=4)
    pretraining = compose(pipeline.pretrain_run_overrides(out, data, None))
    assert pretraining.CHECKPOINT.DIR == str(out / "pretrain")
    assert pretraining.DATA.TRAIN.DATA_PATHS == [f"{data}/train"]
    checkpoint = out / "pretrain" / "model_final_checkpoint_phase0.torch"
    sweep = pipeline.plan_sweeps(out, data, [("seer", str(checkpoint))], [0], None)
    spec = sweep["linear"].runs[0]
    benchmark = compose(sweep["linear"].run_overrides(spec))
    assert benchmark.CHECKPOINT.DIR == spec.run_dir
    assert benchmark.MODEL.WEIGHTS_INIT.PARAMS_FILE == str(checkpoint)
    assert benchmark.DATA.TRAIN.LOW_SHOT_SPLIT_FILE.startswith(str(out))
    assert isinstance(spec.labels, runs_lib.Labels)
