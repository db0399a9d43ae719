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
from seer_plugins.errors import ConfigError, command_parser
from seer_plugins.runs.run_folder import refuse_writing_into_a_run


def init_checkpoint(overrides: Sequence[str]) -> dict:
    """The checkpoint of the model `overrides` compose, seeded by
    `config.SEED_VALUE`, before any step."""
    config = compose(overrides)
    torch.manual_seed(config.SEED_VALUE)
    model = build_model(config.MODEL, config.OPTIMIZER)
    return {
        "phase_idx": 0,
        "iteration": 0,
        "train_phase_idx": 0,
        "iteration_num": 0,
        "type": "consolidated",
        "classy_state_dict": {"base_model": model.get_classy_state()},
    }


def write_init_checkpoint(
    overrides: Sequence[str], path: str | os.PathLike, content: dict | None = None
) -> Path:
    """Build the model `overrides` compose (seeded by `config.SEED_VALUE`) and save it.

    Args:
        overrides: e.g. a pretraining config, `["config=pretrain/seer_tiny"]`.
        path: the `.torch` file to write.
        content: the checkpoint, when already built (:func:`init_checkpoint`).

    Returns:
        `path`, as a Path.
    """
    content = content if content is not None else init_checkpoint(overrides)
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
    # Before the work: a folder that can be written. Whether an existing file may
    # be replaced is known after: the same untrained model again is fine.
    out = checked_output(args.out, force=True, key="OUT")
    refuse_writing_into_a_run(args.out, "OUT")
    existed, content = out.exists(), init_checkpoint(args.overrides)
    if existed and _same_weights(out, content):
        print(f"{args.out}: unchanged (the same untrained model)")
        return 0
    if existed and not args.force:
        via = f" (a link to {out})" if Path(args.out).is_symlink() else ""
        raise ConfigError(
            "OUT",
            args.out,
            f"exists{via}, holding other weights",
            "add --force to replace it, or give another path",
        )
    path = write_init_checkpoint(args.overrides, out, content)
    print(f"wrote {path}: the model of {' '.join(args.overrides)}, untrained")
    return 0


def _same_weights(path: Path, content: dict) -> bool:
    """`path` holds `content`'s model, tensor for tensor."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = saved["classy_state_dict"]["base_model"]["model"]
    except Exception:  # not a checkpoint of this layout: other weights
        return False
    new = content["classy_state_dict"]["base_model"]["model"]
    return all(
        model.get(part, {}).keys() == new[part].keys()
        and all(torch.equal(model[part][k], v) for k, v in new[part].items())
        for part in new
    )
