"""`vissl.utils.misc` imports `pkg_resources`, which setuptools dropped in release 81.

There is nothing to shim: the module must exist. We check early so the failure names
the fix instead of surfacing as an ImportError deep inside VISSL.
"""

import importlib.util


def apply() -> None:
    if importlib.util.find_spec("pkg_resources") is None:
        raise ImportError(
            "VISSL 0.1.6 imports pkg_resources, which setuptools>=81 no longer ships. "
            "Install 'setuptools<81' (requirements.txt pins it)."
        )
