"""seer_train_step: fp16/bf16 through torch.autocast on CPU, with the SwAV loss and
LARC; and the YAML switch `MODEL.AMP_PARAMS.SEER_AMP_DTYPE`."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seer_plugins import compose
from seer_plugins.losses import SeerSwAVCriterion, SeerSwAVLoss
from seer_plugins.optimizers.larc import LARCSGD
from seer_plugins.optimizers.seer_sgd import SeerSGD
from seer_plugins.trainer.amp import grad_scaler
from seer_plugins.trainer.train_step import seer_train_step

# isort: split
from vissl.trainer.train_steps import register_train_step


@register_train_step("test_amp_custom_step")
def _custom_train_step(task):
    """A registered train step other than ours: autocast must refuse to pair with it."""
    raise AssertionError("never run")


NUM_CROPS, BATCH, DIM, K = 2, 8, 16, 12
LARC = {"clip": False, "trust_coefficient": 0.001, "eps": 1e-8}


class TinySwAV(nn.Module):
    """Trunk + projection + prototypes: `[embedding, scores]` as a SwAV head gives."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, DIM))
        self.prototypes = nn.Linear(DIM, K, bias=False)

    def forward(self, x):
        z = F.normalize(self.trunk(x), dim=1)
        return [z, self.prototypes(z)]


def _loss():
    criterion = SeerSwAVCriterion(
        num_crops=NUM_CROPS,
        crops_for_assign=[0, 1],
        num_prototypes=[K],
        embedding_dim=DIM,
    )
    return SeerSwAVLoss(criterion)


def _task(model, dtype_name, batch):
    optimizer = SeerSGD(
        lr=0.5, momentum=0.9, weight_decay=1e-4, use_larc=True, larc_config=LARC
    )
    optimizer.set_param_groups(list(model.parameters()))
    return SimpleNamespace(
        config={
            "MODEL": {"AMP_PARAMS": {"SEER_AMP_DTYPE": dtype_name}},
            "METERS": {"enable_training_meter": False},
        },
        perf_stats=None,
        data_iterator=iter(
            [
                {
                    "data": [batch],
                    "label": [torch.zeros(len(batch))],
                    "data_valid": [None],
                }
            ]
        ),
        data_and_label_keys={"input": ["data"], "target": ["label"]},
        enable_manual_gradient_reduction=False,
        model=model,
        loss=_loss(),
        losses=[],
        meters=[],
        train=True,
        device=torch.device("cpu"),
        where=0.0,
        num_updates=0,
        optimizer=optimizer,
        run_hooks=lambda name: None,
        get_global_batchsize=lambda: BATCH,
    )


@pytest.mark.parametrize(
    "dtype_name, dtype", [("bf16", torch.bfloat16), ("float16", torch.float16)]
)
def test_one_step_equals_autocast_forward_and_larc_by_hand(dtype_name, dtype):
    torch.manual_seed(0)
    model = TinySwAV()
    reference = copy.deepcopy(model)
    batch = torch.randn(NUM_CROPS * BATCH, 32)

    task = seer_train_step(_task(model, dtype_name, batch))
    assert task.last_batch.loss.dtype == torch.float32
    assert torch.isfinite(task.last_batch.loss)
    assert (
        task.last_batch.model_output[1].dtype == dtype
    )  # the head ran in low precision

    # By hand: autocast forward + loss, plain backward, LARC SGD. With fp16 the
    # gradient scaler multiplies by a power of two and divides it out again: exact.
    with torch.autocast("cpu", dtype=dtype):
        loss = _loss()(reference(batch), None)
    loss.backward()
    LARCSGD(
        reference.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4, **LARC
    ).step()
    torch.testing.assert_close(task.last_batch.loss, loss.detach())
    for (name, ours), theirs in zip(
        model.named_parameters(), reference.parameters(), strict=True
    ):
        torch.testing.assert_close(ours, theirs, msg=name)


def test_fp16_keeps_a_gradient_scaler_on_the_task():
    model = TinySwAV()
    task = seer_train_step(_task(model, "fp16", torch.randn(NUM_CROPS * BATCH, 32)))
    assert isinstance(grad_scaler(task), torch.amp.GradScaler)


BASE = ["config=test/integration_test/quick_swav", "config.LOSS.name=seer_swav_loss"]


def test_yaml_switch_selects_our_train_step():
    config = compose(
        [
            *BASE,
            "++config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=bf16",
            "config.MODEL.AMP_PARAMS.USE_AMP=False",
        ]
    )
    assert config.TRAINER.TRAIN_STEP_NAME == "seer_train_step"
    config = compose(BASE)
    assert config.TRAINER.TRAIN_STEP_NAME == "standard_train_step"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["++config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=half"],
            r"'half': is unknown; valid: \['', 'bf16'",
        ),
        (
            [
                "++config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=bf16",
                "config.MODEL.AMP_PARAMS.USE_AMP=True",
            ],
            "USE_AMP=True both ask",
        ),
        (
            [
                "++config.MODEL.AMP_PARAMS.SEER_AMP_DTYPE=bf16",
                "config.MODEL.AMP_PARAMS.USE_AMP=False",
                "config.TRAINER.TRAIN_STEP_NAME=test_amp_custom_step",
            ],
            "TRAIN_STEP_NAME='test_amp_custom_step': cannot run .*"
            "set it to 'seer_train_step'",
        ),
    ],
)
def test_yaml_switch_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        compose([*BASE, *overrides])
