"""seer_swav_head: same outputs and state dict as VISSL's swav_head; prototypes by role."""

import pytest
import torch

import seer_plugins  # noqa: F401  first: compat shims, then plugin registration

# isort: split
from torch import nn
from vissl.config import AttrDict
from vissl.models.heads import get_model_head

from seer_plugins.models.prototypes import find_prototype_layers
from seer_plugins.models.seer_swav_head import SeerSwAVHead

MODEL_CONFIG = AttrDict({"HEAD": {"BATCHNORM_EPS": 1e-5, "BATCHNORM_MOMENTUM": 0.1}})

VARIANTS = {
    # SEER pretraining head, scaled down: MLP, no BN, L2-normalised, prototypes.
    "seer_pretrain": dict(dims=[32, 48, 48, 16], use_bn=False, num_clusters=[20]),
    "two_prototype_sets": dict(dims=[32, 16], use_bn=True, num_clusters=[20, 30]),
    # SEER low-shot projection: Linear + BN + ReLU, no normalisation, no prototypes.
    "low_shot_projection": dict(
        dims=[32, 24],
        use_bn=True,
        num_clusters=[],
        skip_last_bn=False,
        normalize_feats=False,
    ),
    "scores_only": dict(dims=[32, 16], num_clusters=[20], return_embeddings=False),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_matches_vissl_swav_head(variant):
    kwargs = VARIANTS[variant]
    torch.manual_seed(0)
    stock = get_model_head("swav_head")(
        MODEL_CONFIG, **{"use_bn": False, **kwargs}
    ).train()
    ours = get_model_head("seer_swav_head")(MODEL_CONFIG, **kwargs).train()
    assert isinstance(ours, SeerSwAVHead)
    # Same keys and shapes: a swav_head checkpoint loads as is, and back.
    ours.load_state_dict(stock.state_dict(), strict=True)
    x = torch.randn(6, 32)
    expected, found = stock(x), ours(x)
    assert len(found) == len(expected)
    for a, b in zip(expected, found, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_output_structure_and_prototype_layers():
    head = SeerSwAVHead(MODEL_CONFIG, **VARIANTS["two_prototype_sets"]).eval()
    embedding, scores_0, scores_1 = head(torch.randn(4, 32))
    assert embedding.shape == (4, 16)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(4))
    assert scores_0.shape == (4, 20) and scores_1.shape == (4, 30)
    layers = head.prototype_layers()
    assert layers == [head.prototypes0, head.prototypes1]
    assert all(isinstance(p, nn.Linear) and p.bias is None for p in layers)
    assert head.nmb_heads == 2 and head.embedding_dim == 16


def test_low_shot_projection_has_bn_and_no_prototypes():
    head = SeerSwAVHead(MODEL_CONFIG, **VARIANTS["low_shot_projection"])
    kinds = [type(m) for m in head.projection_head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert head.prototype_layers() == []
    (embedding,) = head(torch.randn(4, 32))
    assert embedding.shape == (4, 24)


def test_find_prototype_layers_in_any_model():
    ours = SeerSwAVHead(MODEL_CONFIG, **VARIANTS["two_prototype_sets"])
    stock = get_model_head("swav_head")(
        MODEL_CONFIG, dims=[32, 16], use_bn=False, num_clusters=[7]
    )
    model = nn.ModuleList([nn.Linear(3, 3), ours, stock])
    assert find_prototype_layers(model) == [
        ours.prototypes0,
        ours.prototypes1,
        stock.prototypes0,
    ]
    assert find_prototype_layers(nn.Linear(3, 3)) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dims=[]), r"dims=\[\] is invalid"),
        (dict(dims=[32, 0]), r"dims=\[32, 0\] is invalid: expected a list of pos"),
        (dict(dims=[32], num_clusters=[-3]), r"num_clusters=\[-3\] is invalid"),
        (dict(dims=[32], activation_name="Tanh"), r"'Tanh' is unknown; valid"),
        (
            dict(dims=[32], return_embeddings=False),
            r"return_embeddings=False with num_clusters=\[\] would return nothing",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SeerSwAVHead(MODEL_CONFIG, **kwargs)
