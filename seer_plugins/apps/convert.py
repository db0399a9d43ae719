"""`seer convert`: RegNetY weights between VISSL/SEER checkpoints and timm's layout.

The input's format is detected (:mod:`seer_plugins.checkpoints.formats`), its keys
mapped (:mod:`seer_plugins.checkpoints.convert`), and what the weights are is
printed (:mod:`seer_plugins.checkpoints.convert_report`): the seer_regnet preset,
timm model and `RegNetCfg` the trunk matches, the heads kept or dropped.

A sharded checkpoint (:mod:`seer_plugins.checkpoints.sharded`: VISSL's small `.torch`
file pointing at a folder of shards, or the folder itself) is consolidated first, in
this one process: `--to vissl` writes the whole model, trunk and heads, in the
layout of a VISSL checkpoint (as VISSL's unsharded runs write it and the published
SEER checkpoints are), `--to timm` the trunk.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from seer_plugins.checkpoints import convert_report as report
from seer_plugins.checkpoints.atomic import atomic_file
from seer_plugins.checkpoints.convert import (
    consolidated_checkpoint,
    convert,
    timm_to_vissl_trunk,
    vissl_trunk_state_dict,
)
from seer_plugins.checkpoints.formats import (
    ConversionError,
    detect_format,
    load_checkpoint,
    unwrap_state_dict,
)
from seer_plugins.checkpoints.output_paths import checked_output
from seer_plugins.checkpoints.sharded import read_model_state, shard_folder
from seer_plugins.errors import ConfigError, command_parser
from seer_plugins.runs.run_folder import refuse_writing_into_a_run


def convert_file(
    input_path: str,
    output_path: str,
    to: str,
    trust_pickle: bool = False,
    keep_head: bool = False,
) -> str:
    """Load `input_path`, convert, save to `output_path`; returns the source format
    ('vissl', 'timm', 'torchvision' or 'sharded').

    Prints what it did: the architecture the trunk matches (seer_regnet preset, timm
    model, `RegNetCfg`) and the heads dropped, or, with `keep_head`, kept (VISSL's
    heads, e.g. SwAV's projection, which fine-tuning loads; in a timm file they are
    `vissl_heads.*` keys, see :mod:`seer_plugins.checkpoints.convert_report`). A sharded
    checkpoint consolidated `--to vissl` keeps its heads: it is the whole model, as
    an unsharded run would have written it.
    """
    checkpoint = None
    if not os.path.isdir(input_path):
        checkpoint = load_checkpoint(input_path, trust_pickle)
    folder = shard_folder(input_path, checkpoint)
    if folder is not None:
        source = "sharded"
        checkpoint = consolidated_checkpoint(read_model_state(folder))
        keep_head = keep_head or to == "vissl"
    else:
        source = detect_format(checkpoint)
    if source == "timm":
        state_dict, heads = report.split_kept_heads(unwrap_state_dict(checkpoint))
        classifier = report.describe_timm_classifier(state_dict)
        checkpoint = state_dict
    else:
        heads, classifier = report.vissl_heads(checkpoint), None
    converted = convert(checkpoint, to)
    trunk = (
        timm_to_vissl_trunk(converted)
        if to == "timm"
        else vissl_trunk_state_dict(converted)
    )
    if keep_head and heads:
        if to == "timm":
            converted.update({report.HEAD_PREFIX + k: v for k, v in heads.items()})
        else:
            converted["classy_state_dict"]["base_model"]["model"]["heads"] = heads
    with atomic_file(output_path) as f:
        torch.save(converted, f)
    print(f"converted {input_path} ({source}) -> {output_path} ({to})")
    for line in report.describe_trunk(trunk):
        print(f"  {line}")
    for line in (classifier, report.describe_heads(heads, keep_head, to)):
        if line:
            print(f"  {line}")
    return source


def main(argv: Sequence[str]) -> int:
    """`seer convert`: RegNetY weights between VISSL/SEER and timm."""
    parser = command_parser(
        "convert",
        "Convert RegNetY trunk weights between VISSL/SEER checkpoints and timm's "
        "layout (the input format is detected); prints the seer_regnet preset, timm "
        "model and RegNetCfg the weights match, and what was dropped.",
        "model_final_checkpoint_phase0.torch seer_timm.pth --to timm --keep-head",
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
        "--force", action="store_true", help="replace OUTPUT if it exists"
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
    output = checked_output(args.output, [args.input], args.force)
    refuse_writing_into_a_run(args.output, "OUTPUT")
    if Path(args.input).is_dir() and not (Path(args.input) / ".metadata").is_file():
        raise ConfigError(
            "INPUT",
            args.input,
            "is a folder without a sharded checkpoint's .metadata",
            "give a checkpoint file, or a folder of shards (sharded/<name>/ of a run)",
        )
    try:
        convert_file(args.input, output, args.to, args.trust_pickle, args.keep_head)
    except ConversionError as error:
        raise ConfigError(
            "INPUT",
            args.input,
            str(error),
            "a VISSL/SEER checkpoint, a timm or torchvision RegNetY state dict, or a "
            "sharded checkpoint",
        ) from None
    return 0
