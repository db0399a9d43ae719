"""`seer_swav_head`: SwAV projection MLP + prototypes, found by role rather than name.

Same keyword arguments, module names (`projection_head.<i>`, `prototypes<k>`) and
output as VISSL's `swav_head`: `[embedding, scores_0, scores_1, ...]` (the embedding
first when `return_embeddings`), so either SwAV loss accepts either head and a
`swav_head` checkpoint loads unchanged.

For hooks: `head.prototype_layers()` lists the bias-free prototype layers
(:func:`seer_plugins.models.prototypes.find_prototype_layers` collects them from any
model).

SEER pretraining (Goyal et al. 2021): dims [10444, 8192, 8192, 256], no BN,
L2-normalised embedding, num_clusters [16000]. SEER's low-shot fine-tuning keeps the
first projection layer: dims [10444, 8192], use_bn, skip_last_bn False,
normalize_feats False, num_clusters [] (docs/recipes.md).
"""

import torch
from torch import nn
from vissl.models.heads import register_model_head

HEAD_NAME = "seer_swav_head"
_ACTIVATIONS = {"ReLU": lambda: nn.ReLU(inplace=True), "GELU": nn.GELU}


def _positive_ints(name: str, values) -> list[int]:
    if isinstance(values, int):
        values = [values]
    values = list(values or [])
    if not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(
            f"{HEAD_NAME}: {name}={values!r} is invalid: expected a list of "
            f"positive integers"
        )
    return values


@register_model_head(HEAD_NAME)
class SeerSwAVHead(nn.Module):
    """MLP (Linear [-> BN] -> activation between layers) -> [L2 norm] -> prototypes.

    Args:
        model_config: `config.MODEL` (reads HEAD.BATCHNORM_EPS / _MOMENTUM).
        dims: layer widths, input first, e.g. [10444, 8192, 8192, 256]; a single
            entry means no projection.
        use_bn: BatchNorm1d after each hidden Linear.
        num_clusters: one bias-free prototype layer (embedding -> K) per entry; [] or
            omitted: none (a plain projection head).
        use_bias: biases of the projection Linears.
        return_embeddings: put the embedding first in the output.
        skip_last_bn: no BN/activation after the last Linear (SwAV's projection).
            False adds them (SEER's low-shot fine-tuning projection).
        normalize_feats: L2-normalise the embedding before the prototypes.
        activation_name: "ReLU" or "GELU".
    Input: (N, dims[0]). Output: [embedding (N, dims[-1])] + [(N, K_i) per
    prototype layer].
    """

    def __init__(
        self,
        model_config,
        dims: list[int],
        use_bn: bool = False,
        num_clusters: list[int] | int = (),
        use_bias: bool = True,
        return_embeddings: bool = True,
        skip_last_bn: bool = True,
        normalize_feats: bool = True,
        activation_name: str = "ReLU",
    ):
        super().__init__()
        dims = _positive_ints("dims", dims)
        if not dims:
            raise ValueError(f"{HEAD_NAME}: dims=[] is invalid: give at least [d_in]")
        num_clusters = _positive_ints("num_clusters", num_clusters)
        if activation_name not in _ACTIVATIONS:
            raise ValueError(
                f"{HEAD_NAME}: activation_name={activation_name!r} is unknown; "
                f"valid: {list(_ACTIVATIONS)}"
            )
        if not return_embeddings and not num_clusters:
            raise ValueError(
                f"{HEAD_NAME}: return_embeddings=False with num_clusters=[] "
                f"would return nothing; set one of them"
            )
        head_config = model_config.get("HEAD", None) or {}
        bn_eps = head_config.get("BATCHNORM_EPS", 1e-5)
        bn_momentum = head_config.get("BATCHNORM_MOMENTUM", 0.1)

        # Same layer sequence as VISSL's swav_head, so state-dict keys match.
        layers = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(d_in, d_out, bias=use_bias))
            if i == len(dims) - 2 and skip_last_bn:
                break
            if use_bn:
                layers.append(nn.BatchNorm1d(d_out, eps=bn_eps, momentum=bn_momentum))
            layers.append(_ACTIVATIONS[activation_name]())
        self.projection_head = nn.Sequential(*layers)
        self.normalize_feats = normalize_feats
        self.return_embeddings = return_embeddings
        self.embedding_dim = dims[-1]
        self.num_clusters = num_clusters
        for k, n in enumerate(num_clusters):
            self.add_module(f"prototypes{k}", nn.Linear(dims[-1], n, bias=False))

    @property
    def nmb_heads(self) -> int:
        """Number of prototype layers, under VISSL's `swav_head` attribute name."""
        return len(self.num_clusters)

    def prototype_layers(self) -> list[nn.Linear]:
        """The prototype layers (weights: K x embedding_dim), in output order."""
        return [getattr(self, f"prototypes{k}") for k in range(self.nmb_heads)]

    def forward(self, batch: torch.Tensor) -> list[torch.Tensor]:
        embedding = self.projection_head(batch)
        if self.normalize_feats:
            embedding = nn.functional.normalize(embedding, dim=1, p=2)
        out = [embedding] if self.return_embeddings else []
        out += [layer(embedding) for layer in self.prototype_layers()]
        return out
