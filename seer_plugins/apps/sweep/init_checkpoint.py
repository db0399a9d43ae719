"""`seer init-checkpoint`: a VISSL checkpoint of a config's model before any training
step (seeded by config.SEED_VALUE): the 'random init' row of a benchmark sweep.

Benchmark tables usually carry a "random init" row; this writes it in exactly the
layout VISSL's checkpoint hook writes (`classy_state_dict -> base_model -> model ->
trunk/heads`), so the benchmark configs load it like any pretraining checkpoint.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from vissl.models import build_model

from seer_plugins.checkpoints.atomic import atomic_file
from seer_plugins.checkpoints.output_paths import checked_output
from seer_plugins.config.compose import compose
from seer_plugins.errors import command_parser


def write_init_checkpoint(overrides: Sequence[str], path: str | os.PathLike) -> Path:
    """Build the model `overrides` compose (seeded by `config.SEED_VALUE`) and save it.

    Args:
        overrides: e.g. a pretraining config, `["config=pretrain/seer_tiny"]`.
        path: the `.torch` file to write.

    Returns:
        `path`, as a Path.
    """
    config = compose(overrides)
    torch.manual_seed(config.SEED_VALUE)
    model = build_model(config.MODEL, config.OPTIMIZER)
    content = {
        "phase_idx": 0,
        "iteration": 0,
        "train_phase_idx": 0,
        "iteration_num": 0,
        "type": "consolidated",
        "classy_state_dict": {"base_model": model.get_classy_state()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save(content, f)
    return path


def main(argv: Sequence[str]) -> int:
    """`seer init-checkpoint OUT config=NAME [OVERRIDE ...]`."""
    parser = command_parser(
        "init-checkpoint",
        __doc__.split("\n\n")[0],
        "random_init.torch config=pretrain/demo_digits",
    )
    parser.add_argument("out", help="the .torch file to write")
    parser.add_argument(
        "overrides", nargs="+", help="config=NAME and overrides, as for seer train"
    )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    out = checked_output(args.out, force=args.force, key="OUT")
    path = write_init_checkpoint(args.overrides, out)
    print(f"wrote {path}: the model of {' '.join(args.overrides)}, untrained")
    return 0
