"""The pretraining family: every config composes, builds, and carries the recipe."""

from pathlib import Path

import pytest
import torch
from launch_helpers import REPO
from vissl.models import build_model

import seer_plugins
from seer_plugins.checks.preflight import (
    PreflightError,
    check_data_paths,
    check_devices,
)

PRETRAIN = REPO / "configs" / "pretrain"
ENTRY_CONFIGS = sorted(p.stem for p in PRETRAIN.glob("*.yaml"))

# Trunk parameters per config (docs/recipes.md, exact counts pinned in the trunk tests).
TRUNK_PARAMS_M = {
    "seer_32gf": 141.3,
    "seer_64gf": 276.5,
    "seer_128gf": 637.4,
    "seer_1b": 1272.2,
    "seer_10b": 9323.9,
}


def _compose(name, *overrides):
    return seer_plugins.compose([f"config=pretrain/{name}", *overrides])


def test_family_is_complete():
    assert {"seer_1b", "seer_10b", "seer_tiny", "demo_digits"} | set(
        TRUNK_PARAMS_M
    ) <= set(ENTRY_CONFIGS)


@pytest.mark.parametrize("name", ENTRY_CONFIGS)
def test_entry_config_composes(name):
    config = _compose(name)
    assert config.LOSS.name == "seer_swav_loss"
    assert config.MODEL.TRUNK.NAME == "seer_regnet"


@pytest.mark.parametrize("name", sorted(TRUNK_PARAMS_M))
def test_big_models_build_on_meta_with_spec_trunk_size(name):
    config = _compose(name)
    with torch.device("meta"):
        model = build_model(config.MODEL, config.OPTIMIZER)
    trunk = sum(p.numel() for p in model.trunk.parameters())
    assert trunk / 1e6 == pytest.approx(TRUNK_PARAMS_M[name], abs=0.05)
    # the head's input is the trunk's output width
    assert model.heads[0].embedding_dim == 256


@pytest.mark.parametrize("name", ["seer_tiny", "demo_digits"])
def test_small_models_build_and_run(name):
    config = _compose(name)
    model = build_model(config.MODEL, config.OPTIMIZER)
    outputs = model(torch.randn(2, 3, 32, 32))
    embedding, scores = outputs[0]
    assert embedding.shape == (2, config.LOSS.seer_swav_loss.embedding_dim)
    assert scores.shape[1] == config.LOSS.seer_swav_loss.num_prototypes[0]


def test_seer_1b_carries_the_recipe():
    config = _compose("seer_1b")
    trunk, head = config.MODEL.TRUNK, config.MODEL.HEAD.PARAMS[0]
    assert trunk.SEER_REGNET.preset == "regnety_256gf"
    assert head[0] == "seer_swav_head"
    assert head[1]["dims"] == [10444, 8192, 8192, 256]
    assert head[1]["num_clusters"] == [16000]
    assert head[1]["use_bn"] is False
    swav = config.LOSS.seer_swav_loss
    assert (swav.temperature, swav.epsilon, swav.num_iters) == (0.1, 0.05, 10)
    assert swav.crops_for_assign == [0, 1]
    assert swav.queue.queue_length == 0
    assert swav.freeze_prototypes_iters == 313
    crops = config.DATA.TRAIN.TRANSFORMS[0]
    assert crops["name"] == "ImgPilToMultiCrop"
    assert (crops["size_crops"], crops["num_crops"]) == ([224, 96], [2, 4])
    assert crops["crop_scales"] == [[0.14, 1], [0.05, 0.14]]
    names = [t["name"] for t in config.DATA.TRAIN.TRANSFORMS]
    assert {
        "RandomHorizontalFlip",
        "ImgPilColorDistortion",
        "ImgPilGaussianBlur",
    } <= set(names)
    assert config.DATA.TRAIN.TRANSFORMS[2]["strength"] == 1.0
    assert config.DATA.TRAIN.TRANSFORMS[3]["p"] == 0.5
    optimizer = config.OPTIMIZER
    assert optimizer.name == "seer_sgd" and optimizer.seer_larc is True
    assert optimizer.larc_config == {
        "clip": False,
        "trust_coefficient": 0.001,
        "eps": 1e-08,
    }
    assert (optimizer.weight_decay, optimizer.momentum) == (1e-05, 0.9)
    lr = optimizer.param_schedulers.lr
    assert lr.auto_lr_scaling.base_value == 0.3
    assert lr.auto_lr_scaling.base_lr_batch_size == 256
    # 16 images x 512 GPUs = 8192: 9.6 peak, warm-up kept, cosine to 1/1000.
    warmup, cosine = lr.schedulers
    assert (warmup["name"], warmup["end_value"]) == ("linear", pytest.approx(9.6))
    assert cosine["name"] == "cosine"
    assert cosine["end_value"] == pytest.approx(9.6 / 1000)
    assert lr.lengths[0] == pytest.approx(8000 / 122_000, abs=0.001)
    assert config.DATA.TRAIN.BATCHSIZE_PER_REPLICA == 16
    assert config.DISTRIBUTED.NUM_NODES * config.DISTRIBUTED.NUM_PROC_PER_NODE == 512
    assert config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE == "float16"
    assert config.MODEL.SYNC_BN_CONFIG.GROUP_SIZE == 64
    assert config.MODEL.ACTIVATION_CHECKPOINTING.USE_ACTIVATION_CHECKPOINTING


@pytest.mark.parametrize("name", ["seer_1b", "seer_10b", "seer_tiny", "demo_digits"])
def test_pretraining_resumes_exactly(name):
    """The family runs the task and sampler that tests/test_exact_resume.py tests."""
    config = _compose(name)
    assert config.TRAINER.TASK_NAME == "seer_self_supervision_task"
    assert config.DATA.TRAIN.USE_STATEFUL_DISTRIBUTED_SAMPLER is True
    assert config.CHECKPOINT.AUTO_RESUME is True


def test_demo_digits_views_differ_in_grey_levels():
    """The demo's two SwAV views of a digit differ in brightness/contrast, not only
    in crop: with crops alone its features stayed at pixel level (demo_digits.yaml).
    At SwAV's epsilon of 0.05 this distortion collapsed SwAV; the demo runs 0.03."""
    from PIL import Image
    from vissl.data.ssl_transforms import get_transform

    config = _compose("demo_digits")
    swav = config.LOSS.seer_swav_loss
    assert (swav.num_iters, swav.epsilon) == (10, 0.03)
    transform = get_transform(config.DATA.TRAIN.TRANSFORMS)
    # a flat grey image: any difference between the views is the grey-level jitter
    flat = Image.new("RGB", (32, 32), (128, 128, 128))
    torch.manual_seed(0)
    means = {
        round(view.mean().item(), 4)
        for _ in range(8)
        for view in transform(
            {"data": [flat], "label": [0], "data_valid": [1], "data_idx": [0]}
        )["data"]
    }
    assert len(means) > 1


def test_seer_10b_differences():
    config = _compose("seer_10b")
    assert config.LOSS.seer_swav_loss.epsilon == 0.03
    assert config.DATA.TRAIN.TRANSFORMS[0]["size_crops"] == [160, 96]
    assert config.MODEL.HEAD.PARAMS[0][1]["dims"][0] == 28280
    peak = config.OPTIMIZER.param_schedulers.lr.schedulers[0]["end_value"]
    assert peak == pytest.approx(9.3, abs=0.01)
    # Sharded by default (FSDP2), SEER-1.3B with one override.
    assert config.MODEL.SEER_FSDP.ENABLED
    assert not _compose("seer_1b").MODEL.SEER_FSDP.ENABLED
    assert _compose(
        "seer_1b", "config.MODEL.SEER_FSDP.ENABLED=True"
    ).MODEL.SEER_FSDP.ENABLED


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without GPUs")
def test_seer_1b_without_gpu_names_the_cpu_override():
    with pytest.raises(PreflightError, match=r"\+config/pretrain/seer/runtime=cpu"):
        check_devices(_compose("seer_1b"))
    # ... and that override is enough for the device check.
    check_devices(_compose("seer_1b", "+config/pretrain/seer/runtime=cpu"))


def test_missing_data_path_fails_before_launch(tmp_path):
    config = _compose(
        "demo_digits", f"config.DATA.TRAIN.DATA_PATHS=[{tmp_path / 'nope'}]"
    )
    with pytest.raises(PreflightError, match=r"config.DATA.TRAIN.DATA_PATHS\[0\]"):
        check_data_paths(config)


def test_one_gpu_override_scales_the_learning_rate():
    config = _compose(
        "seer_1b",
        "config.DISTRIBUTED.NUM_NODES=1",
        "config.DISTRIBUTED.NUM_PROC_PER_NODE=1",
    )
    # 16 images: 0.3 * 16 / 256; VISSL drops the warm-up below the base batch.
    schedulers = config.OPTIMIZER.param_schedulers.lr.schedulers
    assert schedulers[-1]["start_value"] == pytest.approx(0.01875)


@pytest.mark.slow
def test_seer_tiny_trains_through_the_launcher(run_launcher, tmp_path):
    checkpoint_dir = tmp_path / "checkpoints"
    output = run_launcher(
        [
            "config=pretrain/seer_tiny",
            f"config.CHECKPOINT.DIR={checkpoint_dir}",
            "config.OPTIMIZER.num_epochs=1",
            "config.DATA.TRAIN.DATA_LIMIT=40",
        ]
    )
    assert "loss:" in output
    assert sorted(Path(checkpoint_dir).glob("model_final_checkpoint_*.torch"))
