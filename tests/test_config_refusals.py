"""Bad configs are refused before iteration 0, each error naming the key and value.

One table: an override of `config=pretrain/seer_tiny`, the key the message must name,
and (optionally) another fragment it must contain (the value, or what is valid).
Checks at compose time run through `seer_plugins.compose`; facts about this machine's
files through the launcher's `preflight`.
"""

import re

import numpy as np
import pytest

from seer_plugins import cli, compose
from seer_plugins.checks.preflight import PreflightError, preflight
from seer_plugins.config.overrides import check_not_split

BASE = ["config=pretrain/seer_tiny"]

COMPOSE_CASES = [
    # unknown plugin names list the registered ones
    ("config.MODEL.TRUNK.NAME=seer_regnett", "MODEL.TRUNK.NAME", "seer_regnet"),
    (
        "config.MODEL.HEAD.PARAMS=[[seer_swav_haed,{}]]",
        "MODEL.HEAD.PARAMS[0][0]",
        "seer_swav_head",
    ),
    ("config.LOSS.name=seer_swav_los", "LOSS.name", "seer_swav_loss"),
    ("config.OPTIMIZER.name=seer_sdg", "OPTIMIZER.name", "seer_sgd"),
    (
        "config.TRAINER.TRAIN_STEP_NAME=seer_step",
        "TRAINER.TRAIN_STEP_NAME",
        "seer_train_step",
    ),
    (
        "config.TRAINER.TASK_NAME=seer_self_supervison_task",
        "TRAINER.TASK_NAME",
        "seer_self_supervision_task",
    ),
    (
        "config.DATA.TRAIN.DATA_SOURCES=[disk_foldr]",
        "DATA.TRAIN.DATA_SOURCES[0]",
        "disk_folder",
    ),
    (
        "config.DATA.TRAIN.COLLATE_FUNCTION=multicrop",
        "DATA.TRAIN.COLLATE_FUNCTION",
        "multicrop_collator",
    ),
    (
        "config.OPTIMIZER.param_schedulers.lr.name=cosin",
        "OPTIMIZER.param_schedulers.lr.name",
        "cosine",
    ),
    ("config.HOOKS.PLUGINS=[seer_progres_bar]", "HOOKS.PLUGINS", "seer_progress_bar"),
    # wrong types and ranges
    (
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=eight",
        "DATA.TRAIN.BATCHSIZE_PER_REPLICA",
        "'eight'",
    ),
    (
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=0",
        "DATA.TRAIN.BATCHSIZE_PER_REPLICA",
        "integer >= 1",
    ),
    (
        "config.DATA.TRAIN.BATCHSIZE_PER_REPLICA=true",
        "DATA.TRAIN.BATCHSIZE_PER_REPLICA",
        "True",
    ),
    ("config.OPTIMIZER.num_epochs=2.5", "OPTIMIZER.num_epochs", "2.5"),
    ("config.DATA.NUM_DATALOADER_WORKERS=-1", "DATA.NUM_DATALOADER_WORKERS", ">= 0"),
    ("config.OPTIMIZER.momentum=1.5", "OPTIMIZER.momentum", "[0, 1)"),
    (
        "config.OPTIMIZER.param_schedulers.lr.auto_lr_scaling.base_value=high",
        "auto_lr_scaling.base_value",
        "'high'",
    ),
    (
        "config.CHECKPOINT.CHECKPOINT_FREQUENCY=0",
        "CHECKPOINT.CHECKPOINT_FREQUENCY",
        ">= 1",
    ),
    ("config.DISTRIBUTED.NUM_PROC_PER_NODE=0", "DISTRIBUTED.NUM_PROC_PER_NODE", ">= 1"),
    ("config.LOSS.seer_swav_loss.epsilon=0", "LOSS.seer_swav_loss.epsilon", "> 0"),
    (
        "config.LOSS.seer_swav_loss.temperature=warm",
        "LOSS.seer_swav_loss.temperature",
        "'warm'",
    ),
    # model and loss consistency (checks/trunk_config.py, losses/swav_config.py)
    ("config.MODEL.TRUNK.SEER_REGNET.preset=regnety_1000gf", "preset", "regnety_256gf"),
    (
        "config.MODEL.HEAD.PARAMS=[[seer_swav_head,{dims:[100,64,32],num_clusters:[100]}]]",
        "MODEL.HEAD.PARAMS[0]",
        "dims[0]=100",
    ),
    ("config.LOSS.seer_swav_loss.crops_for_assign=[0,6]", "crops_for_assign", "[0, 6)"),
    (
        "config.LOSS.seer_swav_loss.queue.queue_length=5",
        "queue.queue_length=5",
        "multiple of 8",
    ),
]


def _case_id(case):
    return (
        case[0].split("=", 1)[0].removeprefix("config.")
        + "="
        + case[0].split("=", 1)[1][:20]
    )


@pytest.mark.parametrize(
    "override, key, hint", COMPOSE_CASES, ids=map(_case_id, COMPOSE_CASES)
)
def test_bad_config_is_refused_at_compose_time(override, key, hint):
    with pytest.raises(ValueError) as error:
        compose([*BASE, override])
    message = str(error.value)
    assert key in message, message
    assert hint in message, message


# A multistep LR schedule (benchmark/linear/digits: 30 epochs, values [0.1, 0.01]
# from epoch 20): (overrides, the key the message names, a fragment it holds).
SCHEDULE = "config.OPTIMIZER.param_schedulers.lr"
MULTISTEP_CASES = [
    ([f"{SCHEDULE}.milestones=[]"], "lr.milestones=[]", "needs 1 milestone for"),
    (
        [f"{SCHEDULE}.milestones=[5,10]"],
        "lr.milestones=[5, 10]",
        "needs 1 milestone for the 2 values",
    ),
    (
        [f"{SCHEDULE}.milestones=[10,5]", f"{SCHEDULE}.values=[0.1,0.01,0.001]"],
        "lr.milestones=[10, 5]",
        "must increase from above 0",
    ),
    ([f"{SCHEDULE}.milestones=[0]"], "lr.milestones=[0]", "must increase"),
    ([f"{SCHEDULE}.milestones=[ten]"], "lr.milestones=['ten']", "whole numbers"),
    (
        ["config.OPTIMIZER.num_epochs=20"],
        "OPTIMIZER.num_epochs=20",
        "train more than 20 epochs",
    ),
    # in epochs too when the LR changes every step (ClassyVision's num_updates)
    (
        ["config.OPTIMIZER.num_epochs=20", f"{SCHEDULE}.update_interval=step"],
        "OPTIMIZER.num_epochs=20",
        "train more than 20 epochs",
    ),
]


@pytest.mark.parametrize(
    "overrides, key, hint",
    MULTISTEP_CASES,
    ids=[" ".join(o.rsplit(".", 1)[-1] for o in c[0]) for c in MULTISTEP_CASES],
)
def test_a_multistep_schedule_that_cannot_run_is_refused(overrides, key, hint):
    """fvcore refused these only once training was built, after the process group
    had started; the milestones that fit pass."""
    with pytest.raises(ValueError) as error:
        compose(["config=benchmark/linear/digits", *overrides])
    message = str(error.value)
    assert key in message, message
    assert hint in message, message
    assert "\n" not in message


def test_a_multistep_schedule_that_fits_composes():
    config = compose(
        [
            "config=benchmark/linear/digits",
            "config.OPTIMIZER.num_epochs=1",
            f"{SCHEDULE}.milestones=[]",
            f"{SCHEDULE}.values=[0.1]",
        ]
    )
    assert list(config.OPTIMIZER.param_schedulers.lr.milestones) == []


def test_a_brace_pattern_the_shell_expanded_is_refused(capsys):
    """Unquoted, `DATA_PATHS=[/data/{00000..00002}.tar]` reaches `seer` as three
    words; Hydra would train on the last shard alone."""
    words = [f"config.DATA.TRAIN.DATA_PATHS=[/data/{i:05d}.tar]" for i in range(3)]
    assert cli.run("train", [*BASE, *words]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        "error: config.DATA.TRAIN.DATA_PATHS='[/data/00000.tar]': given 3 times in a "
        "row (the last =[/data/00002.tar]): a shell's expansion of an unquoted brace"
    ), line
    # the pattern rebuilt, in the quotes it needs
    assert line.endswith(
        """quote the whole override: 'config.DATA.TRAIN.DATA_PATHS=["/data/{00000..00002}.tar"]'"""
    ), line


@pytest.mark.parametrize(
    "words",
    [
        # a base command line, then a change: Hydra's last-wins
        ["config.DATA.TRAIN.DATA_PATHS=[/a]", "config.DATA.TRAIN.DATA_PATHS=[/b,/c]"],
        # the same key apart, or the same value twice
        ["config.SEED_VALUE=1", "config.OPTIMIZER.num_epochs=2", "config.SEED_VALUE=3"],
        ["config.SEED_VALUE=1", "config.SEED_VALUE=1"],
        # numbers: a change, not an expanded pattern
        ["config.OPTIMIZER.num_epochs=1", "config.OPTIMIZER.num_epochs=2"],
        # a command's own repeated option
        ["--labels=1%", "--labels=10%"],
    ],
)
def test_a_key_given_again_otherwise_is_left_to_hydra(words):
    check_not_split(words)


def _image_folder(root):
    """One class of 8 black images: one batch of seer_tiny's."""
    from PIL import Image

    (root / "class0").mkdir(parents=True)
    for i in range(8):
        Image.new("RGB", (8, 8)).save(root / "class0" / f"{i}.png")
    return root


def _preflight_cases(tmp_path):
    empty_folder = tmp_path / "empty"
    (empty_folder / "class0").mkdir(parents=True)
    empty_list = tmp_path / "empty.npy"
    np.save(empty_list, np.array([], dtype="<U10"))
    images = _image_folder(tmp_path / "images")
    # seer_tiny's DATA_LIMIT sizes its synthetic data: a 1-image folder needs -1.
    disk = "config.DATA.TRAIN.DATA_SOURCES=[disk_folder]"
    every_image = "config.DATA.TRAIN.DATA_LIMIT=-1"
    return {
        "missing folder": (
            [disk, f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path / 'nope'}]"],
            r"DATA.TRAIN.DATA_PATHS\[0\]=.*nope.* does not exist",
        ),
        "empty folder": (
            [disk, f"config.DATA.TRAIN.DATA_PATHS=[{empty_folder}]"],
            r"DATA.TRAIN.DATA_PATHS\[0\]=.*empty.* holds no images",
        ),
        "empty file list": (
            [
                "config.DATA.TRAIN.DATA_SOURCES=[disk_filelist]",
                f"config.DATA.TRAIN.DATA_PATHS=[{empty_list}]",
            ],
            r"DATA.TRAIN.DATA_PATHS\[0\]=.*empty.npy.* holds no images",
        ),
        "missing weights": (
            [
                disk,
                every_image,
                f"config.DATA.TRAIN.DATA_PATHS=[{images}]",
                f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={tmp_path / 'ckpt.torch'}",
            ],
            r"MODEL.WEIGHTS_INIT.PARAMS_FILE=.*ckpt.torch.* is not a file",
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing folder", "empty folder", "empty file list", "missing weights"]
)
def test_bad_paths_are_refused_by_preflight(tmp_path, case):
    overrides, pattern = _preflight_cases(tmp_path)[case]
    config = compose([*BASE, *overrides])
    with pytest.raises(PreflightError, match=pattern):
        preflight(config)


def test_good_paths_pass_preflight(tmp_path):
    images = _image_folder(tmp_path / "images")
    config = compose(
        [
            *BASE,
            "config.DATA.TRAIN.DATA_SOURCES=[disk_folder]",
            f"config.DATA.TRAIN.DATA_PATHS=[{images}]",
            "config.DATA.TRAIN.DATA_LIMIT=-1",
        ]
    )
    preflight(config)


def test_stock_configs_still_compose():
    # The checks must not refuse VISSL's own configs (torch loss names, collators).
    for name in (
        "test/cpu_test/test_cpu_regnet_simclr",
        "pretrain/swav/swav_8node_resnet",
    ):
        assert compose([f"config={name}"]).LOSS.name
    assert re.match(r"\w+", compose(["config=pretrain/seer_1b"]).OPTIMIZER.name)
