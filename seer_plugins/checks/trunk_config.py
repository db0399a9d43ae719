"""`MODEL.TRUNK.SEER_REGNET` checked when a config is composed, before any process.

The same parsing the trunk does when it is built (:class:`SeerRegNet`), run early: an
unknown preset, an impossible architecture, a bad option or a head of the wrong
width fails at compose time, naming the key.
"""

from seer_plugins.checks.head_widths import check_head_input_width
from seer_plugins.config.inference import register_config_inferrer
from seer_plugins.models.regnet_params import resolve_params
from seer_plugins.models.seer_regnet import TRUNK_NAME, resolve_options


@register_config_inferrer
def check_seer_regnet_config(config) -> None:
    if config.MODEL.TRUNK.NAME != TRUNK_NAME:
        return
    params = resolve_params(config.MODEL.TRUNK.get("SEER_REGNET", None))
    resolve_options(config.MODEL)
    check_head_input_width(config.MODEL, params)
