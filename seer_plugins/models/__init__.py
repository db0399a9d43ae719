"""Model plugins: the `seer_regnet` trunk and the `seer_swav_head` head.

Importing this package registers both into VISSL's registries (and the trunk's
config check into seer_plugins' config inference).
"""

from seer_plugins.models.regnet_params import PRESETS, RegNetParams
from seer_plugins.models.seer_regnet import SeerRegNet
from seer_plugins.models.seer_swav_head import SeerSwAVHead, find_prototype_layers

__all__ = [
    "PRESETS",
    "RegNetParams",
    "SeerRegNet",
    "SeerSwAVHead",
    "find_prototype_layers",
]
