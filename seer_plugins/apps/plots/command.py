"""`seer plot DIR`: draw what DIR holds.

seer plot /runs/pretrain      # a training run: DIR/training.png
seer plot /runs/low_shot      # a sweep (results.csv): DIR/results.png again
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from seer_plugins.apps.plots import training
from seer_plugins.apps.sweep import figure
from seer_plugins.errors import ConfigError, OneLineArgumentParser


def _sweep_title(folder: Path) -> str:
    md = folder / "results.md"
    first = md.read_text().splitlines()[0] if md.is_file() else ""
    return first.removeprefix("# ").strip() or folder.name


def plot(folder: str, out: str | None = None) -> Path:
    """The plot for `folder`: a sweep's results.png or a run's training.png."""
    path = Path(folder)
    if (path / "results.csv").is_file():
        rows = figure.rows_from_csv(path / "results.csv")
        written = figure.plot_results(rows, path, _sweep_title(path))
        if written is None:
            raise ConfigError(
                "DIR", folder, "the sweep has no finished run yet", "run it first"
            )
        if out:
            written = written.replace(out)
        return written
    if (path / training.STDOUT_JSON).is_file():
        return training.plot_training(path, out)
    raise ConfigError(
        "DIR",
        folder,
        "holds neither stdout.json (a training run) nor results.csv (a sweep)",
        "give a run's config.CHECKPOINT.DIR or a sweep's --out folder",
    )


def build_parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="seer plot",
        description="Plot a training run's loss (ln K, the SwAV collapse level, "
        "marked), learning rate and img/s from its own logs, or redraw a sweep's "
        "top-1 per label subset and checkpoint.",
        epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", metavar="DIR", help="a run's or a sweep's folder")
    parser.add_argument("--out", help="image to write (default: in DIR)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"wrote {plot(args.dir, args.out)}")
    return 0
