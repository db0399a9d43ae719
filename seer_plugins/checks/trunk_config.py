"""The trunk's config and the head's input width, checked when a config is composed.

For `seer_regnet`, the same parsing the trunk does when it is built (`SeerRegNet`),
run early: an unknown preset, an impossible architecture, a bad option or a head of
the wrong width fails at compose time, naming the key. For any other trunk, the
head's input width is checked against a meta-device forward pass.
"""

from seer_plugins.config import inference
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.models.head_widths import (
    check_head_input_width,
    check_head_reads,
    traced_output_width,
)
from seer_plugins.models.regnet_params import resolve_params
from seer_plugins.models.seer_regnet import TRUNK_NAME, resolve_options


@register_config_inferrer(order=inference.ARCHITECTURE)
def check_seer_regnet_config(config) -> None:
    if config.MODEL.TRUNK.NAME != TRUNK_NAME:
        width = traced_output_width(config.MODEL)
        if width is not None:
            check_head_reads(config.MODEL, width, config.MODEL.TRUNK.NAME)
        return
    params = resolve_params(config.MODEL.TRUNK.get("SEER_REGNET", None))
    resolve_options(config.MODEL)
    check_head_input_width(config.MODEL, params)
