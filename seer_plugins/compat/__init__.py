"""Make VISSL 0.1.6 and its vendored ClassyVision run unmodified on today's stack.

Each module here fixes one breakage of VISSL 0.1.6 on today's stack (the README's "On
today's stack" lists them). Import-time shims are applied by :func:`apply` before
anything imports VISSL, so nothing here imports VISSL or ClassyVision (a contract
in pyproject.toml). The config-level translation of apex settings to torch's runs
on every composed config: :mod:`seer_plugins.patches.apex_config`.
"""

from seer_plugins.compat import (
    numpy_aliases,
    pkg_resources_check,
    quiet_warnings,
    torchvision_kinetics,
)

_applied = False


def apply() -> None:
    """Install every import-time shim once. Safe to call repeatedly."""
    global _applied
    if _applied:
        return
    quiet_warnings.apply()
    pkg_resources_check.apply()
    torchvision_kinetics.apply()
    numpy_aliases.apply()
    _applied = True
