"""`seer split`, whose logic is :mod:`seer_plugins.data.low_shot_split`, as a command:
it takes the command's arguments and returns an exit status; a refused input raises
:class:`~seer_plugins.errors.ConfigError` (`seer_plugins.cli` prints it as one
line, exit status 2). The other commands live in their own modules
(:data:`seer_plugins.cli.COMMANDS`)."""

import os
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.checkpoints.output_paths import checked_output
from seer_plugins.config.defaults import plugin_default
from seer_plugins.config.shard_paths import names_shards
from seer_plugins.data.file_lists import is_text_list
from seer_plugins.data.low_shot_split import (
    LabelledImage,
    SplitReport,
    explain_selection,
    make_split_report,
    read_split_file,
    select_low_shot,
    split_name,
    split_text,
    write_split_file,
)
from seer_plugins.data.shard_lists import (
    INDEX_NAME,
    default_index_path,
    expand_shards,
    read_index,
)
from seer_plugins.data.shard_split import (
    labelled_listing,
    list_shard_samples,
    pack_subset,
    packed_keys,
    picking_order,
    samples_named,
    split_entries,
)
from seer_plugins.errors import ConfigError, OneLineArgumentParser

# What a sample's label and image are, as training reads them by default.
_SHARD_SETTINGS = "DATA.TRAIN.SEER_SHARDS"
_SOURCES = (
    "give an image folder (one subfolder per class), a file list, or tar shards "
    "(a folder of .tar, a quoted brace pattern, a shard list)"
)


def split(argv: Sequence[str]) -> int:
    """`seer split`: a class-balanced, seeded low-shot split file."""
    main(argv)
    return 0


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="seer split",
        description="Write a class-balanced, seeded low-shot split file "
        "(SimCLR format: one image file name per line). Of labelled tar shards: "
        "one sample key per line, and with --shards DIR the picked samples packed "
        "as shards to train on.",
    )
    parser.add_argument(
        "source",
        help="image folder (one subfolder per class) or file list: .txt "
        "(`path<TAB>label`, or `path` under a class-named folder, one per line) or "
        ".csv (`path,label`); or labelled tar shards: a folder of .tar, a quoted "
        "brace pattern or a shard list, with their shards_index.json",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--fraction",
        type=float,
        help="share of all images, spread evenly over classes (0.01 = SimCLR's 1%%)",
    )
    size.add_argument("--per-class", type=int, help="images per class")
    size.add_argument(
        "--from",
        dest="from_file",
        help="shards only: the samples a split file names (keys, or the image "
        "files seer shards packed, as SimCLR's 1percent.txt names ImageNet's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="picks the subset")
    parser.add_argument(
        "--out", help="split file to write (default: <name>_seed<seed>.txt here)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace --out if it exists"
    )
    shards = parser.add_argument_group("tar shards")
    shards.add_argument(
        "--shards",
        metavar="DIR",
        help="pack the split's samples into shards in this new folder (with their "
        "index): the DATA_PATHS to fine-tune on",
    )
    shards.add_argument(
        "--label-key",
        default=plugin_default(f"{_SHARD_SETTINGS}.LABEL_KEY"),
        help="json field holding the label (default: the .cls member)",
    )
    shards.add_argument(
        "--index", help="the shards' index (default: shards_index.json beside them)"
    )
    shards.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes"
    )
    return parser


def _validated(args) -> None:
    if args.fraction is not None and not 0 < args.fraction <= 1:
        raise ConfigError(
            "--fraction", args.fraction, "is not in (0, 1]", "e.g. 0.01 for SimCLR's 1%"
        )
    if args.per_class is not None and args.per_class < 1:
        raise ConfigError("--per-class", args.per_class, "is not >= 1", "e.g. 13")
    if args.workers < 1:
        raise ConfigError("--workers", args.workers, "is not >= 1", "e.g. 2")
    if names_shards(args.source):
        if args.from_file and not args.shards:
            raise ConfigError(
                "--shards",
                "",
                "is needed with --from (the split file exists: what is left to do "
                "is packing its samples)",
                "name a new folder for them: --shards DIR",
            )
        if args.from_file and not os.path.isfile(args.from_file):
            raise ConfigError("--from", args.from_file, "does not exist")
        if args.shards:
            _check_split_shards_folder(args.source, args.shards)
        return
    for option, value in (
        ("--from", args.from_file),
        ("--shards", args.shards),
        ("--label-key", args.label_key),
        ("--index", args.index),
    ):
        if value:
            raise ConfigError(
                option,
                value,
                "is for tar shards, and the source is not shards",
                "an image folder takes a split file as "
                "config.DATA.<split>.LOW_SHOT_SPLIT_FILE",
            )
    source = Path(args.source)
    if not source.exists():
        raise ConfigError("source", args.source, "does not exist", _SOURCES)
    if source.is_file() and not is_text_list(source):
        raise ConfigError(
            "source",
            args.source,
            "is neither a folder nor a .txt/.csv file list",
            _SOURCES,
        )


def _check_split_shards_folder(source: str, folder: str) -> None:
    """--shards: outside the source, and new or a split's earlier shards (the same
    command again finds its own, :func:`_pack_split`)."""
    target = Path(folder).resolve()
    if Path(source).is_dir() and Path(source).resolve() in (target, *target.parents):
        raise ConfigError(
            "--shards",
            folder,
            f"is inside the source {source}: its shards would become part of it",
            "give a folder outside it",
        )
    if (
        target.is_dir()
        and any(target.iterdir())
        and not (target / INDEX_NAME).is_file()
    ):
        raise ConfigError(
            "--shards",
            folder,
            "is a folder that is not empty (and holds no split's shards)",
            "give a new folder",
        )


def main(argv: Sequence[str] | None = None) -> list[LabelledImage]:
    """`seer split`: writes the split file and prints what it wrote and why.

    Raises:
        ConfigError: a bad argument or source (`seer split` prints it as one line
            and exits with status 2); argparse's own errors exit the same way.
    """
    args = build_parser().parse_args(argv)
    _validated(args)
    if names_shards(args.source):
        return _shard_split(args)
    out, target = _split_output(args)
    try:
        report = make_split_report(
            args.source,
            None,
            fraction=args.fraction,
            per_class=args.per_class,
            seed=args.seed,
        )
    except UnicodeDecodeError:
        raise ConfigError(
            "source", args.source, "is not a text file list", "a .txt or .csv list"
        ) from None
    except (ValueError, FileNotFoundError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError("source", args.source, str(error)) from None
    _write_split(report, out, target, args)
    if report.unreadable:
        print(
            f"note: {len(report.unreadable)} files named like images are not images "
            f"and were left out (e.g. {[im.entry for im in report.unreadable[:3]]})"
        )
    return report.kept


def _split_output(args) -> tuple[str, Path]:
    """`--out` (or its default name) and the file it is: before the work, not an
    input and in a folder that can be written. Whether an existing file may be
    replaced is known after: the same split again is fine."""
    name = split_name(fraction=args.fraction, per_class=args.per_class)
    out = args.out or f"{name}_seed{args.seed}.txt"
    return out, checked_output(out, [args.source], force=True, key="--out")


def _write_split(report: SplitReport, out: str, target: Path, args) -> None:
    """Write the split file (unless it holds this split already) and say what it
    holds and why."""
    kept = report.kept
    if target.exists() and target.read_text() == split_text(kept):
        print(f"{out}: unchanged (the same split)")
    elif target.exists() and not args.force:
        raise ConfigError(
            "--out",
            out,
            "exists, holding another split",
            "add --force to replace it, or give another --out",
        )
    else:
        write_split_file(kept, target)
    share = len(kept) / report.total
    noun = "samples" if names_shards(args.source) else "images"
    print(
        f"{out}: {len(kept)} {noun} of {report.classes} classes from {args.source} "
        f"({share:.2%} of its {report.total} {noun})"
    )
    for note in report.notes:
        print(f"note: {note}")


def _shard_split(args) -> list[LabelledImage]:
    """`seer split` of labelled tar shards: the split file names sample keys; with
    --shards, the picked samples are packed as shards of their own."""
    shards = expand_shards(args.source, "source")
    index_path = args.index or default_index_path(args.source)
    if not index_path:
        raise ConfigError(
            "--index",
            "",
            "is needed for shards behind a pipe: command or a URL",
            "name the file seer shards index wrote",
        )
    index = read_index(index_path, "--index")
    if not args.from_file:
        out, target = _split_output(args)
    listing = list_shard_samples(
        shards,
        index,
        label_key=args.label_key,
        image_keys=plugin_default(f"{_SHARD_SETTINGS}.IMAGE_KEYS"),
        workers=args.workers,
    )
    entries = split_entries(listing, shards)
    if args.from_file:
        picked = samples_named(
            listing, shards, read_split_file(args.from_file), args.from_file
        )
        kept = [LabelledImage(entries[p], str(listing[p].label)) for p in picked]
        print(
            f"{args.from_file}: {len(picked)} of the {len(listing)} samples of "
            f"{args.source}"
        )
    else:
        readable, unreadable = labelled_listing(listing, shards, index.classes)
        kept = select_low_shot(
            readable,
            fraction=args.fraction,
            per_class=args.per_class,
            seed=args.seed,
            order=picking_order,
        )
        notes = explain_selection(readable, kept, args.fraction, args.per_class)
        classes = len({image.label for image in readable})
        _write_split(
            SplitReport(kept, len(readable), classes, unreadable, notes),
            out,
            target,
            args,
        )
        if unreadable:
            print(
                f"note: {len(unreadable)} samples have no image that reads and were "
                f"left out (e.g. {[im.entry for im in unreadable[:3]]})"
            )
        position_of = {entry: p for p, entry in enumerate(entries)}
        picked = sorted(position_of[image.entry] for image in kept)
    if args.shards:
        _pack_split(listing, picked, shards, index.classes, args)
    else:
        print(
            "note: to train on the split, pack its samples: the same command with "
            "--shards DIR (or --from the split file --shards DIR)"
        )
    return kept


def _pack_split(listing, picked: list[int], shards: list[str], classes, args) -> None:
    """Pack the picked samples into --shards, unless it holds exactly them already
    (the same command run again); a folder holding another split is refused."""
    folder = Path(args.shards)
    if folder.is_dir() and any(folder.iterdir()):
        held = packed_keys(str(folder))
        if held == {listing[p].key for p in picked}:
            print(f"{args.shards}: unchanged (the split's {len(held)} samples)")
            return
        raise ConfigError(
            "--shards",
            args.shards,
            f"holds another split's shards ({len(held)} samples)",
            "give a new folder, or remove it",
        )
    packed = pack_subset(
        listing, picked, shards, args.shards, classes, workers=args.workers
    )
    print(
        f"{args.shards}: {sum(packed.counts)} samples in {len(packed.shards)} "
        f"shards, index {packed.path}; train on them with "
        f"config.DATA.TRAIN.DATA_PATHS=[{args.shards}]"
    )
