"""Where the project's YAML lives, in a source checkout and in an installed wheel."""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]

# The folder of `configs/` that holds plugin defaults rather than selectable configs.
DEFAULTS_FOLDER = "defaults"


def configs_dir() -> Path:
    """The folder holding `pretrain/`, `benchmark/` and `defaults/`.

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


def repo_tool(name: str) -> Path | None:
    """`tools/<name>` of the checkout this package runs from, or None (a wheel)."""
    path = _PACKAGE_DIR.parent / "tools" / name
    return path if path.is_file() else None


def plugin_defaults_dir() -> Path:
    """`configs/defaults/`: every plugin's keys and defaults, merged into VISSL's."""
    return configs_dir() / DEFAULTS_FOLDER
