"""tools/convert_checkpoint.py: VISSL/SEER <-> timm RegNetY trunk weights."""

import importlib.util
from pathlib import Path

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from timm.models.regnet import RegNet, RegNetCfg, model_cfgs

from seer_plugins.checkpoints.convert import (
    convert,
    timm_key_to_vissl,
    vissl_checkpoint,
    vissl_key_to_timm,
)
from seer_plugins.checkpoints.formats import ConversionError, detect_format
from seer_plugins.models.regnet_params import PRESETS, RegNetParams
from seer_plugins.models.seer_regnet import build_trunk

TOOL = Path(__file__).resolve().parents[1] / "tools" / "convert_checkpoint.py"


def _timm_regnet(params: RegNetParams) -> RegNet:
    cfg = RegNetCfg(
        depth=params.depth,
        w0=params.w_0,
        wa=params.w_a,
        wm=params.w_m,
        group_size=params.group_width,
        bottle_ratio=params.bottleneck_multiplier,
        se_ratio=params.se_ratio,
        stem_width=params.stem_width,
    )
    return RegNet(cfg, num_classes=0)


@pytest.fixture(scope="module")
def trunk():
    torch.manual_seed(0)
    model = build_trunk(PRESETS["regnety_tiny"])
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.mark.parametrize(
    "vissl, timm",
    [
        ("conv1.stem.0.weight", "stem.conv.weight"),
        ("conv1.stem.1.running_var", "stem.bn.running_var"),
        ("res2.block1-0.proj.weight", "s1.b1.downsample.conv.weight"),
        ("res2.block1-0.bn.bias", "s1.b1.downsample.bn.bias"),
        ("res4.block3-11.f.a.0.weight", "s3.b12.conv1.conv.weight"),
        (
            "res4.block3-11.f.a.1.num_batches_tracked",
            "s3.b12.conv1.bn.num_batches_tracked",
        ),
        ("res5.block4-0.f.b.0.weight", "s4.b1.conv2.conv.weight"),
        ("res5.block4-0.f.se.excitation.0.bias", "s4.b1.se.fc1.bias"),
        ("res5.block4-0.f.se.excitation.2.weight", "s4.b1.se.fc2.weight"),
        ("res3.block2-1.f.c.weight", "s2.b2.conv3.conv.weight"),
        ("res3.block2-1.f.final_bn.weight", "s2.b2.conv3.bn.weight"),
    ],
)
def test_key_mapping(vissl, timm):
    assert vissl_key_to_timm("_feature_blocks." + vissl) == timm
    assert timm_key_to_vissl(timm) == "_feature_blocks." + vissl


def test_unknown_keys_are_named():
    with pytest.raises(
        ConversionError, match=r"'_feature_blocks.res2.block1-0.xyz.weight'"
    ):
        vissl_key_to_timm("_feature_blocks.res2.block1-0.xyz.weight")
    with pytest.raises(ConversionError, match=r"'s1.b1.attn.weight'"):
        timm_key_to_vissl("s1.b1.attn.weight")
    with pytest.raises(ConversionError, match="first keys: \\['fc.weight'\\]"):
        detect_format({"fc.weight": torch.zeros(1)})


def test_round_trip_is_identical(trunk):
    checkpoint = vissl_checkpoint(trunk.state_dict())
    timm_state = convert(checkpoint, "timm")
    assert detect_format(timm_state) == "timm"
    back = convert(timm_state, "vissl")
    original = checkpoint["classy_state_dict"]["base_model"]["model"]["trunk"]
    restored = back["classy_state_dict"]["base_model"]["model"]["trunk"]
    assert list(restored) == list(original)
    for key, value in original.items():
        assert torch.equal(restored[key], value), key


@pytest.mark.parametrize("preset", ["regnety_tiny", "regnety_small"])
def test_timm_regnet_loads_converted_weights_with_identical_features(preset):
    torch.manual_seed(0)
    ours = build_trunk(PRESETS[preset]).eval()
    timm_model = _timm_regnet(PRESETS[preset]).eval()
    state = convert(vissl_checkpoint(ours.state_dict()), "timm")
    result = timm_model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        res5, flatten = ours(x, ["res5", "flatten"])
        torch.testing.assert_close(timm_model.forward_features(x), res5)
        torch.testing.assert_close(timm_model(x), flatten)


def test_seer_1_3b_maps_onto_timm_regnety_2560():
    """Every key and shape of SEER 1.3B lines up with timm's own regnety_2560."""
    with torch.device("meta"):
        ours = build_trunk(PRESETS["regnety_256gf"])
        timm_model = RegNet(model_cfgs["regnety_2560"], num_classes=0)
    converted = {
        vissl_key_to_timm(k): tuple(v.shape) for k, v in ours.state_dict().items()
    }
    expected = {k: tuple(v.shape) for k, v in timm_model.state_dict().items()}
    assert converted == expected


def _tool():
    spec = importlib.util.spec_from_file_location("convert_checkpoint_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_converts_files_both_ways(trunk, tmp_path):
    tool = _tool()
    vissl_path, timm_path, back_path = (
        tmp_path / "seer.torch",
        tmp_path / "timm.pth",
        tmp_path / "back.torch",
    )
    torch.save(vissl_checkpoint(trunk.state_dict()), vissl_path)
    tool.main([str(vissl_path), str(timm_path), "--to", "timm"])
    tool.main([str(timm_path), str(back_path), "--to", "vissl"])
    timm_state = torch.load(timm_path, weights_only=True)
    assert "s4.b2.conv3.bn.running_mean" in timm_state
    back = torch.load(back_path, weights_only=True)
    restored = back["classy_state_dict"]["base_model"]["model"]["trunk"]
    assert restored.keys() == trunk.state_dict().keys()
    for key, value in trunk.state_dict().items():
        assert torch.equal(restored[key], value), key


def test_torchvision_regnet_converts_to_identical_features():
    """torchvision's RegNetY-400MF layout read into seer_regnet's (VISSL's) names."""
    import torchvision

    torch.manual_seed(0)
    theirs = torchvision.models.regnet_y_400mf().eval()
    # torchvision's regnet_y_400mf: depth 16, w_0 48, w_a 27.89, w_m 2.09, gw 8.
    ours = build_trunk(RegNetParams(16, 48, 27.89, 2.09, 8)).eval()
    checkpoint = convert({"state_dict": theirs.state_dict()}, "vissl")
    trunk = checkpoint["classy_state_dict"]["base_model"]["model"]["trunk"]
    assert "fc.weight" not in trunk and all(
        k.startswith("_feature_blocks.") for k in trunk
    )
    ours.load_state_dict(trunk, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs.trunk_output(theirs.stem(x))
        torch.testing.assert_close(ours(x, ["res5"])[0], expected)


def _swav_heads():
    torch.manual_seed(1)
    return {
        "0.projection_head.0.weight": torch.randn(64, 128),
        "0.projection_head.0.bias": torch.randn(64),
        "0.prototypes0.weight": torch.randn(20, 32),
    }


def test_conversion_says_what_matched_and_what_was_dropped(trunk, tmp_path, capsys):
    from seer_plugins.apps.convert import convert_file

    checkpoint = vissl_checkpoint(trunk.state_dict(), heads=_swav_heads())
    torch.save(checkpoint, tmp_path / "seer.torch")
    convert_file(str(tmp_path / "seer.torch"), str(tmp_path / "timm.pth"), "timm")
    out = capsys.readouterr().out
    assert "stem_width=16, stage widths [16, 32, 64, 128], depths [1, 1, 2, 2]" in out
    assert "seer_regnet preset: regnety_tiny" in out
    assert (
        "RegNetCfg(depth=6, w0=16, wa=20.0, wm=2.0, group_size=8, bottle_ratio=1.0, "
        "se_ratio=0.25, stem_width=16)" in out
    )
    assert (
        "dropped VISSL heads (3 tensors: 0.projection_head.*, 0.prototypes0.*)" in out
    )
    assert not any(
        k.startswith("vissl_heads.") for k in torch.load(tmp_path / "timm.pth")
    )


def test_seer_1_3b_is_reported_as_timm_regnety_2560():
    from seer_plugins.checkpoints.convert_report import describe_trunk

    with torch.device("meta"):
        trunk = build_trunk(PRESETS["regnety_256gf"]).state_dict()
    text = "\n".join(describe_trunk(trunk))
    assert "seer_regnet preset: regnety_256gf" in text
    assert (
        "timm: regnety_2560 (timm.create_model('regnety_2560', num_classes=0)" in text
    )
    assert "group_size=373" in text and "stem_width=32" in text


def test_keep_head_round_trip_keeps_the_swav_head(trunk, tmp_path, capsys):
    """vissl -> timm -> vissl with --keep-head: the projection fine-tuning loads and
    the prototypes come back bit for bit; timm's RegNet loads the trunk (strict=False
    for the extra vissl_heads.* keys)."""
    tool = _tool()
    heads = _swav_heads()
    torch.save(vissl_checkpoint(trunk.state_dict(), heads=heads), tmp_path / "a.torch")
    assert (
        tool.main(
            [
                str(tmp_path / "a.torch"),
                str(tmp_path / "t.pth"),
                "--to",
                "timm",
                "--keep-head",
            ]
        )
        == 0
    )
    assert (
        tool.main(
            [
                str(tmp_path / "t.pth"),
                str(tmp_path / "b.torch"),
                "--to",
                "vissl",
                "--keep-head",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "kept VISSL heads as vissl_heads.* (3 tensors" in out
    assert "kept VISSL heads under heads (3 tensors" in out
    timm_state = torch.load(tmp_path / "t.pth", weights_only=True)
    result = _timm_regnet(PRESETS["regnety_tiny"]).load_state_dict(
        timm_state, strict=False
    )
    assert not result.missing_keys
    assert sorted(result.unexpected_keys) == sorted(f"vissl_heads.{k}" for k in heads)
    model = torch.load(tmp_path / "b.torch", weights_only=True)["classy_state_dict"]
    restored = model["base_model"]["model"]["heads"]
    assert restored.keys() == heads.keys()
    assert all(torch.equal(restored[k], v) for k, v in heads.items())


def test_timm_classifier_is_reported_dropped(tmp_path, capsys):
    from seer_plugins.apps.convert import convert_file

    torch.manual_seed(0)
    model = _timm_regnet(PRESETS["regnety_tiny"])
    state = {**model.state_dict(), "head.fc.weight": torch.zeros(1000, 128)}
    torch.save(state, tmp_path / "timm.pth")
    convert_file(str(tmp_path / "timm.pth"), str(tmp_path / "v.torch"), "vissl")
    out = capsys.readouterr().out
    assert "dropped timm's classifier (head.fc.weight, 1000 classes)" in out
    assert "heads: none in the input" in out


def test_missing_input_is_one_error_line(tmp_path, capsys):
    assert _tool().main([str(tmp_path / "nope.torch"), "x.pth", "--to", "timm"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: INPUT='{tmp_path / 'nope.torch'}': does not exist; give a weights file or shard folder\n"
    )


def test_a_file_that_is_not_a_checkpoint_is_one_error_line(tmp_path, capsys):
    text = tmp_path / "notes.torch"
    text.write_text("hello\n")
    assert _tool().main([str(text), str(tmp_path / "x.pth"), "--to", "timm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: INPUT='{text}': is not a torch checkpoint (")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_sharded_checkpoint_converts_to_the_consolidated_layouts(trunk, tmp_path):
    """A sharded run's checkpoint (VISSL's file pointing at a folder of shards, or the
    folder): the whole model in VISSL's layout, the trunk in timm's."""
    import torch.distributed.checkpoint as dcp

    from seer_plugins.apps.convert import convert_file
    from seer_plugins.checkpoints.convert import vissl_trunk_to_timm
    from seer_plugins.checkpoints.sharded import REFERENCE_KEY

    heads = {"0.prototypes0.weight": torch.randn(5, 3)}
    model = {f"trunk.{k}": v for k, v in trunk.state_dict().items()}
    model |= {f"heads.{k}": v for k, v in heads.items()}
    folder = "sharded/model_phase0"
    dcp.save({"model": model}, checkpoint_id=tmp_path / folder, no_dist=True)
    reference = {REFERENCE_KEY: {"folder": folder, "world_size": 1}}
    marker = tmp_path / "model_phase0.torch"
    torch.save({"classy_state_dict": {"base_model": reference}}, marker)

    out = tmp_path / "consolidated.torch"
    assert convert_file(str(marker), str(out), "vissl") == "sharded"
    got = torch.load(out)["classy_state_dict"]["base_model"]["model"]
    expected = vissl_checkpoint(trunk.state_dict(), heads)
    expected = expected["classy_state_dict"]["base_model"]["model"]
    for part in ("trunk", "heads"):
        assert got[part].keys() == expected[part].keys()
        assert all(torch.equal(got[part][k], v) for k, v in expected[part].items())

    out = tmp_path / "timm.pth"
    convert_file(str(tmp_path / folder), str(out), "timm")
    timm = torch.load(out)
    want = vissl_trunk_to_timm(trunk.state_dict())
    assert timm.keys() == want.keys()
    assert all(torch.equal(timm[k], v) for k, v in want.items())
