"""Where the project's YAML lives, in a source checkout and in an installed wheel."""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def configs_dir() -> Path:
    """The folder holding `pretrain/` and `benchmark/` configs.

    In a checkout (and an editable install) it is `<repo>/configs`; setup.py installs
    the same files as `seer_plugins/configs` for a regular install.
    """
    for candidate in (_PACKAGE_DIR.parent / "configs", _PACKAGE_DIR / "configs"):
        if (candidate / "pretrain").is_dir():
            return candidate
    raise FileNotFoundError(
        f"seer_plugins configs not found next to {_PACKAGE_DIR} "
        "(expected ../configs or ./configs with a pretrain/ folder)"
    )


def plugin_defaults_dir() -> Path:
    return _PACKAGE_DIR / "defaults"
