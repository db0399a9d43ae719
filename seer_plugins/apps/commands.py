"""The commands of `seer` that have no module of their own: train, split, convert,
init-checkpoint (the others are :mod:`seer_plugins.apps.sweep.sweep`,
:mod:`seer_plugins.apps.demo.pipeline` and :mod:`seer_plugins.apps.plots.command`).
Each takes the command's arguments and returns an exit status; a refused input
raises :class:`~seer_plugins.checks.errors.ConfigError` (`seer_plugins.cli` prints
it as one line, exit status 2)."""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.checks.errors import EXIT_STATUS, ConfigError

TRAIN_USAGE = """\
usage: seer train [--list] [--config-dir DIR] config=NAME [OVERRIDE ...]

Compose a config and run it with VISSL's engine and the seer_plugins hooks,
locally (config.DISTRIBUTED.*) or on SLURM (config.SLURM.USE_SLURM=true). The
overrides are VISSL's own launcher's (Hydra's grammar):

  config=NAME          the config: ours (pretrain/seer_tiny, benchmark/linear/digits)
                       or VISSL's (test/cpu_test/test_cpu_regnet_simclr)
  config.KEY=VALUE     set a key, e.g. config.OPTIMIZER.num_epochs=2
  ++config.KEY=VALUE   set a key no default defines
  +config/GROUP=NAME   add a config fragment, e.g. +config/pretrain/seer/runtime=cpu
  engine_name=NAME     train (default), extract_features, seer_knn, ...

options:
  -h, --help           show this help and exit
  --list               list the configs, model presets and engines, and exit
  --config-dir DIR     also search DIR for configs (repeatable; as SEER_CONFIG_PATH):
                       DIR/config/<group>/<name>.yaml (VISSL's layout) or
                       DIR/<group>/<name>.yaml (ours)

examples:
  seer train config=pretrain/seer_tiny
  seer train config=pretrain/demo_digits config.DATA.TRAIN.DATA_PATHS=[/data/train]
  seer train --config-dir ~/myproject/configs config=myproject/pretrain
"""

# Folders of configs/ holding fragments that other configs include, not entries.
FRAGMENT_DIRS = {"base", "data", "models", "runtime", "seer"}


def _train_options(argv: Sequence[str]) -> tuple[dict, list[str]]:
    """Split `--list`, `--config-dir DIR` and `-h` from the Hydra overrides."""
    options = {"help": False, "list": False, "config_dirs": []}
    overrides = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            options["help"] = True
        elif arg == "--list":
            options["list"] = True
        elif arg == "--config-dir" or arg.startswith("--config-dir="):
            value = (
                arg.partition("=")[2] if "=" in arg else (args.pop(0) if args else "")
            )
            options["config_dirs"].append(value)
        elif arg.startswith("--"):
            raise ConfigError(
                "option", arg, "unknown", "valid: --list, --config-dir DIR, --help"
            )
        else:
            overrides.append(arg)
    return options, overrides


def add_config_dirs(folders: Sequence[str]) -> None:
    """Put `folders` first on `SEER_CONFIG_PATH` for this process and its children."""
    from seer_plugins.config.compose import CONFIG_PATH_ENV

    resolved = []
    for folder in folders:
        if not folder or not Path(folder).expanduser().is_dir():
            raise ConfigError(
                "--config-dir",
                folder,
                "is not a folder",
                "give a folder of YAML configs",
            )
        resolved.append(str(Path(folder).expanduser().resolve()))
    current = os.environ.get(CONFIG_PATH_ENV, "")
    os.environ[CONFIG_PATH_ENV] = os.pathsep.join([*resolved, *filter(None, [current])])


def _yaml_names(root: Path, skip=()) -> list[str]:
    return sorted(
        str(p.relative_to(root).with_suffix(""))
        for p in root.rglob("*.yaml")
        if not set(p.relative_to(root).parts[:-1]) & set(skip)
    )


def config_listing() -> str:
    """Our configs (entries, fragments), projects', VISSL's, presets, engines."""
    from vissl.engines.engine_registry import _ENGINE_REGISTRY

    import configs as vissl_configs  # VISSL's wheel installs its YAML as `configs`
    from seer_plugins.config.compose import project_searchpath
    from seer_plugins.config.paths import DEFAULTS_FOLDER, configs_dir
    from seer_plugins.models.regnet_params import PRESETS

    ours = _yaml_names(configs_dir(), skip={DEFAULTS_FOLDER})
    fragment = [n for n in ours if FRAGMENT_DIRS & set(n.split("/")[:-1])]
    sections = [
        ("seer_plugins configs (config=NAME)", [n for n in ours if n not in fragment]),
        ("seer_plugins fragments (included by the configs above)", fragment),
    ]
    for entry in project_searchpath():
        root = Path(entry.split("://", 1)[1])
        root = root / "config" if entry.startswith("file://") else root
        sections.append((f"project configs in {root}", _yaml_names(root)))
    stock = Path(vissl_configs.__file__).parent / "config"
    sections += [
        (f"VISSL's stock configs in {stock}", _yaml_names(stock)),
        ("model presets (config.MODEL.TRUNK.SEER_REGNET.preset=NAME)", list(PRESETS)),
        # VISSL keeps its engines in a private dict, without a listing function.
        ("engines (engine_name=NAME)", sorted(_ENGINE_REGISTRY)),
    ]
    return "\n\n".join(
        f"{title}:\n" + "\n".join(f"  {name}" for name in names)
        for title, names in sections
    )


def train(argv: Sequence[str]) -> int:
    """`seer train`: the launcher (tools/run_distributed_engines.py)."""
    options, overrides = _train_options(argv)
    if options["help"]:
        print(TRAIN_USAGE, end="")
        return 0
    add_config_dirs(options["config_dirs"])
    if options["list"]:
        print(config_listing())
        return 0
    if not overrides:
        print(TRAIN_USAGE, end="", file=sys.stderr)
        print(
            "error: config=<missing>: no config selected; pass config=NAME "
            "(seer train --list names them)",
            file=sys.stderr,
        )
        return EXIT_STATUS
    from seer_plugins.apps.launcher import cli

    return cli(overrides)


def split(argv: Sequence[str]) -> int:
    """`seer split`: a class-balanced, seeded low-shot split file."""
    from seer_plugins.data.low_shot_split import main

    main(argv)
    return 0


def convert(argv: Sequence[str]) -> int:
    """`seer convert`: RegNetY weights between VISSL/SEER and timm."""
    from seer_plugins.models.convert import ConversionError, convert_file

    parser = argparse.ArgumentParser(
        prog="seer convert",
        description="Convert RegNetY trunk weights between VISSL/SEER checkpoints and "
        "timm's layout (the input format is detected); prints the seer_regnet preset, "
        "timm model and RegNetCfg the weights match, and what was dropped.",
        epilog="example: seer convert model_final_checkpoint_phase0.torch "
        "seer_timm.pth --to timm --keep-head",
    )
    parser.add_argument(
        "input",
        help="VISSL/SEER checkpoint, timm or torchvision state dict, or a sharded "
        "checkpoint (its .torch file or its folder of shards)",
    )
    parser.add_argument("output", help="where to write the converted weights")
    parser.add_argument("--to", required=True, choices=["vissl", "timm"])
    parser.add_argument(
        "--keep-head",
        action="store_true",
        help="keep VISSL's heads (SwAV's projection and prototypes, which "
        "fine-tuning loads): as vissl_heads.* keys in a timm file (load it with "
        "strict=False), as heads in a VISSL checkpoint",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow arbitrary pickled objects in INPUT (only for files you trust)",
    )
    args = parser.parse_args(argv)
    if not Path(args.input).exists():
        raise ConfigError(
            "INPUT", args.input, "does not exist", "give a weights file or shard folder"
        )
    try:
        convert_file(
            args.input, args.output, args.to, args.trust_pickle, args.keep_head
        )
    except ConversionError as error:
        raise ConfigError(
            "INPUT",
            args.input,
            str(error),
            "a VISSL/SEER checkpoint, a timm or torchvision RegNetY state dict, or a "
            "sharded checkpoint",
        ) from None
    return 0


def init_checkpoint(argv: Sequence[str]) -> int:
    """`seer init-checkpoint`: the random-init baseline a sweep compares against."""
    from seer_plugins.apps.sweep.init_checkpoint import write_init_checkpoint

    parser = argparse.ArgumentParser(
        prog="seer init-checkpoint",
        description="Write the model a config builds, before any training step, as a "
        "VISSL checkpoint (seeded by config.SEED_VALUE): the 'random init' row of a "
        "benchmark sweep.",
        epilog="example: seer init-checkpoint random_init.torch "
        "config=pretrain/demo_digits",
    )
    parser.add_argument("out", help="the .torch file to write")
    parser.add_argument(
        "overrides", nargs="+", help="config=NAME and overrides, as for seer train"
    )
    args = parser.parse_args(argv)
    path = write_init_checkpoint(args.overrides, args.out)
    print(f"wrote {path}: the model of {' '.join(args.overrides)}, untrained")
    return 0
