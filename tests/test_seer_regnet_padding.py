"""pad_group_width_to: the same function and the published layout, padded groups."""

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from seer_plugins.models.group_padding import SeerPaddedGroupConv2d
from seer_plugins.models.regnet_params import PRESETS, RegNetParams, stage_specs
from seer_plugins.models.seer_regnet import TrunkOptions, build_trunk

# Group width 12 (not a multiple of 8), like SEER 1.3B's 373, on a CPU-sized net.
ODD = RegNetParams(depth=6, w_0=16, w_a=20.0, w_m=2.0, group_width=12, stem_width=16)


def _step(trunk, x):
    trunk.zero_grad()
    out = trunk(x, ["res3", "res5", "flatten"])
    (out[0].square().mean() + out[2].square().mean()).backward()
    return out, [p.grad.clone() for p in trunk.parameters()]


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
    convs = [m for m in padded.modules() if isinstance(m, SeerPaddedGroupConv2d)]
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


def test_group_width_already_aligned_is_left_alone():
    trunk = build_trunk(PRESETS["regnety_tiny"], TrunkOptions(pad_group_width_to=8))
    assert not any(isinstance(m, SeerPaddedGroupConv2d) for m in trunk.modules())


def test_seer_1_3b_pads_373_to_376_on_the_meta_device():
    with torch.device("meta"):
        trunk = build_trunk(
            PRESETS["regnety_256gf"],
            TrunkOptions(pad_group_width_to=8, channels_last=True),
        )
        res5, flatten = trunk(torch.empty(2, 3, 224, 224), ["res5", "flatten"])
    convs = [m for m in trunk.modules() if isinstance(m, SeerPaddedGroupConv2d)]
    assert len(convs) == 27
    assert {(c.group_width, c.padded_group_width) for c in convs} == {(373, 376)}
    # Parameters are those of the published model.
    assert sum(p.numel() for p in trunk.parameters()) == 1_272_156_138
    assert res5.shape == (2, 10444, 7, 7) and flatten.shape == (2, 10444)
