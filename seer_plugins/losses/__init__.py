"""Losses: `seer_swav_loss` (:mod:`seer_swav_loss`, the config adapter), the plain
criterion and Sinkhorn it delegates to, and its compose-time inference."""

from seer_plugins.losses.seer_swav_loss import SeerSwAVLoss
from seer_plugins.losses.sinkhorn import sinkhorn_knopp
from seer_plugins.losses.swav_criterion import SeerSwAVCriterion

__all__ = ["SeerSwAVCriterion", "SeerSwAVLoss", "sinkhorn_knopp"]
