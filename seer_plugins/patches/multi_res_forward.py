"""VISSL's multi-crop forward: all resolutions in one trunk call, where it can.

VISSL's `multi_res_input_forward` calls the trunk once per crop resolution (SEER:
once for the 2 large crops, once for the 4 small), then the heads on all features.
A trunk that takes a list of batches (`accepts_resolution_lists`: `seer_regnet`)
now gets one call with the list, and runs it block by block: under FSDP2 the two
calls kept every block's unsharded weight gradient alive through backward (why:
`SeerRegNetTrunk.forward`). Other trunks are called per resolution, as before.

The crops are grouped by consecutive resolution in Python: VISSL's own grouping
(`torch.unique_consecutive` of a tensor of sizes) has an output size that
`seer plan --simulate`'s fake tensors cannot know. The groups are the same, and
`MODEL.SINGLE_PASS_EVERY_CROP` still makes one group per crop.
"""

import itertools

import torch
from vissl.models.base_ssl_model import BaseSSLMultiInputOutputModel

_vissl_forward = BaseSSLMultiInputOutputModel.multi_res_input_forward


def resolution_groups(batch: list, one_per_crop: bool) -> list[list]:
    """`batch`'s crops in runs of equal resolution (last dimension), in order."""
    if one_per_crop:
        return [[crop] for crop in batch]
    return [list(g) for _, g in itertools.groupby(batch, key=lambda t: t.shape[-1])]


def multi_res_input_forward(self, batch, feature_names):
    assert isinstance(batch, list)
    groups = resolution_groups(batch, self.model_config.SINGLE_PASS_EVERY_CROP)
    inputs = [torch.cat(group) for group in groups]
    if getattr(self.trunk, "accepts_resolution_lists", False):
        per_group = self.trunk(inputs, feature_names)
    else:
        per_group = [self.trunk(x, feature_names) for x in inputs]
    features = []
    for feature in per_group:
        assert len(feature) == 1
        features.append(feature[0])
    return self.heads_forward([torch.cat(features)], self.heads)


def install() -> None:
    BaseSSLMultiInputOutputModel.multi_res_input_forward = multi_res_input_forward
