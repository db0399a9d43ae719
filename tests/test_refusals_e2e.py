"""Every input that used to train on the wrong thing or fail late, through the tools.

One table of cases, each run as a user runs it: the launcher (or a tool) in a fresh
process on CPU. A refusal must exit with status 2 before anything trains: one
`error:` line naming the key and the value, no traceback, no checkpoint written,
no "All Done". The data-source case must instead train on the folder it was given
(checked by the sampler's number of samples).
"""

import json
import os
from pathlib import Path

import pytest
import torch
from launch_helpers import LAUNCHER, REPO, run_script
from PIL import Image

pytestmark = [pytest.mark.slow]

TINY = ["config=pretrain/seer_tiny", "config.OPTIMIZER.num_epochs=1"]
SPLIT_TOOL = REPO / "tools" / "make_low_shot_split.py"
SWEEP_TOOL = REPO / "tools" / "sweep_benchmarks.py"


def _images(root: Path, classes=tuple("abcde"), per_class=6, size=32) -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = (40 * c, 8 * i, 100)
            Image.new("RGB", (size, size), colour).save(root / name / f"{name}{i}.png")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Folders and files the cases read (made once)."""
    root = tmp_path_factory.mktemp("refusal_data")
    train = _images(root / "train")
    val = _images(root / "val", per_class=2)
    other = _images(root / "other", classes=("x", "y", "z"))
    bad = root / "bad" / "things"
    bad.mkdir(parents=True)
    for i in range(16):
        (bad / f"img{i}.jpg").write_text("not an image")
    half_bad = _images(root / "half_bad", classes=("k",), per_class=8)
    for i in range(8):
        (half_bad / "k" / f"broken{i}.jpg").write_bytes(b"\x00" * 64)
    empty_class = _images(root / "empty_class")
    (empty_class / "f").mkdir()
    split = root / "split.txt"
    split.write_text("a0.png\nb0.png\nc0.png\nd0.png\ne0.png\n")
    split_partial = root / "split_partial.txt"
    split_partial.write_text("a0.png\nb1.png\n")
    split_other = root / "split_other.txt"
    split_other.write_text("x0.png\ny0.png\nz0.png\n")
    text_weights = root / "weights.txt"
    text_weights.write_text("these are not weights\n")
    wrong_keys = root / "wrong_keys.torch"
    trunk = {"foo.weight": torch.zeros(3), "bar.bias": torch.zeros(3)}
    torch.save(
        {"classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": {}}}}},
        wrong_keys,
    )
    timm_weights = root / "timm.pth"
    torch.save({"stem.conv.weight": torch.zeros(16, 3, 3, 3)}, timm_weights)
    torchvision_weights = root / "torchvision.pth"
    torch.save(
        {
            "stem.0.weight": torch.zeros(32, 3, 3, 3),
            "trunk_output.block1.block1-0.f.a.0.weight": torch.zeros(8, 32, 1, 1),
        },
        torchvision_weights,
    )
    return {
        "train": train,
        "val": val,
        "other": other,
        "bad": bad.parent,
        "half_bad": half_bad,
        "empty_class": empty_class,
        "split": split,
        "split_partial": split_partial,
        "split_other": split_other,
        "text_weights": text_weights,
        "wrong_keys": wrong_keys,
        "timm_weights": timm_weights,
        "torchvision_weights": torchvision_weights,
        "root": root,
    }


def _digits_benchmark(kind: str, d: dict, *extra: str) -> list[str]:
    return [
        f"config=benchmark/{kind}/digits",
        f"config.DATA.TRAIN.DATA_PATHS=[{d['train']}]",
        f"config.DATA.TEST.DATA_PATHS=[{d['val']}]",
        f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={d['wrong_keys']}",
        "config.OPTIMIZER.num_epochs=1",
        "config.OPTIMIZER.param_schedulers.lr.milestones=[]",
        "config.OPTIMIZER.param_schedulers.lr.values=[0.1]",
        *extra,
    ]


def _pretrain_on(folder, *extra: str) -> list[str]:
    return [
        *TINY,
        "config.DATA.TRAIN.DATA_SOURCES=[disk_folder]",
        f"config.DATA.TRAIN.DATA_PATHS=[{folder}]",
        "config.DATA.TRAIN.DATA_LIMIT=-1",
        *extra,
    ]


# name -> (overrides built from the data, key fragment, value fragment)
LAUNCHER_CASES = {
    "wrong-keys WEIGHTS_INIT, pretraining": (
        lambda d: [*TINY, f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={d['wrong_keys']}"],
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE",
        "only 0 of",
    ),
    "wrong-keys WEIGHTS_INIT, low-shot benchmark": (
        lambda d: _digits_benchmark(
            "low_shot", d, f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={d['split']}"
        ),
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE",
        "only 0 of",
    ),
    "text file as WEIGHTS_INIT": (
        lambda d: [*TINY, f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={d['text_weights']}"],
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE",
        "is not a torch checkpoint",
    ),
    "timm state dict as WEIGHTS_INIT": (
        lambda d: [*TINY, f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={d['timm_weights']}"],
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE",
        "seer convert",
    ),
    "misspelled key": (
        lambda d: [*TINY, "config.OPTIMIZER.weight_decy=0.1"],
        "config.OPTIMIZER.weight_decy",
        "did you mean config.OPTIMIZER.weight_decay",
    ),
    "misspelled key with ++": (
        lambda d: [*TINY, "++config.OPTIMIZER.weight_decy=0.1"],
        "config.OPTIMIZER.weight_decy",
        "did you mean config.OPTIMIZER.weight_decay",
    ),
    "misspelled key in a YAML file": (
        lambda d: [
            "config=mine/typo",
            f"hydra.searchpath=[file://{d['root'] / 'project'}]",
        ],
        "config.OPTIMIZER.weight_decy",
        "did you mean config.OPTIMIZER.weight_decay",
    ),
    "all images unreadable": (
        lambda d: _pretrain_on(d["bad"]),
        "config.DATA.TRAIN.DATA_PATHS[0]",
        "none of the 16 images tried could be read",
    ),
    "unreadable images above the budget": (
        lambda d: _pretrain_on(d["half_bad"]),
        "config.DATA.TRAIN.MAX_BAD_IMAGE_FRACTION",
        "unreadable",
    ),
    "LR milestones that do not fit the values": (
        lambda d: _digits_benchmark(
            "linear", d, "config.OPTIMIZER.param_schedulers.lr.values=[0.1,0.01]"
        ),
        "config.OPTIMIZER.param_schedulers.lr.milestones",
        "needs 1 milestone for the 2 values",
    ),
    "brace pattern expanded by the shell": (
        lambda d: [
            *TINY,
            *(f"config.DATA.TRAIN.DATA_PATHS=[/s/{i}.tar]" for i in "012"),
        ],
        "config.DATA.TRAIN.DATA_PATHS",
        "given 3 times in a row",
    ),
    "unknown preset": (
        lambda d: [*TINY, "config.MODEL.TRUNK.SEER_REGNET.preset=regnety_1000gf"],
        "config.MODEL.TRUNK.SEER_REGNET.preset",
        "'regnety_1000gf'",
    ),
    "head width vs seer_regnet": (
        lambda d: [
            *TINY,
            "config.MODEL.HEAD.PARAMS=[[seer_swav_head,{dims:[100,64,32],num_clusters:[100]}]]",
        ],
        "config.MODEL.HEAD.PARAMS[0][1].dims[0]",
        "=100",
    ),
    "head width vs VISSL's regnet": (
        lambda d: [
            *TINY,
            "config.MODEL.TRUNK.NAME=regnet",
            "++config.MODEL.TRUNK.REGNET={depth:6,w_0:16,w_a:20.0,w_m:2.0,group_width:8}",
            "config.MODEL.HEAD.PARAMS=[[seer_swav_head,{dims:[100,64,32],num_clusters:[100]}]]",
        ],
        "config.MODEL.HEAD.PARAMS[0][1].dims[0]",
        "outputs 128",
    ),
    "group override typo": (
        lambda d: [*TINY, "config/pretrain/seer/models=regnety_tinyy"],
        "config/pretrain/seer/models",
        "'regnety_tinyy'",
    ),
    "missing split file": (
        lambda d: _digits_benchmark(
            "low_shot",
            d,
            f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={d['root'] / 'no.txt'}",
        ),
        "config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE",
        "does not exist",
    ),
    "split file of another folder": (
        lambda d: _digits_benchmark(
            "low_shot", d, f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={d['split_other']}"
        ),
        "config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE",
        "split file for this folder",
    ),
    "split file leaving out a class": (
        lambda d: _digits_benchmark(
            "low_shot", d, f"config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE={d['split_partial']}"
        ),
        "config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE",
        "names no image of 3 of the 5 classes",
    ),
    "epochs below an LR milestone": (
        lambda d: [
            "config=benchmark/linear/digits",
            f"config.DATA.TRAIN.DATA_PATHS=[{d['train']}]",
            f"config.DATA.TEST.DATA_PATHS=[{d['val']}]",
            "config.OPTIMIZER.num_epochs=5",
        ],
        "config.OPTIMIZER.num_epochs",
        "=5",
    ),
    "DATA_LIMIT above the folder": (
        lambda d: _pretrain_on(d["train"], "config.DATA.TRAIN.DATA_LIMIT=100"),
        "config.DATA.TRAIN.DATA_LIMIT",
        "is above the 30 images",
    ),
    "batch above the folder": (
        lambda d: _pretrain_on(
            d["train"], "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=64"
        ),
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA",
        "is more than the 30 images each of the 1 process(es) gets",
    ),
    "top-5 meter with 3 classes": (
        lambda d: _digits_benchmark("linear", d, "config.DATA.NUM_CLASSES=3"),
        "config.METERS.accuracy_list_meter.topk_values",
        "[1, 5]",
    ),
    "top-5 meter on a 3-class folder": (
        lambda d: [
            "config=benchmark/linear/digits",
            f"config.DATA.TRAIN.DATA_PATHS=[{d['other']}]",
            f"config.DATA.TEST.DATA_PATHS=[{d['other']}]",
            "config.OPTIMIZER.num_epochs=1",
            "config.OPTIMIZER.param_schedulers.lr.milestones=[]",
            "config.OPTIMIZER.param_schedulers.lr.values=[0.1]",
        ],
        "config.METERS.accuracy_list_meter.topk_values",
        "top-5 needs at least 5 classes",
    ),
    "torchvision state dict as WEIGHTS_INIT": (
        lambda d: [
            *TINY,
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={d['torchvision_weights']}",
        ],
        "config.MODEL.WEIGHTS_INIT.PARAMS_FILE",
        "is a torchvision RegNet state dict",
    ),
    "more classes than the classifier": (
        lambda d: _digits_benchmark(
            "linear",
            d,
            "config.DATA.NUM_CLASSES=4",
            "config.METERS.accuracy_list_meter.topk_values=[1]",
        ),
        "config.DATA.NUM_CLASSES",
        "has 5 classes",
    ),
    "empty class folder": (
        lambda d: _pretrain_on(d["empty_class"]),
        "config.DATA.TRAIN.DATA_PATHS[0]",
        "class folder 'f' holds no images",
    ),
    "flat folder without classes": (
        lambda d: _pretrain_on(d["train"] / "a"),
        "config.DATA.TRAIN.DATA_PATHS[0]",
        "no class subfolders",
    ),
    "seer_1b on CPU without DATA_PATHS": (
        lambda d: ["config=pretrain/seer_1b", "+config/pretrain/seer/runtime=cpu"],
        "config.DATA.TRAIN.DATA_PATHS",
        "not in VISSL's dataset catalog",
    ),
}


@pytest.fixture(scope="module")
def project(data):
    """A user's config folder with a misspelled key in its YAML."""
    folder = data["root"] / "project" / "config" / "mine"
    folder.mkdir(parents=True)
    (folder / "typo.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - /config/pretrain/seer_tiny\n  - _self_\n"
        "config:\n  OPTIMIZER:\n    weight_decy: 0.1\n"
    )
    return folder


def _assert_refused(rc, output, key, fragment, checkpoint_dir=None):
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert rc == 2, output[-3000:]
    assert len(errors) == 1, output[-3000:]
    assert errors[0].startswith(f"error: {key}="), errors[0]
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in output, output[-3000:]
    assert "All Done" not in output
    if checkpoint_dir is not None and checkpoint_dir.exists():
        assert not list(checkpoint_dir.rglob("*.torch")), list(checkpoint_dir.iterdir())


@pytest.mark.parametrize("case", sorted(LAUNCHER_CASES))
def test_refused_before_training(case, data, project, tmp_path):
    make, key, fragment = LAUNCHER_CASES[case]
    checkpoint_dir = tmp_path / "checkpoints"
    overrides = [*make(data), f"config.CHECKPOINT.DIR={checkpoint_dir}"]
    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        rc, output = run_script(LAUNCHER, overrides, cwd=tmp_path, timeout=300)
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
    _assert_refused(rc, output, key, fragment, checkpoint_dir)
    if case == "seer_1b on CPU without DATA_PATHS":
        assert "Building model" not in output  # refused before the 1.3B model


def test_data_paths_on_a_synthetic_config_train_on_the_folder(data, tmp_path):
    """`seer_tiny` + DATA_PATHS trains on the folder's 30 images, not on noise."""
    checkpoint_dir = tmp_path / "checkpoints"
    rc, output = run_script(
        LAUNCHER,
        [
            *TINY,
            f"config.DATA.TRAIN.DATA_PATHS=[{data['train']}]",
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    assert rc == 0, output[-3000:]
    assert "'total_size': 30" in output, output[-3000:]
    config = (checkpoint_dir / "train_config.yaml").read_text()
    assert "disk_folder" in config and "synthetic" not in config.split("DATA:")[1][:800]


def test_stock_swav_loss_trains_with_seer_swav_head(tmp_path):
    checkpoint_dir = tmp_path / "checkpoints"
    rc, output = run_script(
        LAUNCHER,
        [
            *TINY,
            "config.LOSS.name=swav_loss",
            "config.LOSS.swav_loss.num_iters=3",
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
        ],
        cwd=tmp_path,
        timeout=300,
    )
    assert rc == 0, output[-3000:]
    assert (checkpoint_dir / "model_final_checkpoint_phase0.torch").is_file()


# tool -> (arguments built from the data, key fragment, value fragment)
TOOL_CASES = {
    "split: fraction out of range": (
        SPLIT_TOOL,
        lambda d: [str(d["train"]), "--fraction", "5"],
        "--fraction",
        "5.0",
    ),
    "split: missing source": (
        SPLIT_TOOL,
        lambda d: [str(d["root"] / "nowhere"), "--fraction", "0.1"],
        "source",
        "nowhere",
    ),
    "split: no number": (
        SPLIT_TOOL,
        lambda d: [str(d["train"]), "--fraction", "lots"],
        "--fraction",
        "invalid float value",
    ),
    "sweep: checkpoint missing": (
        SWEEP_TOOL,
        lambda d: [
            "--config=benchmark/linear/digits",
            f"--checkpoint=a={d['root'] / 'nope.torch'}",
            f"--out={d['root'] / 'sweep_missing'}",
        ],
        "--checkpoint",
        "nope.torch",
    ),
    "sweep: collect an empty folder": (
        SWEEP_TOOL,
        lambda d: ["--collect", f"--out={d['root'] / 'no_sweep'}"],
        "--out",
        "holds no recorded runs",
    ),
}


@pytest.mark.parametrize("case", sorted(TOOL_CASES))
def test_tools_refuse_in_one_line(case, data, tmp_path):
    tool, make, key, fragment = TOOL_CASES[case]
    rc, output = run_script(tool, make(data), cwd=tmp_path, timeout=300)
    _assert_refused(rc, output, key, fragment)


def test_a_sweep_with_changed_overrides_is_refused_then_rerun(data, tmp_path):
    """A recorded run made with num_epochs=25 is not reported as one of 30."""
    from seer_plugins.apps.sweep import runs as runs_lib
    from seer_plugins.apps.sweep.sweep import Sweep
    from seer_plugins.config.compose import compose
    from seer_plugins.runs import run_folder
    from seer_plugins.runs.fingerprint import fingerprint

    out = tmp_path / "sweep"
    checkpoint = data["wrong_keys"]
    common = [
        f"config.DATA.TRAIN.DATA_PATHS=[{data['train']}]",
        f"config.DATA.TEST.DATA_PATHS=[{data['val']}]",
    ]
    argv = [
        "--config=benchmark/linear/digits",
        f"--checkpoint=a={checkpoint}",
        f"--out={out}",
        "--",
        *common,
    ]
    # The recorded run: finished, with other overrides (25 epochs).
    spec = runs_lib.plan_runs(
        out, [("a", str(checkpoint))], [runs_lib.Labels("all")], [0]
    )[0]
    old = Sweep(
        "benchmark/linear/digits",
        [spec],
        out,
        [*common, "config.OPTIMIZER.num_epochs=25"],
    )
    runs_lib.record_run(spec, old.run_overrides(spec))
    # What the launcher recorded of it: the fingerprint of its config and inputs.
    run_folder.record_identity(
        spec.run_dir, "train", fingerprint(compose(old.run_overrides(spec)))
    )
    run_dir = Path(spec.run_dir)
    (run_dir / "model_final_checkpoint_phase1.torch").write_bytes(b"")
    test = {"top_1": {"0": 11.0}, "top_5": {"0": 50.0}}
    (run_dir / "metrics.json").write_text(
        json.dumps({"train_phase_idx": 1, "test_accuracy_list_meter": test}) + "\n"
    )
    rc, output = run_script(SWEEP_TOOL, argv, cwd=tmp_path, timeout=300)
    _assert_refused(rc, output, "--out", "OPTIMIZER.num_epochs: 25 -> 30")
    assert "--rerun-changed" in output and "skipped" not in output
    # --collect --out alone rebuilds the tables from disk, the recorded run in them.
    rc, output = run_script(SWEEP_TOOL, ["--collect", f"--out={out}"], cwd=tmp_path)
    assert rc == 0, output
    # Recorded before sizes were: its `labelled` cell is blank.
    assert "| a | all |  | 0 | finished | 11.00 |" in (out / "results.md").read_text()


def test_a_sweep_whose_checkpoint_link_points_elsewhere_is_refused(data, tmp_path):
    """`checkpoint.torch` relinked to other weights (a newer checkpoint): the
    recorded finished row is not skipped as if made from them."""
    from seer_plugins.apps.sweep import runs as runs_lib
    from seer_plugins.apps.sweep.sweep import Sweep
    from seer_plugins.config.compose import compose
    from seer_plugins.runs import run_folder
    from seer_plugins.runs.fingerprint import fingerprint

    out, link = tmp_path / "sweep", tmp_path / "checkpoint.torch"
    link.symlink_to(data["wrong_keys"])
    common = [
        f"config.DATA.TRAIN.DATA_PATHS=[{data['train']}]",
        f"config.DATA.TEST.DATA_PATHS=[{data['val']}]",
    ]
    spec = runs_lib.plan_runs(out, [("a", str(link))], [runs_lib.Labels("all")], [0])[0]
    sweep = Sweep("benchmark/linear/digits", [spec], out, common)
    runs_lib.record_run(spec, sweep.run_overrides(spec))
    run_folder.record_identity(
        spec.run_dir, "train", fingerprint(compose(sweep.run_overrides(spec)))
    )
    (Path(spec.run_dir) / "model_final_checkpoint_phase29.torch").write_bytes(b"")
    link.unlink()
    link.symlink_to(data["timm_weights"])
    argv = [
        "--config=benchmark/linear/digits",
        f"--checkpoint=a={link}",
        f"--out={out}",
    ]
    rc, output = run_script(SWEEP_TOOL, [*argv, "--", *common], cwd=tmp_path)
    _assert_refused(rc, output, "--out", "MODEL.WEIGHTS_INIT.PARAMS_FILE: ")
    assert "wrong_keys.torch" in output and "timm.pth" in output
