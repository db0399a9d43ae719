"""seer_regnet inside VISSL: composed configs, build_model, stock checkpoints, eval."""

import logging

import pytest
import torch

import seer_plugins  # first: its compat shims must run before VISSL is imported

# isort: split
from vissl.models import build_model
from vissl.utils.checkpoint import CheckpointLoader

from seer_plugins.models.group_padding import stores_padding

SIMCLR = "config=test/cpu_test/test_cpu_regnet_simclr"
# The stock CPU test config's RegNet, spelled out for seer_regnet.
SMALL = {"depth": 13, "w_0": 24, "w_a": 35.5, "w_m": 2.49, "group_width": 8}
FEATURES = ["conv1", "res2", "res3", "res4", "res5", "avgpool", "flatten"]

# The stock CPU config turns on apex LARC, which compose translates (with a warning).
pytestmark = pytest.mark.filterwarnings("ignore:OPTIMIZER.use_larc")


def _seer(*overrides):
    return [SIMCLR, "config.MODEL.TRUNK.NAME=seer_regnet", *overrides]


def _explicit(params):
    return [f"++config.MODEL.TRUNK.SEER_REGNET.{k}={v}" for k, v in params.items()]


def test_simclr_cpu_config_with_seer_regnet_trains_one_step():
    config = seer_plugins.compose(
        _seer(
            "++config.MODEL.TRUNK.SEER_REGNET.preset=regnety_tiny",
            "config.MODEL.HEAD.PARAMS=[[mlp,{dims:[128,128,64],use_relu:true}]]",
            "config.LOSS.simclr_info_nce_loss.buffer_params.embedding_dim=64",
        )
    )
    model = build_model(config.MODEL, config.OPTIMIZER)
    assert type(model.trunk).__name__ == "SeerRegNet"
    model.train()
    (embedding,) = model(torch.randn(4, 3, 32, 32))
    assert embedding.shape == (4, 64)
    embedding.square().mean().backward()
    assert all(p.grad is not None for p in model.trunk.parameters())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["++config.MODEL.TRUNK.SEER_REGNET.preset=regnety_tiny"],
            r"MODEL.HEAD.PARAMS\[0\]\[1\].dims\[0\]=368: head 'mlp' reads 368 "
            r"channels but the trunk \(config.MODEL.TRUNK.SEER_REGNET "
            r"preset='regnety_tiny'\) outputs 128; expected dims\[0\]=128",
        ),
        (
            ["++config.MODEL.TRUNK.SEER_REGNET.preset=regnety_1280"],
            r"preset='regnety_1280': is unknown; valid presets: regnety_32gf",
        ),
        (
            _explicit({**SMALL, "w_a": 0}),
            r"would be empty",
        ),
    ],
)
def test_compose_refuses_bad_trunk_config(overrides, message):
    with pytest.raises(ValueError, match=message):
        seer_plugins.compose(_seer(*overrides))


def test_stock_configs_are_untouched_by_the_check():
    config = seer_plugins.compose([SIMCLR])
    assert config.MODEL.TRUNK.NAME == "regnet"
    assert config.MODEL.TRUNK.SEER_REGNET.preset == ""


@pytest.fixture(scope="module")
def stock_checkpoint(tmp_path_factory):
    """A VISSL checkpoint of VISSL's own `regnet` trunk, as its checkpoint hook
    writes it, and the stock model."""
    config = seer_plugins.compose([SIMCLR])
    torch.manual_seed(0)
    stock = build_model(config.MODEL, config.OPTIMIZER).eval()
    # Non-trivial BN statistics, so that loading them is tested too.
    with torch.no_grad():
        for m in stock.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    path = tmp_path_factory.mktemp("stock") / "model_final_checkpoint_phase0.torch"
    torch.save(
        {"phase_idx": 0, "classy_state_dict": {"base_model": stock.get_classy_state()}},
        path,
    )
    return stock, str(path)


def _load_into(overrides, path, caplog):
    config = seer_plugins.compose(
        _seer(
            *_explicit(SMALL),
            f"config.MODEL.WEIGHTS_INIT.PARAMS_FILE={path}",
            "config.MODEL.WEIGHTS_INIT.STATE_DICT_KEY_NAME=classy_state_dict",
            *overrides,
        )
    )
    model = build_model(config.MODEL, config.OPTIMIZER)
    checkpoint = CheckpointLoader.load_and_broadcast_init_weights(
        checkpoint_path=path, device=torch.device("cpu")
    )
    with caplog.at_level(logging.INFO):
        model.init_model_from_weights_params_file(config, checkpoint)
    # VISSL's loader only logs: no trunk layer missing, no trunk key left over.
    assert "Not found:\t\ttrunk" not in caplog.text
    (extra,) = [r.message for r in caplog.records if r.message.startswith("Extra")]
    assert "trunk" not in extra
    return model.eval()


def test_stock_vissl_checkpoint_loads_with_identical_features(stock_checkpoint, caplog):
    stock, path = stock_checkpoint
    model = _load_into([], path, caplog)
    assert model.trunk.state_dict().keys() == stock.trunk.state_dict().keys()
    for (name, a), b in zip(
        stock.state_dict().items(), model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = stock.trunk(x, FEATURES)
        found = model.trunk(x, FEATURES)
    for name, a, b in zip(FEATURES, expected, found, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_stock_checkpoint_loads_into_padded_groups(stock_checkpoint, caplog):
    """WEIGHTS_INIT into a trunk whose groups are stored padded (8 -> 16): the
    published weights arrive (VISSL copies into state-dict tensors, which padded
    blocks return as copies) and the features are the stock model's."""
    stock, path = stock_checkpoint
    model = _load_into(
        ["++config.MODEL.TRUNK.SEER_REGNET.pad_group_width_to=16"], path, caplog
    )
    assert stores_padding(model.trunk)
    for (name, a), b in zip(
        stock.state_dict().items(), model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = stock.trunk(x, FEATURES)
        found = model.trunk(x, FEATURES)
    for name, a, b in zip(FEATURES, expected, found, strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_linear_evaluation_on_seer_regnet_features(stock_checkpoint, caplog):
    """VISSL's feature-extractor trunk + eval_mlp heads, weights loaded from stock."""
    stock, path = stock_checkpoint
    pool = (
        "[[res4,[AdaptiveAvgPool2d,[[1,1]]]],[res5,[AdaptiveAvgPool2d,[[1,1]]]],"
        "[avgpool,[Identity,[]]]]"
    )
    model = _load_into(
        [
            "config.MODEL.FEATURE_EVAL_SETTINGS.EVAL_MODE_ON=true",
            "config.MODEL.FEATURE_EVAL_SETTINGS.FREEZE_TRUNK_ONLY=true",
            f"config.MODEL.FEATURE_EVAL_SETTINGS.LINEAR_EVAL_FEAT_POOL_OPS_MAP={pool}",
            "config.MODEL.HEAD.PARAMS=[[eval_mlp,{in_channels:152,dims:[152,10]}],"
            "[eval_mlp,{in_channels:368,dims:[368,10]}],"
            "[eval_mlp,{in_channels:368,dims:[368,10]}]]",
        ],
        path,
        caplog,
    )
    assert type(model.trunk.base_model).__name__ == "SeerRegNet"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        scores = model(x)
        res4, res5 = stock.trunk(x, ["res4", "res5"])
        pooled = model.trunk(x, ["res4", "res5", "avgpool"])
    assert [tuple(s.shape) for s in scores] == [(2, 10)] * 3
    torch.testing.assert_close(pooled[0].flatten(1), res4.mean(dim=(2, 3)))
    torch.testing.assert_close(pooled[1].flatten(1), res5.mean(dim=(2, 3)))
