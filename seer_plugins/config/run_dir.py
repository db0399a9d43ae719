"""`CHECKPOINT.DIR: auto`: a fresh run folder per config, weights and labels.

VISSL's default run folder is the working directory ("."), where a linear
evaluation, then a fine-tuning or another `WEIGHTS_INIT`, share one folder: the
second finds the first's final checkpoint and exits 0 with nothing trained. The
benchmark configs say `auto` instead, which composing turns into

    runs/<config>/<weights>__<labels>/

under the working directory: `<weights>` is the weights file's folder and name and
a short hash of the file it names, links followed (`pretrain-checkpoint-3f9a1c`;
`random` without one), `<labels>` the split file's name and hash (`all` without
one). The run folder then records its fingerprint
(:mod:`seer_plugins.runs.run_folder`).
"""

import hashlib
import re
from pathlib import Path

AUTO = "auto"
RUNS_ROOT = "runs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _file_name(path: str, with_folder: bool) -> str:
    """`folder-stem-<hash>`: readable, and unique to the file the path names (two
    runs' `pretrain/checkpoint.torch` are other files: their links' targets)."""
    target = str(Path(path).expanduser().resolve())
    digest = hashlib.sha256(target.encode("utf-8", "surrogateescape")).hexdigest()[:6]
    name = (
        f"{Path(path).parent.name}-{Path(path).stem}"
        if with_folder
        else Path(path).stem
    )
    return f"{_slug(name.lstrip('-'))}-{digest}"


def auto_run_dir(config, config_name: str) -> None:
    """Replace `CHECKPOINT.DIR: auto` by the run's own folder (module doc)."""
    if str(config.CHECKPOINT.DIR) != AUTO:
        return
    weights = str(config.MODEL.WEIGHTS_INIT.PARAMS_FILE or "")
    weights_name = _file_name(weights, with_folder=True) if weights else "random"
    split = str(config.DATA.TRAIN.LOW_SHOT_SPLIT_FILE or "")
    labels = _file_name(split, with_folder=False) if split else "all"
    parts = [_slug(part) for part in config_name.split("/") if part]
    config.CHECKPOINT.DIR = str(Path(RUNS_ROOT, *parts, f"{weights_name}__{labels}"))
