"""VISSL's multi-crop forward, patched (seer_plugins.patches.multi_res_forward): the
same outputs as VISSL's own, with one trunk call for all resolutions where the
trunk takes a list, and groups made without a data-dependent op."""

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from vissl.models import build_model

from seer_plugins.config.compose import compose
from seer_plugins.models.wrappers import unwrap
from seer_plugins.patches import multi_res_forward


@pytest.fixture(scope="module")
def model():
    config = compose(["config=pretrain/seer_tiny"])
    torch.manual_seed(0)
    return unwrap(build_model(config.MODEL, config.OPTIMIZER)).double().train()


def _crops(seed=0):
    g = torch.Generator().manual_seed(seed)
    sizes = [32, 32, 16, 16, 16, 16]  # SEER's 2 large + 4 small, at toy size
    return [torch.randn(2, 3, s, s, generator=g).double() for s in sizes]


def _outputs(forward, model, crops):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.zero_grad()
    outputs = forward(model, crops, ["flatten"])
    sum(o.square().sum() for out in outputs for o in out).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.load_state_dict(state)  # the BN statistics the forward moved
    return outputs, grads


@pytest.mark.parametrize("one_call", [True, False], ids=["list-trunk", "other-trunk"])
def test_same_outputs_and_gradients_as_vissl(model, monkeypatch, one_call):
    calls = []
    trunk_forward = type(model.trunk).forward

    def counted(self, x, keys=None):
        calls.append(type(x).__name__)
        return trunk_forward(self, x, keys)

    monkeypatch.setattr(type(model.trunk), "forward", counted)
    if not one_call:  # a trunk without list support: one call per resolution
        monkeypatch.setattr(type(model.trunk), "accepts_resolution_lists", False)
    ours = _outputs(type(model).multi_res_input_forward, model, _crops())
    assert calls == (["list"] if one_call else ["Tensor", "Tensor"])
    vissl = _outputs(multi_res_forward._vissl_forward, model, _crops())
    for a, b in zip(ours[0], vissl[0], strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    for a, b in zip(ours[1], vissl[1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_groups_are_vissls():
    crops = [torch.zeros(1, 3, s, s) for s in (32, 32, 16, 16, 32)]
    groups = multi_res_forward.resolution_groups(crops, one_per_crop=False)
    assert [len(g) for g in groups] == [2, 2, 1]  # consecutive runs, as VISSL's
    singles = multi_res_forward.resolution_groups(crops, one_per_crop=True)
    assert [len(g) for g in singles] == [1] * 5
