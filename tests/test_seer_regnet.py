"""seer_regnet trunk: architecture table, features, memory options, config errors."""

import time

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from vissl.config import AttrDict

from seer_plugins.models.regnet_params import PRESETS, resolve_params, stage_specs
from seer_plugins.models.seer_regnet import (
    SeerRegNet,
    TrunkOptions,
    build_trunk,
    resolve_options,
)

FEATURES = ["conv1", "res2", "res3", "res4", "res5", "avgpool", "flatten"]

# preset: stage depths, stage widths, group widths, trunk params (exact), docs/recipes.md
# (millions; None: given there as ~9.3B).
ARCHITECTURES = {
    "regnety_32gf": ([2, 5, 12, 1], [232, 696, 1392, 3712], 232, 141_333_770, 141.3),
    "regnety_64gf": ([2, 5, 12, 1], [328, 984, 1968, 4920], 328, 276_457_786, 276.5),
    "regnety_128gf": ([2, 7, 17, 1], [528, 1056, 2904, 7392], 264, 637_419_894, 637.4),
    "regnety_256gf": (
        [2, 7, 17, 1],
        [746, 1492, 4103, 10444],
        373,
        1_272_156_138,
        1272.2,
    ),
    "regnety_10b": (
        [2, 7, 17, 1],
        [2020, 4040, 11110, 28280],
        1010,
        9_323_934_872,
        None,
    ),
    "regnety_tiny": ([1, 1, 2, 2], [16, 32, 64, 128], 8, 135_632, None),
    "regnety_small": ([1, 1, 4, 7], [24, 56, 152, 368], 8, 2_793_996, None),
}


def test_every_preset_is_pinned():
    assert set(ARCHITECTURES) == set(PRESETS)


@pytest.mark.parametrize("preset", list(ARCHITECTURES))
def test_preset_architecture(preset):
    depths, widths, group_width, n_params, spec_millions = ARCHITECTURES[preset]
    stages = stage_specs(PRESETS[preset])
    assert [s.depth for s in stages] == depths
    assert [s.width for s in stages] == widths
    assert {s.group_width for s in stages} == {group_width}
    start = time.perf_counter()
    with torch.device("meta"):
        trunk = build_trunk(PRESETS[preset])
    assert time.perf_counter() - start < 10
    assert all(p.is_meta for p in trunk.parameters())
    assert sum(p.numel() for p in trunk.parameters()) == n_params
    if spec_millions is not None:
        assert round(n_params / 1e6, 1) == spec_millions
    assert trunk.out_width == widths[-1]


def test_seer_10b_is_about_9_3_billion():
    assert round(ARCHITECTURES["regnety_10b"][3] / 1e9, 1) == 9.3


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_trunk(PRESETS["regnety_tiny"]).eval()


def test_features_have_vissl_names_and_shapes(tiny):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = tiny(x, FEATURES)
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [
        (2, 16, 32, 32),
        (2, 16, 16, 16),
        (2, 32, 8, 8),
        (2, 64, 4, 4),
        (2, 128, 2, 2),
        (2, 128, 1, 1),
        (2, 128),
    ]
    assert tiny.feature_names == FEATURES
    torch.testing.assert_close(feats[-1], feats[4].mean(dim=(2, 3)))


def test_out_feat_keys_order_duplicates_and_default(tiny):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        res5, res3, res5_again = tiny(x, ["res5", "res3", "res5"])
        (flatten,) = tiny(x)
    assert res3.shape[1] == 32 and res5.shape[1] == 128
    assert res5_again is res5
    assert flatten.shape == (2, 128)
    with pytest.raises(ValueError, match="Feature with name res6 does not exist"):
        tiny(x, ["res6"])


def _train_step(trunk, x):
    x = x.clone().requires_grad_(True)
    out = trunk(x, ["res3", "flatten"])
    (out[0].square().mean() + out[1].square().mean()).backward()
    return out, x.grad


@pytest.mark.parametrize("segments", [1, 2])
def test_activation_checkpointing_changes_nothing(segments):
    torch.manual_seed(0)
    plain = build_trunk(PRESETS["regnety_tiny"]).train()
    options = TrunkOptions(
        checkpoint_stages=("res2", "res3", "res4", "res5"),
        checkpoint_segments=segments,
    )
    ckpt = build_trunk(PRESETS["regnety_tiny"], options).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 32, 32)
    out_plain, grad_plain = _train_step(plain, x)
    out_ckpt, grad_ckpt = _train_step(ckpt, x)
    for a, b in zip(out_plain, out_ckpt, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(grad_plain, grad_ckpt, rtol=0, atol=0)
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=name)
    # BN running statistics are updated once per forward, not again on recompute.
    buffers = zip(plain.state_dict().items(), ckpt.state_dict().values(), strict=True)
    for (name, a), b in buffers:
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def _multi_crop_step(trunk, batches, together: bool):
    """Features and input gradients of two resolutions, in one trunk call or two."""
    batches = [b.clone().requires_grad_(True) for b in batches]
    keys = ["res3", "flatten"]
    if together:
        outs = trunk(batches, keys)
    else:
        outs = [trunk(b, keys) for b in batches]
    sum(o.square().mean() for out in outs for o in out).backward()
    return outs, [b.grad for b in batches]


@pytest.mark.parametrize(
    "options",
    [
        TrunkOptions(),
        TrunkOptions(checkpoint_stages=("res3", "res4"), checkpoint_segments=2),
        TrunkOptions(pad_group_width_to=8),
    ],
    ids=["plain", "checkpointed", "padded"],
)
def test_all_resolutions_in_one_call_are_the_separate_calls_bit_for_bit(options):
    """A list of crop batches (VISSL's multi-crop forward, one call) runs block by
    block and layer by layer; features, gradients and BN statistics are exactly
    those of one call per resolution (float64, training mode)."""
    torch.manual_seed(0)
    one = build_trunk(PRESETS["regnety_tiny"], options).double().train()
    two = build_trunk(PRESETS["regnety_tiny"], options).double().train()
    two.load_state_dict(one.state_dict())
    batches = [torch.randn(4, 3, 32, 32).double(), torch.randn(8, 3, 16, 16).double()]
    outs_one, grads_one = _multi_crop_step(one, batches, together=True)
    outs_two, grads_two = _multi_crop_step(two, batches, together=False)
    for out_one, out_two in zip(outs_one, outs_two, strict=True):
        for a, b in zip(out_one, out_two, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(grads_one, grads_two, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for (name, p), q in zip(one.named_parameters(), two.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=name)
    buffers = zip(one.state_dict().items(), two.state_dict().values(), strict=True)
    for (name, a), b in buffers:
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_vissl_checkpointing_switch_checkpoints_every_stage():
    model_config = AttrDict(
        {
            "TRUNK": {"SEER_REGNET": {"activation_checkpointing": {"segments": 2}}},
            "ACTIVATION_CHECKPOINTING": {"USE_ACTIVATION_CHECKPOINTING": True},
        }
    )
    options = resolve_options(model_config)
    assert options.checkpoint_stages == ("res2", "res3", "res4", "res5")
    assert options.checkpoint_segments == 2


def test_channels_last_same_features(tiny):
    fast = build_trunk(PRESETS["regnety_tiny"], TrunkOptions(channels_last=True))
    fast.load_state_dict(tiny.state_dict())
    fast.eval()
    assert (
        fast._feature_blocks["res2"][0]
        .f.b[0]
        .weight.is_contiguous(memory_format=torch.channels_last)
    )
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(tiny(x, FEATURES), fast(x, FEATURES), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


TINY = {"depth": 6, "w_0": 16, "w_a": 20.0, "w_m": 2.0, "group_width": 8}


@pytest.mark.parametrize(
    "trunk_config, message",
    [
        (
            {"preset": "regnety_1b"},
            r"SEER_REGNET.preset='regnety_1b': is unknown; valid presets: "
            r"regnety_32gf, .*regnety_tiny",
        ),
        (
            {"preset": "regnety_tiny", "depth": 6},
            r"preset='regnety_tiny': and explicit \['depth'\] are both set",
        ),
        ({"depth": 6, "w_0": 16}, r"missing: \['w_a', 'w_m', 'group_width'\]"),
        ({**TINY, "w_0": 0}, r"SEER_REGNET.w_0=0: is invalid; expected a value > 0"),
        ({**TINY, "w_0": 20}, r"w_0=20: is invalid; expected a multiple of 8"),
        ({**TINY, "group_width": -8}, r"group_width=-8: is invalid; expected .*> 0"),
        ({**TINY, "stem_width": 0}, r"stem_width=0: is invalid"),
        ({**TINY, "depth": 0}, r"depth=0: is invalid"),
        ({**TINY, "w_m": 1.0}, r"w_m=1.0: is invalid; expected w_m > 1"),
        ({**TINY, "w_a": -1.0}, r"w_a=-1.0: is invalid; expected w_a >= 0"),
        (
            {**TINY, "depth": 3},
            r"block widths \[16, 32, 64\]: 3 stage\(s\), so stages \['res5'\] would "
            r"be empty",
        ),
        (
            {**TINY, "w_a": 0.0},
            r"stages \['res3', 'res4', 'res5'\] would be empty",
        ),
    ],
)
def test_bad_architecture_is_refused(trunk_config, message):
    with pytest.raises(ValueError, match=message):
        resolve_params(trunk_config)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"activation_checkpointing": {"stages": ["res6"]}}, r"unknown stages"),
        ({"activation_checkpointing": {"segments": 0}}, r"segments=0: is invalid"),
        ({"pad_group_width_to": -8}, r"pad_group_width_to=-8: is invalid"),
    ],
)
def test_bad_options_are_refused(options, message):
    model_config = AttrDict({"TRUNK": {"SEER_REGNET": {"preset": "regnety_tiny"}}})
    model_config.TRUNK.SEER_REGNET.update(options)
    with pytest.raises(ValueError, match=message):
        resolve_options(model_config)


def test_build_refuses_head_of_wrong_width():
    model_config = AttrDict(
        {
            "INPUT_TYPE": "rgb",
            "TRUNK": {"NAME": "seer_regnet", "SEER_REGNET": {"preset": "regnety_tiny"}},
            "HEAD": {"PARAMS": [["seer_swav_head", {"dims": [368, 64]}]]},
            "FEATURE_EVAL_SETTINGS": {
                "EVAL_MODE_ON": False,
                "FREEZE_TRUNK_ONLY": False,
                "LINEAR_EVAL_FEAT_POOL_OPS_MAP": [],
            },
            "MULTI_INPUT_HEAD_MAPPING": [],
        }
    )
    with pytest.raises(
        ValueError,
        match=r"MODEL.HEAD.PARAMS\[0\]\[1\].dims\[0\]=368: head 'seer_swav_head' "
        r"reads 368 channels but the trunk \(config.MODEL.TRUNK.SEER_REGNET "
        r"preset='regnety_tiny'\) outputs 128; expected dims\[0\]=128",
    ):
        SeerRegNet(model_config, "seer_regnet")
    model_config.HEAD.PARAMS[0][1]["dims"] = [128, 64]
    assert SeerRegNet(model_config, "seer_regnet").out_width == 128
