"""`seer split`, whose logic is :mod:`seer_plugins.data.low_shot_split`, as a command:
it takes the command's arguments and returns an exit status; a refused input raises
:class:`~seer_plugins.errors.ConfigError` (`seer_plugins.cli` prints it as one
line, exit status 2). The other commands live in their own modules
(:data:`seer_plugins.cli.COMMANDS`)."""

from collections.abc import Sequence
from pathlib import Path

from seer_plugins.checkpoints.output_paths import checked_output
from seer_plugins.data.file_lists import is_text_list
from seer_plugins.data.low_shot_split import (
    LabelledImage,
    make_split_report,
    split_name,
    split_text,
    write_split_file,
)
from seer_plugins.errors import ConfigError, OneLineArgumentParser


def split(argv: Sequence[str]) -> int:
    """`seer split`: a class-balanced, seeded low-shot split file."""
    main(argv)
    return 0


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="seer split",
        description="Write a class-balanced, seeded low-shot split file "
        "(SimCLR format: one image file name per line).",
    )
    parser.add_argument(
        "source",
        help="image folder (one subfolder per class) or file list: .txt "
        "(`path<TAB>label`, or `path` under a class-named folder, one per line) or "
        ".csv (`path,label`)",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--fraction",
        type=float,
        help="share of all images, spread evenly over classes (0.01 = SimCLR's 1%%)",
    )
    size.add_argument("--per-class", type=int, help="images per class")
    parser.add_argument("--seed", type=int, default=0, help="picks the subset")
    parser.add_argument(
        "--out", help="split file to write (default: <name>_seed<seed>.txt here)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace --out if it exists"
    )
    return parser


def _validated(args) -> None:
    if args.fraction is not None and not 0 < args.fraction <= 1:
        raise ConfigError(
            "--fraction", args.fraction, "is not in (0, 1]", "e.g. 0.01 for SimCLR's 1%"
        )
    if args.per_class is not None and args.per_class < 1:
        raise ConfigError("--per-class", args.per_class, "is not >= 1", "e.g. 13")
    source = Path(args.source)
    if not source.exists():
        raise ConfigError(
            "source",
            args.source,
            "does not exist",
            "give an image folder (one subfolder per class) or a file list",
        )
    if source.is_file() and not is_text_list(source):
        raise ConfigError(
            "source",
            args.source,
            "is neither a folder nor a .txt/.csv file list",
            "give an image folder (one subfolder per class) or a file list",
        )


def main(argv: Sequence[str] | None = None) -> list[LabelledImage]:
    """`seer split`: writes the split file and prints what it wrote and why.

    Raises:
        ConfigError: a bad argument or source (`seer split` prints it as one line
            and exits with status 2); argparse's own errors exit the same way.
    """
    args = build_parser().parse_args(argv)
    _validated(args)
    name = split_name(fraction=args.fraction, per_class=args.per_class)
    out = args.out or f"{name}_seed{args.seed}.txt"
    # Before the work: not an input, a folder that can be written. Whether an
    # existing file may be replaced is known after: the same split again is fine.
    target = checked_output(out, [args.source], force=True, key="--out")
    existed = target.exists()
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
    kept = report.kept
    if existed and target.read_text() == split_text(kept):
        print(f"{out}: unchanged (the same split)")
    elif existed and not args.force:
        raise ConfigError(
            "--out",
            out,
            "exists, holding another split",
            "add --force to replace it, or give another --out",
        )
    else:
        write_split_file(kept, target)
    share = len(kept) / report.total
    print(
        f"{out}: {len(kept)} images of {report.classes} classes from {args.source} "
        f"({share:.2%} of its {report.total} images)"
    )
    for note in report.notes:
        print(f"note: {note}")
    if report.unreadable:
        print(
            f"note: {len(report.unreadable)} files named like images are not images "
            f"and were left out (e.g. {[im.entry for im in report.unreadable[:3]]})"
        )
    return kept
