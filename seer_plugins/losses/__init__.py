"""Losses: `seer_swav_loss` (SwAV without CUDA-only code) and its config inference.

Importing this package registers the loss into ClassyVision's registry and its
config inferrer into seer_plugins' config inference.
"""

from seer_plugins.losses.seer_swav_loss import SeerSwAVLoss
from seer_plugins.losses.sinkhorn import sinkhorn_knopp
from seer_plugins.losses.swav_config import infer_seer_swav_loss
from seer_plugins.losses.swav_criterion import SeerSwAVCriterion

__all__ = [
    "SeerSwAVCriterion",
    "SeerSwAVLoss",
    "infer_seer_swav_loss",
    "sinkhorn_knopp",
]
