"""pad_group_width_to: blocks stored padded, the same function and the published layout."""

import copy

import pytest
import torch
from gpu import needs_gpu

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from timm.models.regnet import RegNet, RegNetCfg

from seer_plugins.checkpoints.convert import convert, vissl_checkpoint
from seer_plugins.models.group_padding import (
    SeerPaddedBottleneckBlock,
    published_layout,
    stores_padding,
)
from seer_plugins.models.regnet_params import (
    PRESETS,
    RegNetParams,
    out_width,
    stage_specs,
)
from seer_plugins.models.seer_regnet import TrunkOptions, build_trunk
from seer_plugins.optimizers.larc import LARCSGD

# Group width 12 (not a multiple of 8), like SEER 1.3B's 373, on a CPU-sized net.
ODD = RegNetParams(depth=6, w_0=16, w_a=20.0, w_m=2.0, group_width=12, stem_width=16)
PAD = TrunkOptions(pad_group_width_to=8)


def _step(trunk, x):
    trunk.zero_grad()
    out = trunk(x, ["res3", "res5", "flatten"])
    (out[0].square().mean() + out[2].square().mean()).backward()
    grads = published_layout(trunk, {n: p.grad for n, p in trunk.named_parameters()})
    return out, [g.clone() for g in grads.values()]


def _padded_blocks(trunk):
    return [m for m in trunk.modules() if isinstance(m, SeerPaddedBottleneckBlock)]


def _assert_padding_is_zero(trunk):
    for block in _padded_blocks(trunk):
        for name, entries in block.padding_entries().items():
            if not name.endswith("running_var"):
                assert entries.numel() and not entries.any(), name
            else:
                assert (entries > 0).all(), name


def _randomise_bn(trunk):
    """Non-trivial BN statistics and affine parameters, in the published layout."""
    generator = torch.Generator().manual_seed(1)
    state = trunk.state_dict()
    for key, value in state.items():
        if key.endswith(("running_mean", ".bias")):
            state[key] = 0.1 * torch.randn(value.shape, generator=generator)
        elif key.endswith(("running_var", "1.weight", "bn.weight")):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)
    trunk.load_state_dict(state)
    return trunk


@pytest.mark.parametrize(
    "options",
    [
        TrunkOptions(pad_group_width_to=8),
        TrunkOptions(pad_group_width_to=8, channels_last=True),
        TrunkOptions(pad_group_width_to=8, checkpoint_stages=("res3", "res4", "res5")),
    ],
    ids=["padded", "padded_channels_last", "padded_checkpointed"],
)
def test_padded_groups_compute_the_same_function(options):
    # float64, so that rounding (channels_last changes the summation order) stays
    # orders of magnitude below what a wrong padding would give.
    torch.manual_seed(0)
    plain = build_trunk(ODD).double().train()
    padded = build_trunk(ODD, options).double().train()
    assert [s.group_width for s in stage_specs(ODD)] == [12] * 4
    convs = _padded_blocks(padded)
    assert len(convs) == 6 and {c.padded_group_width for c in convs} == {16}
    # Published layout: plain weights load strictly, state dicts have equal shapes.
    padded.load_state_dict(plain.state_dict(), strict=True)
    assert {k: v.shape for k, v in padded.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    out_plain, grads_plain = _step(plain, x)
    out_padded, grads_padded = _step(padded, x)
    for a, b in zip(out_plain, out_padded, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    for a, b in zip(grads_plain, grads_padded, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    # The padding's own gradients are exactly zero.
    for block in _padded_blocks(padded):
        grads = {n: p.grad for n, p in block.named_parameters()}
        for name, entries in block.padding_entries(grads).items():
            assert entries.numel() and not entries.any(), name


def test_padded_trunk_stores_the_padding_and_publishes_the_plain_state():
    torch.manual_seed(0)
    plain = build_trunk(ODD)
    torch.manual_seed(0)
    padded = build_trunk(ODD, PAD)
    # Same seed, same weights: padding runs after the initialisation and draws
    # no random numbers, so what is built next (VISSL's heads) is unchanged too.
    assert torch.equal(
        torch.random.get_rng_state(), _rng_after(lambda: build_trunk(ODD))
    )
    plain_state, padded_state = plain.state_dict(), padded.state_dict()
    assert list(padded_state) == list(plain_state)
    for key, value in plain_state.items():
        assert padded_state[key].shape == value.shape, key
        assert torch.equal(padded_state[key], value), key
    # Stored: the bottleneck at 16 channels per group; the trunk's widths unchanged.
    block = padded._feature_blocks["res3"][0]
    assert block.f.a[0].weight.shape == (48, 12, 1, 1)  # 3 groups x 16 out, res2 in
    assert block.f.b[0].weight.shape == (48, 16, 3, 3)
    assert block.f.c.weight.shape == (36, 48, 1, 1)
    assert padded.out_width == plain.out_width == out_width(ODD)
    assert sum(p.numel() for p in padded.parameters()) > sum(
        p.numel() for p in plain.parameters()
    )
    _assert_padding_is_zero(padded)
    assert stores_padding(padded) and not stores_padding(plain)
    # Copies, not views of the parameters: torch.save writes the published sizes.
    weight = padded_state["_feature_blocks.res3.block2-0.f.a.0.weight"]
    assert weight.untyped_storage().nbytes() == weight.numel() * weight.element_size()


def _rng_after(build):
    torch.manual_seed(0)
    build()
    return torch.random.get_rng_state()


def test_plain_state_dict_loads_with_identical_outputs():
    torch.manual_seed(0)
    plain = _randomise_bn(build_trunk(ODD)).double().eval()
    padded = build_trunk(ODD, PAD).double().eval()
    padded.load_state_dict(plain.state_dict(), strict=True)
    _assert_padding_is_zero(padded)
    for key, value in plain.state_dict().items():
        assert torch.equal(padded.state_dict()[key], value), key
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        expected, found = plain(x, ["res2", "res5"]), padded(x, ["res2", "res5"])
        for a, b in zip(expected, found, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # A deep copy (DINO's teacher, EMA) keeps the hooks.
    assert torch.equal(
        copy.deepcopy(padded).state_dict()["_feature_blocks.res5.block4-0.f.c.weight"],
        plain.state_dict()["_feature_blocks.res5.block4-0.f.c.weight"],
    )
    # SyncBN conversion (SEER's config) keeps the published layout.
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(padded))
    assert {k: v.shape for k, v in synced.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }


def test_wrong_shape_is_refused_with_the_published_shape():
    padded = build_trunk(ODD, PAD)
    state = padded.state_dict()
    key = "_feature_blocks.res3.block2-0.f.b.0.weight"
    state[key] = torch.zeros(48, 16, 3, 3)
    with pytest.raises(RuntimeError, match=r"expected the published shape \(36, 12, 3"):
        padded.load_state_dict(state)


def test_larc_with_weight_decay_trains_the_unpadded_weights():
    """5 steps of LARC SGD (momentum 0.9, weight decay, BN regularised as SEER's
    config does): same published weights and BN statistics as the unpadded trunk,
    padding still exactly zero."""
    torch.manual_seed(0)
    plain = _randomise_bn(build_trunk(ODD)).double().train()
    padded = build_trunk(ODD, PAD).double().train()
    padded.load_state_dict(plain.state_dict())
    # SEER's LARC (clip off), a larger trust coefficient and weight decay so that
    # 5 steps move the weights well past float64 rounding.
    settings = dict(lr=0.1, momentum=0.9, weight_decay=1e-2, trust_coefficient=0.01)
    settings["clip"] = False
    optimizers = [LARCSGD(m.parameters(), **settings) for m in (plain, padded)]
    generator = torch.Generator().manual_seed(2)
    start = copy.deepcopy(plain.state_dict())
    for _ in range(5):
        x = torch.randn(4, 3, 32, 32, dtype=torch.float64, generator=generator)
        for model, optimizer in zip((plain, padded), optimizers, strict=True):
            optimizer.zero_grad()
            out = model(x, ["res4", "flatten"])
            (out[0].mean() + out[1].square().mean()).backward()
            optimizer.step()
    trained, moved = padded.state_dict(), 0.0
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(trained[key], value, rtol=1e-9, atol=1e-11)
        if value.is_floating_point():
            moved = max(moved, (value - start[key]).abs().max().item())
    assert moved > 1e-3  # the steps did move the weights
    _assert_padding_is_zero(padded)
    # Momentum buffers: the same in the published layout, zero in the padding.
    names = {p: n for n, p in padded.named_parameters()}
    buffers = {names[p]: s["momentum_buffer"] for p, s in optimizers[1].state.items()}
    plain_buffers = {
        n: optimizers[0].state[p]["momentum_buffer"]
        for n, p in plain.named_parameters()
    }
    published = published_layout(padded, buffers)
    for name, value in plain_buffers.items():
        torch.testing.assert_close(published[name], value, rtol=1e-9, atol=1e-11)
    for prefix, block in padded.named_modules():
        if isinstance(block, SeerPaddedBottleneckBlock):
            own = {
                n[len(prefix) + 1 :]: b
                for n, b in buffers.items()
                if n.startswith(prefix + ".")
            }
            for name, entries in block.padding_entries(own).items():
                assert entries.numel() and not entries.any(), name
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            padded.eval()(x), plain.eval()(x), rtol=1e-9, atol=1e-11
        )


def test_timm_loads_the_padded_trunk_state():
    torch.manual_seed(0)
    padded = _randomise_bn(build_trunk(ODD, PAD)).eval()
    timm_model = RegNet(
        RegNetCfg(
            depth=6, w0=16, wa=20.0, wm=2.0, group_size=12, se_ratio=0.25, stem_width=16
        ),
        num_classes=0,
    ).eval()
    timm_model.load_state_dict(convert(vissl_checkpoint(padded.state_dict()), "timm"))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (res5,) = padded(x, ["res5"])
        torch.testing.assert_close(timm_model.forward_features(x), res5)


def test_group_width_already_aligned_is_left_alone():
    trunk = build_trunk(PRESETS["regnety_tiny"], TrunkOptions(pad_group_width_to=8))
    assert not any(isinstance(m, SeerPaddedBottleneckBlock) for m in trunk.modules())


def test_seer_1_3b_pads_373_to_376_on_the_meta_device():
    with torch.device("meta"):
        trunk = build_trunk(
            PRESETS["regnety_256gf"],
            TrunkOptions(pad_group_width_to=8, channels_last=True),
        )
        res5, flatten = trunk(torch.empty(2, 3, 224, 224), ["res5", "flatten"])
    convs = _padded_blocks(trunk)
    assert len(convs) == 27
    assert {(c.group_width, c.padded_group_width) for c in convs} == {(373, 376)}
    # Parameters are those of the published model: counted in its layout (the
    # state dict without BN statistics); stored, the padding adds 0.97%.
    published = {
        k: v
        for k, v in trunk.state_dict().items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    assert sum(v.numel() for v in published.values()) == 1_272_156_138
    assert sum(p.numel() for p in trunk.parameters()) == 1_284_490_545
    assert res5.shape == (2, 10444, 7, 7) and flatten.shape == (2, 10444)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_padding_stays_zero_on_gpu_under_autocast_and_larc(dtype):
    """cuDNN's kernels (channels_last, autotuned) and 3 LARC steps under autocast:
    the same outputs as the plain trunk within AMP rounding, the padding exactly 0."""
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    plain = _randomise_bn(build_trunk(ODD)).cuda().train()
    padded = build_trunk(ODD, TrunkOptions(pad_group_width_to=8, channels_last=True))
    padded = padded.cuda().train()
    padded.load_state_dict(plain.state_dict())
    x = torch.randn(8, 3, 64, 64, device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        expected, found = plain(x), padded(x)
    torch.testing.assert_close(found.float(), expected.float(), rtol=3e-2, atol=3e-2)
    optimizer = LARCSGD(padded.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    for _ in range(3):
        optimizer.zero_grad()
        with torch.autocast("cuda", dtype=dtype):
            loss = padded(x, ["res4", "flatten"])[1].square().mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    _assert_padding_is_zero(padded)
