"""Config checks run at compose time, before VISSL's inference and any process.

Registration only: each module registers its checks with
`seer_plugins.config_inference.register_config_check`.
"""

from seer_plugins.checks import plugin_names, value_types  # noqa: F401
